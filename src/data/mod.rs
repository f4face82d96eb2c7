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
mod rng;
mod source;
mod split;
mod tile;

pub use augment::{Augmenter, TilePlan};
pub use bench::{BenchOptions, BenchResult, bench, heavy_augment};
pub use inspect::{InspectOptions, inspect};
pub use loader::{Batch, Loader, LoaderOptions, loader};
pub use rng::{GOLDEN, Rng, splitmix};
pub use split::Split;
pub use tile::{SIDE, TILE_BYTES, decode_into};

use crate::experiment::{BadTilePolicy, DataConfig, Normalize};
use anyhow::{Context, Result, bail};
use source::{LabelsAt, Listing, Location, RawReader};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name of the bundled sample (`source = "bundled"`).
pub const BUNDLED_NAME: &str = "pcam-sample.zip";
/// File name of the bundled extra training set (`source = "bundled-extra"`).
pub const BUNDLED_EXTRA_NAME: &str = "pcam-extra-train.zip";

/// Finds the bundled sample: see [`find_bundled`].
pub fn bundled_path() -> Result<PathBuf> {
    find_bundled(BUNDLED_NAME)
}

/// Finds a file shipped in the repository's `data/`: `$HISTOBOARD_DATA` (a folder holding
/// it, or a file beside it; for the sample, the zip itself), then `./data/`, then `data/`
/// beside the executable or any of its ancestors (so `target/debug/histoboard` finds
/// `repo/data`), then the source tree it was built from.
pub fn find_bundled(name: &str) -> Result<PathBuf> {
    let mut tried = Vec::new();
    if let Some(env) = std::env::var_os("HISTOBOARD_DATA") {
        let p = PathBuf::from(env);
        let p = if p.is_dir() {
            p.join(name)
        } else if name == BUNDLED_NAME {
            p
        } else {
            p.with_file_name(name)
        };
        if p.is_file() {
            return Ok(p);
        }
        tried.push(format!("{} (from $HISTOBOARD_DATA)", p.display()));
    }
    let mut candidates = vec![PathBuf::from("data").join(name)];
    if let Ok(exe) = std::env::current_exe() {
        candidates.extend(exe.ancestors().skip(1).map(|a| a.join("data").join(name)));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(name),
    );
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    bail!(
        "cannot find the bundled {name}; set HISTOBOARD_DATA to the folder holding it. Looked in:\n  {}",
        tried.join("\n  ")
    )
}

/// Resolves one source: `"bundled"`, `"bundled-extra"` or a path that must exist. `field`
/// names it in messages (`data.source[1]`, `--data`).
pub fn resolve_source(source: &str, field: &str) -> Result<PathBuf> {
    match source {
        "bundled" => return find_bundled(BUNDLED_NAME).with_context(|| field.to_string()),
        "bundled-extra" => {
            return find_bundled(BUNDLED_EXTRA_NAME).with_context(|| field.to_string());
        }
        "" => bail!("{field} is empty: give \"bundled\", a Kaggle zip or a folder"),
        _ => {}
    }
    let p = PathBuf::from(source);
    if !p.exists() {
        bail!("{field}: data source {} does not exist", p.display());
    }
    Ok(p)
}

/// One source of a data set, as found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceReport {
    /// The path as opened.
    pub path: String,
    /// Layout found ("zip archive, train/ members", "Kaggle folder, train/", ...).
    pub layout: String,
    /// Labels CSV used (file or `zip:member`), if any.
    pub labels_file: Option<String>,
    /// Tiles of this source in the data set (after skips and `limit`).
    pub tiles: usize,
    /// Its tiles per label (0, 1).
    pub label_counts: [usize; 2],
}

/// What was found in a data set's sources, and what was left out and why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataReport {
    /// Each source, in the order given.
    pub sources: Vec<SourceReport>,
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

impl DataReport {
    /// The sources' paths as one line: `a.zip + b/`.
    pub fn source_paths(&self) -> String {
        let paths: Vec<&str> = self.sources.iter().map(|s| s.path.as_str()).collect();
        paths.join(" + ")
    }
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
    /// Each tile's `data.split.group` value; empty when no group column is used.
    groups: Vec<String>,
    /// Each tile's source (index into `data.source`).
    origins: Vec<usize>,
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
) -> Result<Vec<(usize, source::Row)>> {
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
                out.push((k, r));
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
    /// Opens a labelled data set per `cfg` (sources, labels, limit, group, bad_tiles, cache).
    /// Several sources are one set: their tiles in the order given, ids unique across them.
    pub fn open(cfg: &DataConfig) -> Result<Dataset> {
        if cfg.source.0.is_empty() {
            bail!("data.source names no source: give \"bundled\", a Kaggle zip or a folder");
        }
        let group = (!cfg.split.group.is_empty()).then_some(cfg.split.group.as_str());
        let mut report = DataReport::default();
        let (mut ids, mut labels, mut groups, mut origins) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut loc: Option<Location> = None;
        let mut key_parts: Vec<(PathBuf, Vec<u8>)> = Vec::new();
        // Which source each id came from, to name both when one repeats.
        let mut first_in: HashMap<String, usize> = HashMap::new();
        for (s, src) in cfg.source.0.iter().enumerate() {
            let field = cfg.source.field(s);
            let path = resolve_source(src, &field)?;
            let listing = list_source(&path, "train").with_context(|| field.clone())?;
            let labels_at = match &cfg.labels {
                Some(l) => {
                    let p = PathBuf::from(l);
                    if !p.is_file() {
                        bail!("data.labels: labels file {} does not exist", p.display());
                    }
                    LabelsAt::File(p)
                }
                None => listing.labels.clone().with_context(|| {
                    format!(
                        "{field}: {} has no train_labels.csv; set data.labels to the labels CSV",
                        path.display()
                    )
                })?,
            };
            let zip_path = (!path.is_dir()).then_some(path.as_path());
            let (csv_bytes, csv_name) = source::read_csv_bytes(&labels_at, zip_path)?;
            let rows = source::parse_csv(&csv_bytes, &csv_name, true, group)?;
            let matched = match_rows(
                rows,
                &listing,
                &csv_name,
                &path,
                cfg.bad_tiles,
                &mut report.skipped,
                LABELLED_HINT,
            )?;
            let mut order = Vec::with_capacity(matched.len());
            for (k, row) in matched {
                if let Some(&t) = first_in.get(&row.id) {
                    bail!(
                        "{field} ({}): tile id {} is also in {} ({}); ids must be unique across \
                         sources: remove it from one of them",
                        path.display(),
                        row.id,
                        cfg.source.field(t),
                        report.sources[t].path
                    );
                }
                first_in.insert(row.id.clone(), s);
                order.push(k);
                labels.push(row.label.unwrap_or(0));
                groups.extend(row.group);
                origins.push(s);
                ids.push(listing.ids[k].clone());
            }
            report.sources.push(SourceReport {
                path: path.display().to_string(),
                layout: listing.layout.clone(),
                labels_file: Some(csv_name),
                ..Default::default()
            });
            let part = listing.loc.select(&order);
            loc = Some(match loc {
                Some(l) => l.append(part),
                None => part,
            });
            key_parts.push((path, csv_bytes));
        }
        let mut loc = loc.expect("at least one source");
        if cfg.limit > 0 && cfg.limit < labels.len() {
            let keep = split::stratified_subset(&labels, cfg.limit, cfg.split.seed);
            let pick = |v: &[String]| keep.iter().map(|&k| v[k].clone()).collect::<Vec<_>>();
            ids = pick(&ids);
            if !groups.is_empty() {
                groups = pick(&groups);
            }
            labels = keep.iter().map(|&k| labels[k]).collect();
            origins = keep.iter().map(|&k| origins[k]).collect();
            loc = loc.select(&keep);
        }
        let mut ds = Dataset {
            ids,
            labels,
            groups,
            origins,
            labelled: true,
            store: Store::Stream(loc),
            policy: cfg.bad_tiles,
            report: Mutex::new(report),
            bad_seen: Mutex::new(HashSet::new()),
        };
        if cfg.cache {
            let parts: Vec<(&Path, &[u8])> = key_parts
                .iter()
                .map(|(p, b)| (p.as_path(), b.as_slice()))
                .collect();
            let key = cache::Key::new(&parts, cfg.limit, cfg.split.seed)?;
            ds = ds.cached(Path::new(&cfg.cache_dir), key, cfg.workers)?;
        }
        ds.refresh_counts();
        Ok(ds)
    }

    /// Switches to the packed cache (built when missing or stale). The cache may leave out
    /// tiles that do not decode, so the per-tile groups and origins follow its ids.
    fn cached(self, cache_dir: &Path, key: cache::Key, workers: usize) -> Result<Dataset> {
        let before: HashMap<String, usize> = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let (groups, origins) = (self.groups.clone(), self.origins.clone());
        let mut ds = cache::open_or_build(self, cache_dir, key, workers)?;
        let at: Vec<usize> = ds
            .ids
            .iter()
            .map(|id| before.get(id).copied())
            .collect::<Option<_>>()
            .context("the tile cache holds ids the sources do not; delete it to rebuild")?;
        if !groups.is_empty() {
            ds.groups = at.iter().map(|&i| groups[i].clone()).collect();
        }
        ds.origins = at.iter().map(|&i| origins[i]).collect();
        Ok(ds)
    }

    /// Opens an unlabelled set for prediction: the `test/` tiles of a Kaggle zip or folder
    /// (or a plain folder of tiles), in `sample_submission.csv` order when there is one.
    /// Tiles are streamed; a bad tile is an error (every id needs a prediction).
    pub fn open_unlabelled(path: &Path) -> Result<Dataset> {
        let path = resolve_source(&path.to_string_lossy(), "--data")?;
        let listing = list_source(&path, "test")?;
        let mut report = DataReport {
            sources: vec![SourceReport {
                path: path.display().to_string(),
                layout: listing.layout.clone(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let order: Vec<usize> = match &listing.submission {
            Some(at) => {
                let zip_path = (!path.is_dir()).then_some(path.as_path());
                let (bytes, name) = source::read_csv_bytes(at, zip_path)?;
                let rows = source::parse_csv(&bytes, &name, false, None)?;
                report.sources[0].labels_file = Some(name.clone());
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
            groups: Vec::new(),
            origins: vec![0; order.len()],
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
        for s in &mut r.sources {
            (s.tiles, s.label_counts) = (0, [0, 0]);
        }
        for (i, &o) in self.origins.iter().enumerate() {
            if let Some(s) = r.sources.get_mut(o) {
                s.tiles += 1;
                if let Some(&l) = self.labels.get(i) {
                    s.label_counts[l as usize & 1] += 1;
                }
            }
        }
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

    /// Each tile id's index, for looking tiles up by id (a split file, a gallery's picks).
    pub fn index_by_id(&self) -> HashMap<&str, usize> {
        self.ids()
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect()
    }

    /// Labels (0/1) of every tile; empty for an unlabelled set.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Each tile's `data.split.group` value; `None` when the set has no group column.
    pub fn groups(&self) -> Option<&[String]> {
        (!self.groups.is_empty()).then_some(self.groups.as_slice())
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
