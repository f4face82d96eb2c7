//! Where tiles live: a Kaggle zip read in place, or a folder; and the labels CSV.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) const TILE_EXTS: [&str; 5] = ["tif", "tiff", "png", "jpg", "jpeg"];

/// A shareable file handle for `ZipArchive`: positional reads, so clones (one per loader
/// worker) share the parsed central directory and never fight over a file cursor.
#[derive(Clone, Debug)]
pub(crate) struct PFile {
    file: Arc<File>,
    pos: u64,
    len: u64,
}

impl PFile {
    pub fn open(path: &Path) -> Result<PFile> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let len = file.metadata()?.len();
        Ok(PFile {
            file: Arc::new(file),
            pos: 0,
            len,
        })
    }
}

impl Read for PFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.pos)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(&*self.file, buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for PFile {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let p = match to {
            SeekFrom::Start(p) => p as i128,
            SeekFrom::End(d) => self.len as i128 + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if p < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before start",
            ));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

pub(crate) type Zip = zip::ZipArchive<PFile>;

/// Opens a zip with a message that says what is wrong (missing, not a zip, empty).
pub(crate) fn open_zip(path: &Path) -> Result<Zip> {
    let f = PFile::open(path)?;
    let z = zip::ZipArchive::new(f)
        .with_context(|| format!("{} is not a readable zip archive", path.display()))?;
    if z.is_empty() {
        bail!("{} is an empty zip archive", path.display());
    }
    Ok(z)
}

/// Tile id and extension from a file name like `abc.tif`, if it looks like a tile.
pub(crate) fn tile_name(file_name: &str) -> Option<&str> {
    let (stem, ext) = file_name.rsplit_once('.')?;
    (!stem.is_empty() && TILE_EXTS.iter().any(|e| e.eq_ignore_ascii_case(ext))).then_some(stem)
}

/// Where the raw bytes of each tile are: zip members or files, from one source or several.
#[derive(Debug)]
pub(crate) struct Location {
    /// Every zip the tiles come from, with its path (cloned per reader).
    zips: Vec<(PathBuf, Zip)>,
    tiles: Vec<At>,
}

/// One tile's bytes: a member of `zips[zip]`, or a file.
#[derive(Debug, Clone)]
enum At {
    Member { zip: usize, index: usize },
    File(PathBuf),
}

impl Location {
    fn zip(path: &Path, zip: Zip, members: Vec<usize>) -> Location {
        Location {
            zips: vec![(path.to_path_buf(), zip)],
            tiles: members
                .into_iter()
                .map(|index| At::Member { zip: 0, index })
                .collect(),
        }
    }

    fn files(files: Vec<PathBuf>) -> Location {
        Location {
            zips: Vec::new(),
            tiles: files.into_iter().map(At::File).collect(),
        }
    }

    /// Human name of tile `i`'s file or member (for error messages).
    pub fn name(&self, i: usize) -> String {
        match &self.tiles[i] {
            At::Member { zip, index } => {
                let (path, z) = &self.zips[*zip];
                format!(
                    "{}:{}",
                    path.display(),
                    z.name_for_index(*index).unwrap_or("?")
                )
            }
            At::File(f) => f.display().to_string(),
        }
    }

    /// Keeps only tiles `keep` (in that order).
    pub fn select(self, keep: &[usize]) -> Location {
        Location {
            tiles: keep.iter().map(|&i| self.tiles[i].clone()).collect(),
            zips: self.zips,
        }
    }

    /// The tiles of `self`, then those of `other` (several sources as one).
    pub fn append(mut self, other: Location) -> Location {
        let base = self.zips.len();
        self.zips.extend(other.zips);
        self.tiles.extend(other.tiles.into_iter().map(|t| match t {
            At::Member { zip, index } => At::Member {
                zip: zip + base,
                index,
            },
            file => file,
        }));
        self
    }
}

/// A per-thread raw reader (its own zip handles).
pub(crate) struct RawReader<'a> {
    loc: &'a Location,
    zips: Vec<Zip>,
}

impl<'a> RawReader<'a> {
    pub fn new(loc: &'a Location) -> Self {
        let zips = loc.zips.iter().map(|(_, z)| z.clone()).collect();
        RawReader { loc, zips }
    }

    /// Reads tile `i`'s raw bytes into `buf` (cleared first).
    pub fn read(&mut self, i: usize, buf: &mut Vec<u8>) -> Result<()> {
        buf.clear();
        match &self.loc.tiles[i] {
            At::Member { zip, index } => {
                let mut f = self.zips[*zip]
                    .by_index(*index)
                    .with_context(|| format!("cannot read zip member {}", self.loc.name(i)))?;
                buf.reserve(f.size() as usize);
                f.read_to_end(buf)
                    .with_context(|| format!("cannot read zip member {}", self.loc.name(i)))?;
            }
            At::File(path) => {
                let mut f =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                f.read_to_end(buf)
                    .with_context(|| format!("cannot read {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// Tiles found in a listing: id -> index into `Location`.
pub(crate) struct Listing {
    pub ids: Vec<String>,
    pub loc: Location,
    /// Where the labels CSV is, when found next to the tiles.
    pub labels: Option<LabelsAt>,
    /// `sample_submission.csv`, when found (unlabelled sets).
    pub submission: Option<LabelsAt>,
    /// Human description of the layout.
    pub layout: String,
}

/// A CSV inside a zip (member name) or on disk.
#[derive(Clone, Debug)]
pub(crate) enum LabelsAt {
    Member(String),
    File(PathBuf),
}

/// Lists the tiles of a zip under a directory called `dir` (`train` or `test`).
/// With no such directory, tiles at the root are used.
pub(crate) fn list_zip(path: &Path, dir: &str) -> Result<Listing> {
    let zip = open_zip(path)?;
    let mut in_dir = Vec::new();
    let mut at_root = Vec::new();
    let (mut labels, mut submission) = (None, None);
    for (k, name) in zip.file_names().enumerate().collect::<Vec<_>>().into_iter() {
        let (parent, file) = match name.rsplit_once('/') {
            Some((p, f)) => (p, f),
            None => ("", name),
        };
        if file == "train_labels.csv" || file == "train_labels.csv.zip" {
            labels = Some(LabelsAt::Member(name.to_string()));
        } else if file == "sample_submission.csv" {
            submission = Some(LabelsAt::Member(name.to_string()));
        } else if let Some(id) = tile_name(file) {
            let last = parent.rsplit('/').next().unwrap_or("");
            if last == dir {
                in_dir.push((id.to_string(), k));
            } else if parent.is_empty() {
                at_root.push((id.to_string(), k));
            }
        }
    }
    let (tiles, layout) = if !in_dir.is_empty() {
        (in_dir, format!("zip archive, {dir}/ members"))
    } else {
        (at_root, "zip archive, tiles at the root".to_string())
    };
    if tiles.is_empty() {
        bail!(
            "{} has no tiles: expected {dir}/<id>.tif members (or .png/.jpg)",
            path.display()
        );
    }
    let mut tiles = tiles;
    tiles.sort_by(|a, b| a.0.cmp(&b.0));
    let members = tiles.iter().map(|t| t.1).collect();
    Ok(Listing {
        ids: tiles.into_iter().map(|t| t.0).collect(),
        loc: Location::zip(path, open_zip(path)?, members),
        labels,
        submission,
        layout,
    })
}

/// Lists a folder: a Kaggle folder (`dir/` inside it) or a plain folder of tiles.
pub(crate) fn list_folder(path: &Path, dir: &str) -> Result<Listing> {
    let sub = path.join(dir);
    let (tiles_dir, layout) = if sub.is_dir() {
        (sub, format!("Kaggle folder, {dir}/"))
    } else {
        (path.to_path_buf(), "folder of tiles".to_string())
    };
    let mut tiles = Vec::new();
    for entry in std::fs::read_dir(&tiles_dir)
        .with_context(|| format!("cannot list {}", tiles_dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot list {}", tiles_dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = tile_name(name) {
            tiles.push((id.to_string(), entry.path()));
        }
    }
    if tiles.is_empty() {
        bail!(
            "{} has no tiles (.tif, .png or .jpg files)",
            tiles_dir.display()
        );
    }
    tiles.sort();
    let find = |names: &[&str]| {
        names
            .iter()
            .map(|n| path.join(n))
            .find(|p| p.is_file())
            .map(LabelsAt::File)
    };
    Ok(Listing {
        ids: tiles.iter().map(|t| t.0.clone()).collect(),
        loc: Location::files(tiles.into_iter().map(|t| t.1).collect()),
        labels: find(&["train_labels.csv", "train_labels.csv.zip"]),
        submission: find(&["sample_submission.csv"]),
        layout,
    })
}

/// Reads a CSV's bytes (from the source zip, a file, or a `.csv.zip` holding one CSV).
/// Returns the bytes and a display name for messages.
pub(crate) fn read_csv_bytes(at: &LabelsAt, zip_path: Option<&Path>) -> Result<(Vec<u8>, String)> {
    let (mut bytes, name) = match at {
        LabelsAt::Member(m) => {
            let zp = zip_path.expect("members only come from zip sources");
            let mut z = open_zip(zp)?;
            let mut f = z.by_name(m)?;
            let mut b = Vec::new();
            f.read_to_end(&mut b)
                .with_context(|| format!("cannot read {}:{m}", zp.display()))?;
            (b, format!("{}:{m}", zp.display()))
        }
        LabelsAt::File(p) => (
            std::fs::read(p).with_context(|| format!("cannot read labels file {}", p.display()))?,
            p.display().to_string(),
        ),
    };
    if name.ends_with(".zip") {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(&bytes))
            .with_context(|| format!("{name} is not a readable zip archive"))?;
        let k = (0..z.len())
            .find(|&k| z.name_for_index(k).is_some_and(|n| n.ends_with(".csv")))
            .with_context(|| format!("{name} holds no .csv file"))?;
        let mut f = z.by_index(k)?;
        let inner = format!("{name}:{}", f.name());
        let mut b = Vec::new();
        f.read_to_end(&mut b)
            .with_context(|| format!("cannot read {inner}"))?;
        drop(f);
        bytes = b;
        return Ok((bytes, inner));
    }
    Ok((bytes, name))
}

/// One CSV row: id, its value (label or None), its group, and the line it was on.
pub(crate) struct Row {
    pub id: String,
    pub label: Option<u8>,
    /// The value of the `data.split.group` column, when one is asked for.
    pub group: Option<String>,
    pub line: u64,
}

/// Parses `id,label[,...]` (labels 0/1) or, with `labels = false`, `id[,anything]` (a
/// submission). With `group`, that column must be in the header and hold a value on every row.
/// Rejects a bad header, bad labels, empty groups and duplicate ids, naming the file and line.
pub(crate) fn parse_csv(
    bytes: &[u8],
    name: &str,
    labels: bool,
    group: Option<&str>,
) -> Result<Vec<Row>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = rdr
        .headers()
        .with_context(|| format!("{name} line 1: cannot read the header"))?
        .clone();
    let cols: Vec<&str> = header
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}'))
        .collect();
    // Columns after `id,label` are allowed: a slide or patient column for `group`.
    let ok = if labels {
        cols.len() >= 2 && cols[..2] == ["id", "label"]
    } else {
        cols.first() == Some(&"id")
    };
    if !ok {
        let want = if labels { "id,label" } else { "id,..." };
        bail!(
            "{name} line 1: bad header \"{}\" (expected \"{want}\")",
            cols.join(",")
        );
    }
    let group_col = match group {
        Some(g) => Some(cols.iter().position(|c| *c == g).with_context(|| {
            format!(
                "{name} line 1: no column \"{g}\" for data.split.group (the columns are {})",
                cols.join(", ")
            )
        })?),
        None => None,
    };
    let mut rows = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("{name}: malformed CSV"))?;
        let line = rec.position().map_or(0, |p| p.line());
        let id = rec.get(0).unwrap_or("").to_string();
        if id.is_empty() {
            bail!("{name} line {line}: empty id");
        }
        let label = if labels {
            let v = rec.get(1).unwrap_or("");
            match v {
                "0" => Some(0),
                "1" => Some(1),
                _ => bail!("{name} line {line}: bad label \"{v}\" for id {id} (expected 0 or 1)"),
            }
        } else {
            None
        };
        let group = match (group_col, group) {
            (Some(k), Some(g)) => match rec.get(k) {
                Some(v) if !v.is_empty() => Some(v.to_string()),
                Some(_) => bail!(
                    "{name} line {line}: empty {g} for id {id} (column {})",
                    k + 1
                ),
                None => bail!(
                    "{name} line {line}: no {g} for id {id}: the row has {} fields, {g} is column {}",
                    rec.len(),
                    k + 1
                ),
            },
            _ => None,
        };
        if let Some(first) = seen.insert(id.clone(), line) {
            bail!("{name} line {line}: duplicate id {id} (first on line {first})");
        }
        rows.push(Row {
            id,
            label,
            group,
            line,
        });
    }
    if rows.is_empty() {
        bail!("{name} has a header but no rows");
    }
    Ok(rows)
}

/// Cheap content checksum (FNV-1a 64) for cache keys.
pub(crate) fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

pub(crate) const FNV_SEED: u64 = 0xcbf2_9ce4_8422_2325;
