//! `histoboard data bench`: tiles per second from the zip, from the cache, and with heavy
//! augmentation. Figures only; no assertions (targets are checked by people, not tests).

use super::{Dataset, LoaderOptions, loader};
use crate::experiment::{AugmentConfig, DataConfig};
use anyhow::Result;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Loader threads (0 = one per core).
    pub workers: usize,
    pub batch_size: usize,
    /// Passes over the data when reading from the cache (it is fast; more passes, steadier).
    pub cache_epochs: usize,
    pub cache_dir: PathBuf,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            workers: 0,
            batch_size: 64,
            cache_epochs: 3,
            cache_dir: PathBuf::from(".cache"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub source: String,
    pub tiles: usize,
    pub workers: usize,
    pub batch_size: usize,
    /// Streaming straight from the source (zip or folder), default augmentation.
    pub zip_tiles_per_s: f64,
    /// Seconds to build the packed cache (0 when it was already up to date).
    pub cache_build_s: f64,
    pub cache_tiles_per_s: f64,
    /// From the cache with rotation, zoom, shift, colour and HED jitter, crop 72.
    pub cache_heavy_tiles_per_s: f64,
}

/// The heavy augmentation line of the benchmark.
pub fn heavy_augment() -> AugmentConfig {
    AugmentConfig {
        rotate: 30.0,
        zoom: 0.1,
        shift: 0.05,
        brightness: 0.1,
        contrast: 0.2,
        saturation: 0.2,
        hue: 0.05,
        hed: 0.05,
        ..Default::default()
    }
}

fn run(
    ds: &Arc<Dataset>,
    opts: &BenchOptions,
    augment: AugmentConfig,
    crop: u32,
    epochs: usize,
) -> Result<f64> {
    let idx: Vec<usize> = (0..ds.len()).collect();
    let start = Instant::now();
    let mut n = 0usize;
    for epoch in 0..epochs.max(1) as u64 {
        let lo = LoaderOptions {
            batch_size: opts.batch_size,
            shuffle: true,
            augment: Some(augment.clone()),
            epoch,
            workers: opts.workers,
            crop,
            mean: [127.0; 3],
            std: [128.0; 3],
            ..Default::default()
        };
        for b in loader(ds.clone(), idx.clone(), lo) {
            n += b?.len();
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Measures and prints the loader's throughput on `path` (the bundled sample when `None`),
/// ending with a `RESULT {json}` line.
pub fn bench(paths: &[String], opts: &BenchOptions, out: &mut impl Write) -> Result<BenchResult> {
    let sources = super::inspect::sources(paths);
    let source = sources.to_string();
    let workers = super::loader::resolve_workers(opts.workers);
    let mut cfg = DataConfig {
        source: sources,
        cache: false,
        cache_dir: opts.cache_dir.display().to_string(),
        ..Default::default()
    };
    let stream = Arc::new(Dataset::open(&cfg)?);
    let tiles = stream.len();
    writeln!(
        out,
        "source {source}: {tiles} tiles, {workers} workers, batch {}",
        opts.batch_size
    )?;
    let zip = run(&stream, opts, AugmentConfig::default(), 0, 1)?;
    writeln!(
        out,
        "from source (no cache), default augmentation: {zip:>9.0} tiles/s"
    )?;
    drop(stream);

    cfg.cache = true;
    let t = Instant::now();
    let cached = Arc::new(Dataset::open(&cfg)?);
    let built = cached.report().cache_built;
    let build_s = if built {
        t.elapsed().as_secs_f64()
    } else {
        0.0
    };
    if built {
        writeln!(
            out,
            "cache build: {build_s:.2} s ({:.0} tiles/s)",
            tiles as f64 / build_s
        )?;
    } else {
        writeln!(out, "cache: up to date")?;
    }
    let cache = run(
        &cached,
        opts,
        AugmentConfig::default(),
        0,
        opts.cache_epochs,
    )?;
    writeln!(
        out,
        "from cache, default augmentation:             {cache:>9.0} tiles/s"
    )?;
    let heavy = run(&cached, opts, heavy_augment(), 72, opts.cache_epochs)?;
    writeln!(
        out,
        "from cache, heavy augmentation + crop 72:     {heavy:>9.0} tiles/s"
    )?;
    let r = BenchResult {
        source,
        tiles,
        workers,
        batch_size: opts.batch_size,
        zip_tiles_per_s: zip,
        cache_build_s: build_s,
        cache_tiles_per_s: cache,
        cache_heavy_tiles_per_s: heavy,
    };
    writeln!(out, "RESULT {}", serde_json::to_string(&r)?)?;
    Ok(r)
}
