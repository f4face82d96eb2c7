//! The one place that talks to the `runs` module: watching `runs/` and launching.
//!
//! Interim: the `runs` branch (RunsWatcher, Launcher, CancelToken, cancel_detached) is
//! being written alongside; until it merges, this adapter tails `events.jsonl` itself
//! (the event format is the contract in `runs::event`) and declares the launcher
//! interface the dashboard needs. The lead swaps these for `crate::runs` at merge.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::experiment::Experiment;
use crate::runs::{LogLevel, Record, SCHEMA_VERSION};

use super::model::RunView;

/// How a launched run is hosted (mirrors `runs::LaunchMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchMode {
    /// A thread of this process: ends with the dashboard.
    Thread,
    /// A `histoboard train` child in its own session: outlives the dashboard.
    Detached,
}

/// Asks a thread run to stop after checkpointing (mirrors `runs::CancelToken`).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A started run (mirrors `runs::LaunchedRun`).
#[derive(Debug, Clone)]
pub struct LaunchedRun {
    pub run_id: String,
    pub mode: LaunchMode,
    /// The trainer's process (detached runs).
    pub pid: Option<u32>,
    /// Set for thread runs.
    pub cancel: Option<CancelToken>,
}

/// Starts runs (mirrors `runs::Launcher`).
pub trait Launcher: Send + Sync {
    fn launch(&self, exp: &Experiment, mode: LaunchMode) -> anyhow::Result<LaunchedRun>;
    /// Resumes a stopped run from its last checkpoint.
    fn resume(&self, run_id: &str, mode: LaunchMode) -> anyhow::Result<LaunchedRun>;
}

/// Asks a detached trainer to checkpoint and stop (SIGTERM; the trainer handles it).
pub fn cancel_detached(pid: u32) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run kill for pid {pid}: {e}"))?;
    anyhow::ensure!(status.success(), "kill -TERM {pid} failed: {status}");
    Ok(())
}

/// One watched `events.jsonl`.
struct Tailed {
    offset: u64,
    view: RunView,
    /// A line cut short by a writer mid-write, kept until its newline arrives.
    partial: String,
}

/// Watches `runs/*/events.jsonl`, folding new lines into [`RunView`]s.
pub struct RunsSource {
    dir: PathBuf,
    runs: HashMap<PathBuf, Tailed>,
}

impl RunsSource {
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        RunsSource {
            dir: runs_dir.into(),
            runs: HashMap::new(),
        }
    }

    /// Runs that changed since the last poll (all of them the first time).
    pub fn poll(&mut self) -> Vec<RunView> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut changed = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join("events.jsonl");
            let id = entry.file_name().to_string_lossy().into_owned();
            let t = self.runs.entry(path.clone()).or_insert_with(|| Tailed {
                offset: 0,
                view: RunView::new(id),
                partial: String::new(),
            });
            if read_new(&path, t) {
                changed.push(t.view.clone());
            }
        }
        changed
    }
}

/// Reads complete lines past `t.offset`; true when the view changed.
fn read_new(path: &Path, t: &mut Tailed) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if meta.len() == t.offset {
        return false;
    }
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    if meta.len() < t.offset {
        // Truncated or replaced: start over.
        let id = t.view.id.clone();
        *t = Tailed {
            offset: 0,
            view: RunView::new(id),
            partial: String::new(),
        };
    }
    if f.seek(SeekFrom::Start(t.offset)).is_err() {
        return false;
    }
    let mut reader = BufReader::new(f);
    let mut changed = false;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                t.offset += n as u64;
                if !line.ends_with('\n') {
                    t.partial.push_str(&line);
                    continue;
                }
                let full = std::mem::take(&mut t.partial) + line.trim_end();
                if full.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Record>(&full) {
                    Ok(r) if r.v == SCHEMA_VERSION => t.view.apply(&r),
                    Ok(r) => t.view.push_log(
                        r.t,
                        LogLevel::Warn,
                        format!(
                            "event schema v{} not understood (this build reads v{SCHEMA_VERSION})",
                            r.v
                        ),
                    ),
                    Err(e) => t.view.push_log(
                        t.view.updated_at,
                        LogLevel::Warn,
                        format!("{}: unreadable event: {e}", path.display()),
                    ),
                }
                changed = true;
            }
        }
    }
    changed
}
