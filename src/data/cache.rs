//! The packed cache: every tile decoded once into one memory-mapped file of raw RGB.
//!
//! Layout: a 40-byte header (magic, version, count, metadata offset/length, data offset),
//! the pixels of tile 0..count at `data_off` (96*96*3 bytes each, HWC), then JSON metadata
//! (the key it was built from, ids, labels, skipped tiles). Written to a temporary file
//! and renamed, so a killed build never leaves a cache that looks valid.

use super::source::{FNV_SEED, RawReader, fnv1a};
use super::{Dataset, Store, TILE_BYTES, tile};
use crate::experiment::BadTilePolicy;
use anyhow::{Context, Result, bail};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

const MAGIC: &[u8; 8] = b"HBTILES\0";
// 2: the key lists every source (several sources make one set).
const VERSION: u32 = 2;
const HEADER: usize = 40;
const DATA_OFF: u64 = 4096;

/// What a cache was built from; any difference means a rebuild.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Key {
    /// Every source, in the order given (the tiles' order follows it).
    sources: Vec<SourceKey>,
    limit: usize,
    seed: u64,
}

/// One source as it was when the cache was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SourceKey {
    source: String,
    size: u64,
    mtime_ns: u64,
    /// Folder sources: checksum of the tile listing (names, sizes, mtimes).
    listing: u64,
    labels_checksum: u64,
}

fn mtime_ns(md: &std::fs::Metadata) -> u64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

impl SourceKey {
    fn new(path: &Path, labels_csv: &[u8]) -> Result<SourceKey> {
        let canon = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        let md = std::fs::metadata(&canon)
            .with_context(|| format!("cannot stat {}", canon.display()))?;
        let mut listing = FNV_SEED;
        if md.is_dir() {
            // A folder's own mtime misses in-place edits of its files, so hash every entry.
            for dir in [canon.clone(), canon.join("train")] {
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut entries: Vec<(String, u64, u64)> = rd
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let m = e.metadata().ok()?;
                        Some((
                            e.file_name().to_string_lossy().into_owned(),
                            m.len(),
                            mtime_ns(&m),
                        ))
                    })
                    .collect();
                entries.sort();
                for (n, l, t) in entries {
                    listing = fnv1a(n.as_bytes(), listing);
                    listing = fnv1a(&l.to_le_bytes(), listing);
                    listing = fnv1a(&t.to_le_bytes(), listing);
                }
            }
        }
        Ok(SourceKey {
            source: canon.display().to_string(),
            size: md.len(),
            mtime_ns: mtime_ns(&md),
            listing,
            labels_checksum: fnv1a(labels_csv, FNV_SEED),
        })
    }
}

impl Key {
    /// `sources`: each source's path and the bytes of its labels CSV.
    pub fn new(sources: &[(&Path, &[u8])], limit: usize, seed: u64) -> Result<Key> {
        Ok(Key {
            sources: sources
                .iter()
                .map(|(p, csv)| SourceKey::new(p, csv))
                .collect::<Result<_>>()?,
            limit,
            seed,
        })
    }

    /// Cache file name: one file per (sources, limit, seed), rebuilt in place when stale;
    /// `pcam-sample+pcam-extra-train-<hash>.hbtiles` for two sources.
    fn file_name(&self) -> String {
        let stems: Vec<String> = self
            .sources
            .iter()
            .map(|s| {
                Path::new(&s.source)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "source".into())
            })
            .collect();
        let mut h = FNV_SEED;
        for s in &self.sources {
            h = fnv1a(s.source.as_bytes(), h);
        }
        h = fnv1a(&self.limit.to_le_bytes(), h);
        h = fnv1a(&self.seed.to_le_bytes(), h);
        format!("{}-{h:016x}.hbtiles", stems.join("+"))
    }
}

#[derive(Serialize, Deserialize)]
struct Meta {
    key: Key,
    ids: Vec<String>,
    labels: Vec<u8>,
    /// Tiles that failed to decode at build time: (id, reason).
    skipped: Vec<(String, String)>,
}

/// An opened cache file.
pub(crate) struct Packed {
    pub path: PathBuf,
    map: Mmap,
    count: usize,
}

impl Packed {
    pub fn tile(&self, i: usize) -> &[u8] {
        debug_assert!(i < self.count);
        let at = DATA_OFF as usize + i * TILE_BYTES;
        &self.map[at..at + TILE_BYTES]
    }
}

/// Reads and checks a cache file; `Ok(None)` when it is stale or damaged (then rebuilt).
fn load(path: &Path, key: &Key) -> Result<Option<(Packed, Meta)>> {
    let Ok(f) = File::open(path) else {
        return Ok(None);
    };
    // SAFETY: the file is only ever replaced by rename, never written in place, so the
    // mapping's bytes cannot change under us (unless someone edits the cache by hand).
    let map = unsafe { Mmap::map(&f) }.with_context(|| format!("cannot map {}", path.display()))?;
    if map.len() < HEADER || &map[..8] != MAGIC {
        return Ok(None);
    }
    let u32_at = |o: usize| u32::from_le_bytes(map[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(map[o..o + 8].try_into().unwrap());
    let (version, count) = (u32_at(8), u32_at(12) as usize);
    let (meta_off, meta_len, data_off) = (u64_at(16) as usize, u64_at(24) as usize, u64_at(32));
    if version != VERSION
        || data_off != DATA_OFF
        || meta_off < DATA_OFF as usize + count * TILE_BYTES
        || meta_off.checked_add(meta_len) != Some(map.len())
    {
        return Ok(None);
    }
    let Ok(meta) = serde_json::from_slice::<Meta>(&map[meta_off..]) else {
        return Ok(None);
    };
    if &meta.key != key || meta.ids.len() != count || meta.labels.len() != count {
        return Ok(None);
    }
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::WillNeed);
    Ok(Some((
        Packed {
            path: path.to_path_buf(),
            map,
            count,
        },
        meta,
    )))
}

/// Removes the temporary file unless the build completed.
struct TempGuard(PathBuf, bool);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn build(ds: &Dataset, target: &Path, key: &Key, workers: usize) -> Result<()> {
    let Store::Stream(loc) = &ds.store else {
        bail!("cache build needs a streamed source");
    };
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create cache folder {}", dir.display()))?;
    let tmp = target.with_extension(format!("tmp-{}", std::process::id()));
    let mut guard = TempGuard(tmp.clone(), false);
    let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    w.write_all(&[0u8; DATA_OFF as usize])?;

    let threads = super::loader::resolve_workers(workers);
    let chunk = 64 * threads;
    let mut buf = vec![0u8; chunk * TILE_BYTES];
    let (mut ids, mut labels, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let n = ds.len();
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let per = (end - start).div_ceil(threads);
        let results: Vec<Result<Vec<Result<(), String>>>> = std::thread::scope(|s| {
            let handles: Vec<_> = buf[..(end - start) * TILE_BYTES]
                .chunks_mut(per * TILE_BYTES)
                .enumerate()
                .map(|(t, out)| {
                    let first = start + t * per;
                    s.spawn(move || {
                        let mut raw = RawReader::new(loc);
                        let mut bytes = Vec::new();
                        let mut res = Vec::new();
                        for (k, px) in out.chunks_exact_mut(TILE_BYTES).enumerate() {
                            raw.read(first + k, &mut bytes)?;
                            res.push(tile::decode_into(&bytes, px));
                        }
                        Ok(res)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| bail!("a cache worker panicked"))
                })
                .collect()
        });
        let mut k = start;
        let mut px = buf.chunks_exact(TILE_BYTES);
        for r in results {
            for res in r? {
                let tile_px = px.next().expect("one buffer slot per tile");
                match res {
                    Ok(()) => {
                        w.write_all(tile_px)?;
                        ids.push(ds.ids[k].clone());
                        labels.push(ds.labels[k]);
                    }
                    Err(reason) => {
                        let name = loc.name(k);
                        if ds.policy == BadTilePolicy::Error {
                            bail!(
                                "bad tile {name}: {reason}; fix or remove it, or skip bad tiles (data.bad_tiles = \"skip\"; --bad-tiles skip for eval)"
                            );
                        }
                        skipped.push((ds.ids[k].clone(), format!("{name}: {reason}")));
                    }
                }
                k += 1;
            }
        }
        start = end;
    }
    if ids.is_empty() {
        bail!("no tile of {} could be decoded", ds.report().source_paths());
    }
    let count = ids.len();
    let meta = serde_json::to_vec(&Meta {
        key: key.clone(),
        ids,
        labels,
        skipped,
    })?;
    w.write_all(&meta)?;
    let mut file = w.into_inner().map_err(|e| e.into_error())?;
    let meta_off = DATA_OFF + (count * TILE_BYTES) as u64;
    let mut head = Vec::with_capacity(HEADER);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&VERSION.to_le_bytes());
    head.extend_from_slice(&(count as u32).to_le_bytes());
    head.extend_from_slice(&meta_off.to_le_bytes());
    head.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    head.extend_from_slice(&DATA_OFF.to_le_bytes());
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&head)?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, target)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), target.display()))?;
    guard.1 = true;
    Ok(())
}

/// Opens the cache for `ds` (building it when missing or stale) and switches `ds` to it.
pub(crate) fn open_or_build(
    mut ds: Dataset,
    cache_dir: &Path,
    key: Key,
    workers: usize,
) -> Result<Dataset> {
    let target = cache_dir.join(key.file_name());
    let mut built = false;
    let (packed, meta) = match load(&target, &key)? {
        Some(x) => x,
        None => {
            build(&ds, &target, &key, workers)?;
            built = true;
            load(&target, &key)?.with_context(|| {
                format!(
                    "the cache {} just written cannot be read back",
                    target.display()
                )
            })?
        }
    };
    if ds.policy == BadTilePolicy::Error
        && let Some((_, reason)) = meta.skipped.first()
    {
        bail!(
            "bad tile {reason}; fix or remove it, or skip bad tiles (data.bad_tiles = \"skip\"; --bad-tiles skip for eval) (found in {})",
            target.display()
        );
    }
    ds.ids = meta.ids;
    ds.labels = meta.labels;
    ds.store = Store::Packed(packed);
    let r = ds.report.get_mut().unwrap_or_else(|e| e.into_inner());
    r.skipped.extend(meta.skipped);
    r.cache = Some(target);
    r.cache_built = built;
    Ok(ds)
}
