//! The data engine: Kaggle tiles in, augmented normalised batches out.
//!
//! - [`Dataset`]: an opened source (Kaggle zip read in place, Kaggle folder, or a folder of
//!   tiles plus a labels CSV), optionally decoded once into a packed memory-mapped cache.
//! - [`Split`]: stratified, seeded train/valid/test split (or k-fold), saved with a run.
//! - [`loader`]: multi-threaded, bounded-prefetch, in-order batches of augmented f32 NCHW.
//! - [`inspect`] and [`bench`]: the `histoboard data inspect|bench` commands.

mod augment;
mod bench;
mod cache;
mod inspect;
mod loader;
mod source;
mod split;
mod tile;

pub use augment::{Augmenter, TilePlan};
pub use bench::{BenchOptions, BenchResult, bench, heavy_augment};
pub use inspect::{InspectOptions, inspect};
pub use loader::{Batch, Loader, LoaderOptions, loader};
pub use split::Split;
pub use tile::{SIDE, TILE_BYTES, decode_into};

use crate::experiment::{BadTilePolicy, DataConfig, Normalize};
use anyhow::{Context, Result, bail};
use source::{LabelsAt, Listing, Location, RawReader};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the bundled sample.
pub const BUNDLED_NAME: &str = "pcam-sample.zip";

/// Finds the bundled sample: `$HISTOBOARD_DATA` (the zip, or a folder holding it), then
/// `./data/pcam-sample.zip`, then `data/` beside the executable or any of its ancestors
/// (so `target/debug/histoboard` finds `repo/data`), then the source tree it was built from.
pub fn bundled_path() -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(env) = std::env::var_os("HISTOBOARD_DATA") {
        let p = PathBuf::from(env);
        let p = if p.is_dir() { p.join(BUNDLED_NAME) } else { p };
        if p.is_file() {
            return Ok(p);
        }
        tried.push(format!("{} (from $HISTOBOARD_DATA)", p.display()));
    }
    let mut candidates = vec![PathBuf::from("data").join(BUNDLED_NAME)];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(
            exe.ancestors()
                .skip(1)
                .map(|a| a.join("data").join(BUNDLED_NAME)),
        );
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(BUNDLED_NAME),
    );
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    bail!(
        "cannot find the bundled sample {BUNDLED_NAME}; set HISTOBOARD_DATA to its path. Looked in:\n  {}",
        tried.join("\n  ")
    )
}

/// Resolves a `source` string: `"bundled"` or a path that must exist.
pub fn resolve_source(source: &str) -> Result<PathBuf> {
    if source == "bundled" {
        return bundled_path();
    }
    if source.is_empty() {
        bail!("data.source is empty: give \"bundled\", a Kaggle zip or a folder");
    }
    let p = PathBuf::from(source);
    if !p.exists() {
        bail!("data source {} does not exist", p.display());
    }
    Ok(p)
}

/// What was found in a source, and what was left out and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataReport {
    /// The source path as opened.
    pub source: String,
    /// Layout found ("zip archive, train/ members", "Kaggle folder, train/", ...).
    pub layout: String,
    /// Labels CSV used (file or `zip:member`), if any.
    pub labels_file: Option<String>,
    /// Tiles in the data set (after skips and `limit`).
    pub tiles: usize,
    /// Tiles per label (0, 1); zeros for an unlabelled set.
    pub label_counts: [usize; 2],
    /// Tiles left out under `bad_tiles = "skip"`: (id, reason), in the order found.
    pub skipped: Vec<(String, String)>,
    /// Packed cache file, when used.
    pub cache: Option<PathBuf>,
    /// True when the cache was (re)built by this open.
    pub cache_built: bool,
}

/// Where decoded tiles come from.
enum Store {
    Packed(cache::Packed),
    Stream(Location),
}

/// An opened source: ids, labels and a way to read tile `i`.
pub struct Dataset {
    ids: Vec<String>,
    labels: Vec<u8>,
    labelled: bool,
    store: Store,
    policy: BadTilePolicy,
    report: Mutex<DataReport>,
    /// Tiles already reported as skipped while streaming (each is listed once).
    bad_seen: Mutex<HashSet<usize>>,
}

impl std::fmt::Debug for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataset")
            .field("tiles", &self.ids.len())
            .field("labelled", &self.labelled)
            .field("cached", &matches!(self.store, Store::Packed(_)))
            .finish()
    }
}

fn list_source(path: &Path, dir: &str) -> Result<Listing> {
    if path.is_dir() {
        source::list_folder(path, dir)
    } else {
        source::list_zip(path, dir)
    }
}

/// Matches CSV rows to tiles; problems become errors or skips per `policy`.
/// What to do about a bad tile in a labelled set (training, `eval`).
const LABELLED_HINT: &str = "fix the data, or skip bad tiles: data.bad_tiles = \"skip\" in the experiment, --bad-tiles skip for eval";
/// ... and in an unlabelled one: a submission has a row for every tile, so none can be skipped.
const UNLABELLED_HINT: &str =
    "a submission needs a prediction for every tile: fix the tile, or remove it and its row";

fn match_rows(
    rows: Vec<source::Row>,
    listing: &Listing,
    csv_name: &str,
    source: &Path,
    policy: BadTilePolicy,
    skipped: &mut Vec<(String, String)>,
    hint: &str,
) -> Result<Vec<(usize, Option<u8>)>> {
    let by_id: HashMap<&str, usize> = listing
        .ids
        .iter()
        .enumerate()
        .map(|(k, id)| (id.as_str(), k))
        .collect();
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut used = vec![false; listing.ids.len()];
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        match by_id.get(r.id.as_str()) {
            Some(&k) => {
                used[k] = true;
                out.push((k, r.label));
            }
            None => problems.push((
                r.id.clone(),
                format!(
                    "{csv_name} line {}: id {} has no tile in {}",
                    r.line,
                    r.id,
                    source.display()
                ),
            )),
        }
    }
    for (k, u) in used.iter().enumerate() {
        if !u {
            problems.push((
                listing.ids[k].clone(),
                format!("{}: tile has no row in {csv_name}", listing.loc.name(k)),
            ));
        }
    }
    if !problems.is_empty() {
        match policy {
            BadTilePolicy::Error => {
                let more = match problems.len() {
                    1 => String::new(),
                    n => format!(" (and {} more like it)", n - 1),
                };
                bail!("{}{more}; {hint}", problems[0].1);
            }
            BadTilePolicy::Skip => skipped.extend(problems),
        }
    }
    if out.is_empty() {
        bail!("no tile of {} has a label in {csv_name}", source.display());
    }
    Ok(out)
}

impl Dataset {
    /// Opens a labelled source per `cfg` (source, labels, limit, bad_tiles, cache).
    pub fn open(cfg: &DataConfig) -> Result<Dataset> {
        let path = resolve_source(&cfg.source)?;
        let listing = list_source(&path, "train")?;
        let labels_at = match &cfg.labels {
            Some(l) => {
                let p = PathBuf::from(l);
                if !p.is_file() {
                    bail!("labels file {} does not exist", p.display());
                }
                LabelsAt::File(p)
            }
            None => listing.labels.clone().with_context(|| {
                format!(
                    "{} has no train_labels.csv; set data.labels to the labels CSV",
                    path.display()
                )
            })?,
        };
        let zip_path = (!path.is_dir()).then_some(path.as_path());
        let (csv_bytes, csv_name) = source::read_csv_bytes(&labels_at, zip_path)?;
        let rows = source::parse_csv(&csv_bytes, &csv_name, true)?;
        let mut report = DataReport {
            source: path.display().to_string(),
            layout: listing.layout.clone(),
            labels_file: Some(csv_name.clone()),
            ..Default::default()
        };
        let matched = match_rows(
            rows,
            &listing,
            &csv_name,
            &path,
            cfg.bad_tiles,
            &mut report.skipped,
            LABELLED_HINT,
        )?;
        let mut labels: Vec<u8> = matched.iter().map(|m| m.1.unwrap_or(0)).collect();
        let mut order: Vec<usize> = matched.iter().map(|m| m.0).collect();
        if cfg.limit > 0 && cfg.limit < labels.len() {
            let keep = split::stratified_subset(&labels, cfg.limit, cfg.split.seed);
            order = keep.iter().map(|&k| order[k]).collect();
            labels = keep.iter().map(|&k| labels[k]).collect();
        }
        let ids: Vec<String> = order.iter().map(|&k| listing.ids[k].clone()).collect();
        let loc = listing.loc.select(&order);
        let mut ds = Dataset {
            ids,
            labels,
            labelled: true,
            store: Store::Stream(loc),
            policy: cfg.bad_tiles,
            report: Mutex::new(report),
            bad_seen: Mutex::new(HashSet::new()),
        };
        if cfg.cache {
            let key = cache::Key::new(&path, csv_bytes.as_slice(), cfg.limit, cfg.split.seed)?;
            ds = cache::open_or_build(ds, &path, Path::new(&cfg.cache_dir), key, cfg.workers)?;
        }
        ds.refresh_counts();
        Ok(ds)
    }

    /// Opens an unlabelled set for prediction: the `test/` tiles of a Kaggle zip or folder
    /// (or a plain folder of tiles), in `sample_submission.csv` order when there is one.
    /// Tiles are streamed; a bad tile is an error (every id needs a prediction).
    pub fn open_unlabelled(path: &Path) -> Result<Dataset> {
        let path = resolve_source(&path.to_string_lossy())?;
        let listing = list_source(&path, "test")?;
        let mut report = DataReport {
            source: path.display().to_string(),
            layout: listing.layout.clone(),
            ..Default::default()
        };
        let order: Vec<usize> = match &listing.submission {
            Some(at) => {
                let zip_path = (!path.is_dir()).then_some(path.as_path());
                let (bytes, name) = source::read_csv_bytes(at, zip_path)?;
                let rows = source::parse_csv(&bytes, &name, false)?;
                report.labels_file = Some(name.clone());
                let mut skipped = Vec::new();
                let m = match_rows(
                    rows,
                    &listing,
                    &name,
                    &path,
                    BadTilePolicy::Error,
                    &mut skipped,
                    UNLABELLED_HINT,
                )?;
                m.into_iter().map(|m| m.0).collect()
            }
            None => (0..listing.ids.len()).collect(),
        };
        let ids = order.iter().map(|&k| listing.ids[k].clone()).collect();
        let mut ds = Dataset {
            ids,
            labels: Vec::new(),
            labelled: false,
            store: Store::Stream(listing.loc.select(&order)),
            policy: BadTilePolicy::Error,
            report: Mutex::new(report),
            bad_seen: Mutex::new(HashSet::new()),
        };
        ds.refresh_counts();
        Ok(ds)
    }

    fn refresh_counts(&mut self) {
        let r = self.report.get_mut().unwrap_or_else(|e| e.into_inner());
        r.tiles = self.ids.len();
        r.label_counts = [0, 0];
        for &l in &self.labels {
            r.label_counts[l as usize & 1] += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Labels (0/1) of every tile; empty for an unlabelled set.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Label of tile `i`, `None` for an unlabelled set.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.get(i).copied()
    }

    pub fn is_labelled(&self) -> bool {
        self.labelled
    }

    /// True when tiles come from the packed cache.
    pub fn is_cached(&self) -> bool {
        matches!(self.store, Store::Packed(_))
    }

    /// Snapshot of the report (streamed sets add skipped tiles as they are decoded).
    pub fn report(&self) -> DataReport {
        self.report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Human name of tile `i`'s file or zip member.
    pub fn tile_name(&self, i: usize) -> String {
        match &self.store {
            Store::Stream(loc) => loc.name(i),
            Store::Packed(p) => format!("{} (tile {})", p.path.display(), self.ids[i]),
        }
    }

    /// A reader for one thread (streamed zips get their own handle).
    pub fn reader(&self) -> TileReader<'_> {
        TileReader {
            ds: self,
            raw: match &self.store {
                Store::Stream(loc) => Some(RawReader::new(loc)),
                Store::Packed(_) => None,
            },
            bytes: Vec::new(),
            px: vec![0; TILE_BYTES],
        }
    }

    /// Records a bad streamed tile per the policy: an error, or a skip listed once.
    fn bad_tile(&self, i: usize, reason: String) -> Result<()> {
        let name = self.tile_name(i);
        match self.policy {
            BadTilePolicy::Error => bail!(
                "bad tile {name}: {reason}; {}",
                if self.labels.is_empty() {
                    UNLABELLED_HINT
                } else {
                    LABELLED_HINT
                }
            ),
            BadTilePolicy::Skip => {
                let first = self
                    .bad_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(i);
                if first {
                    self.report
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .skipped
                        .push((self.ids[i].clone(), format!("{name}: {reason}")));
                }
                Ok(())
            }
        }
    }

    /// Mean and std per channel in 0..255 units over `indices` (evenly subsampled to at
    /// most 2,000 tiles: enough for stable statistics, cheap when streaming).
    pub fn channel_stats(&self, indices: &[usize]) -> Result<([f32; 3], [f32; 3])> {
        const MAX: usize = 2000;
        if indices.is_empty() {
            bail!("cannot measure channel statistics on no tiles");
        }
        let step = indices.len().div_ceil(MAX);
        let mut r = self.reader();
        let (mut sum, mut sq) = ([0f64; 3], [0f64; 3]);
        let mut n = 0u64;
        for &i in indices.iter().step_by(step) {
            let Some(px) = r.tile(i)? else { continue };
            let (mut s, mut q) = ([0u64; 3], [0u64; 3]);
            for p in px.chunks_exact(3) {
                for c in 0..3 {
                    let v = p[c] as u64;
                    s[c] += v;
                    q[c] += v * v;
                }
            }
            for c in 0..3 {
                sum[c] += s[c] as f64;
                sq[c] += q[c] as f64;
            }
            n += (SIDE * SIDE) as u64;
        }
        if n == 0 {
            bail!("every tile sampled for channel statistics was bad");
        }
        let mut mean = [0f32; 3];
        let mut std = [0f32; 3];
        for c in 0..3 {
            let m = sum[c] / n as f64;
            mean[c] = m as f32;
            std[c] = ((sq[c] / n as f64 - m * m).max(1e-6)).sqrt() as f32;
        }
        Ok((mean, std))
    }
}

/// Reads decoded tiles for one thread, reusing its buffers.
pub struct TileReader<'a> {
    ds: &'a Dataset,
    raw: Option<RawReader<'a>>,
    bytes: Vec<u8>,
    px: Vec<u8>,
}

impl TileReader<'_> {
    /// Tile `i` as 96x96 RGB (HWC). `Ok(None)`: a bad tile skipped under `bad_tiles = "skip"`.
    pub fn tile(&mut self, i: usize) -> Result<Option<&[u8]>> {
        if i >= self.ds.len() {
            bail!("tile index {i} out of range ({} tiles)", self.ds.len());
        }
        match (&self.ds.store, &mut self.raw) {
            (Store::Packed(p), _) => Ok(Some(p.tile(i))),
            (Store::Stream(_), Some(raw)) => {
                raw.read(i, &mut self.bytes)?;
                match tile::decode_into(&self.bytes, &mut self.px) {
                    Ok(()) => Ok(Some(&self.px)),
                    Err(reason) => {
                        self.ds.bad_tile(i, reason)?;
                        Ok(None)
                    }
                }
            }
            (Store::Stream(_), None) => unreachable!("stream readers carry a raw reader"),
        }
    }
}

/// Per-channel mean and std (0..255 units) for `cfg.normalize`: the loader computes
/// `(pixel - mean) / std`, so `Lite` is (127, 128) and `Unit` is (0, 255).
pub fn normalization(
    cfg: &DataConfig,
    ds: &Dataset,
    train: &[usize],
) -> Result<([f32; 3], [f32; 3])> {
    Ok(match cfg.normalize {
        Normalize::Dataset => ds.channel_stats(train)?,
        Normalize::Lite => ([127.0; 3], [128.0; 3]),
        Normalize::Unit => ([0.0; 3], [255.0; 3]),
    })
}

/// Side of the tiles the loader produces: `resize`, else `crop`, else 96.
pub fn output_side(cfg: &DataConfig) -> usize {
    if cfg.resize > 0 {
        cfg.resize as usize
    } else if cfg.crop > 0 {
        cfg.crop as usize
    } else {
        SIDE
    }
}

/// SplitMix64's step constant (the golden ratio in 64 bits).
pub const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a well-mixed 64-bit value from any state. The one home of
/// the mix the splits, augmentations, per-epoch seeds and test fixtures all use.
pub fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Small, fast, stable generator (SplitMix64): splits and augmentations must give the same
/// draws across versions of `rand`, so saved runs replay exactly.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(parts: &[u64]) -> Rng {
        let mut r = Rng(GOLDEN);
        for &p in parts {
            r.0 ^= p;
            r.next_u64();
        }
        r
    }
    /// A generator continuing from a raw state (no mixing of the seed first).
    pub fn from_state(state: u64) -> Rng {
        Rng(state)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        splitmix(self.0)
    }
    /// Uniform in [0, 1), with 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [-a, a].
    pub fn sym(&mut self, a: f32) -> f32 {
        (self.f32() * 2.0 - 1.0) * a
    }
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
    pub fn coin(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.f32().max(1e-7);
        let v = self.f32();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}
