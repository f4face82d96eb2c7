//! Pruning the runs folder: archive runs (out of the list, kept on disk in `runs/.archive/`)
//! or delete them. A live run is never touched: it is cancelled first.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::state::RunState;

/// Where archived runs go, inside the runs folder (dot folders are not listed as runs).
pub const ARCHIVE_DIR: &str = ".archive";

/// What pruning `ids` would free, said before it is done: `2 runs, 41.2 MB`.
pub fn describe(runs_dir: &Path, ids: &[String]) -> String {
    let bytes: u64 = ids.iter().map(|id| folder_size(&runs_dir.join(id))).sum();
    format!(
        "{} run{}, {}",
        ids.len(),
        if ids.len() == 1 { "" } else { "s" },
        human_bytes(bytes)
    )
}

/// Moves a run to `runs/.archive/<id>` (a numbered name if that exists). Returns where.
/// `run` is the run as the caller knows it (the dashboard's watched state, with the scheduler's
/// word; or [`RunState::read`]): a live one is refused.
pub fn archive(runs_dir: &Path, run: &RunState) -> Result<PathBuf> {
    let id = run.id.as_str();
    let dir = checked_run(runs_dir, run)?;
    let archive = runs_dir.join(ARCHIVE_DIR);
    std::fs::create_dir_all(&archive).with_context(|| format!("creating {}", archive.display()))?;
    let mut to = archive.join(id);
    let mut n = 2;
    while to.exists() {
        to = archive.join(format!("{id}.{n}"));
        n += 1;
    }
    std::fs::rename(&dir, &to)
        .with_context(|| format!("moving {} to {}", dir.display(), to.display()))?;
    Ok(to)
}

/// Deletes a run folder for good. Returns the bytes freed. A run folder that is a symbolic
/// link loses the link only, never what it points to.
pub fn remove(runs_dir: &Path, run: &RunState) -> Result<u64> {
    let dir = checked_run(runs_dir, run)?;
    let meta =
        std::fs::symlink_metadata(&dir).with_context(|| format!("reading {}", dir.display()))?;
    if meta.file_type().is_symlink() {
        std::fs::remove_file(&dir)
            .with_context(|| format!("removing the link {}", dir.display()))?;
        return Ok(0);
    }
    let bytes = folder_size(&dir);
    std::fs::remove_dir_all(&dir).with_context(|| format!("deleting {}", dir.display()))?;
    Ok(bytes)
}

/// The run folder of `run`, refused when its id is not a plain name or the run is live.
fn checked_run(runs_dir: &Path, run: &RunState) -> Result<PathBuf> {
    let id = run.id.as_str();
    if id.is_empty() || id.starts_with('.') || id.contains(['/', '\\']) {
        bail!("`{id}` is not a run id");
    }
    let dir = runs_dir.join(id);
    if std::fs::symlink_metadata(&dir).is_err() {
        bail!("no run `{id}` in {}", runs_dir.display());
    }
    if run.status.is_active() {
        bail!(
            "{id} is {}: cancel it first (c in the dashboard, or histoboard cancel {})",
            run.status.label(),
            dir.display()
        );
    }
    Ok(dir)
}

fn folder_size(dir: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| folder_size(&e.path()))
        .sum()
}

/// `812 B`, `41.2 MB`, `1.3 GB`.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}
