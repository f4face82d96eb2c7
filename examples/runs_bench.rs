//! Loading speed of the runs watcher.
//!
//! `cargo run --release --example runs_bench -- [runs] [epochs] [batch-events-per-epoch]`
//! writes that many finished synthetic runs (default 50 x 100 epochs x 20 batch events) into a
//! temporary folder, then times a fresh watcher's first poll and its idle polls.
//! `cargo run --release --example runs_bench -- --dir RUNS_DIR` times an existing runs folder;
//! set `KEEP=1` to keep the generated folder for that.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--dir") {
        let dir = args
            .get(2)
            .ok_or_else(|| anyhow::anyhow!("--dir needs a runs folder"))?;
        report(&histoboard::runs::bench_load(
            std::path::Path::new(dir),
            100,
        ));
        return Ok(());
    }
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        std::env::args().nth(i).map_or(Ok(default), |a| {
            a.parse()
                .map_err(|e| anyhow::anyhow!("argument {i} ({a:?}): {e}"))
        })
    };
    let (runs, epochs, batches) = (arg(1, 50)?, arg(2, 100)?, arg(3, 20)?);
    let dir = tempfile_dir()?;
    let t = Instant::now();
    for i in 0..runs {
        let run = dir.join(format!("bench-{i:03}"));
        histoboard::runs::write_synthetic_run(&run, "bench", epochs, batches, 1.7e9 + i as f64)?;
    }
    println!(
        "wrote {runs} runs x {epochs} epochs x {batches} batch events in {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    report(&histoboard::runs::bench_load(&dir, 100));
    if std::env::var_os("KEEP").is_some() {
        return Ok(());
    }
    std::fs::remove_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("removing {}: {e}", dir.display()))?;
    Ok(())
}

fn report(b: &histoboard::runs::LoadBench) {
    println!(
        "initial load: {} runs, {} epochs, {:.1} MiB of events in {:.1} ms",
        b.runs,
        b.epochs,
        b.bytes as f64 / (1024.0 * 1024.0),
        b.initial.as_secs_f64() * 1e3
    );
    println!(
        "idle poll: {:.1} us (mean of 100)",
        b.steady.as_secs_f64() * 1e6
    );
}

/// A fresh folder under the system temp dir (tempfile is only a dev-dependency, which examples
/// may use, but a plain folder keeps the figures free of its cleanup).
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("histoboard-runs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}
