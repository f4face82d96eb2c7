//! How the dashboard starts, resumes and cancels runs, without knowing how training works.
//!
//! The trainer implements [`Launcher`]; the dashboard calls it (tests use
//! [`super::fake::FakeLauncher`]).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::experiment::{Experiment, LauncherKind};

/// A run that has been started: its folder may not hold a `started` event yet.
#[derive(Debug, Clone)]
pub struct LaunchedRun {
    pub run_id: String,
    pub dir: PathBuf,
    /// Cancels a run on a thread of this process; for a detached run it does nothing.
    pub cancel: CancelToken,
}

/// Cooperative cancellation: the trainer checks it between batches, saves and emits `cancelled`.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The training engine as the dashboard and [`crate::control`] see it. It runs `Local` (on a
/// thread of this process: cancelled through the [`CancelToken`], dies with the process) and
/// `Detached` (a child process in its own group, output to `train.log`: survives the dashboard
/// and an SSH hang-up; cancelled by pid). Slurm runs go through the scheduler instead.
pub trait Launcher: Send + Sync {
    /// Starts `exp` as a new run under `runs_dir`.
    fn launch(&self, exp: &Experiment, runs_dir: &Path, kind: LauncherKind) -> Result<LaunchedRun>;
    /// Continues the run in `run_dir` from its last checkpoint.
    fn resume(&self, run_dir: &Path, kind: LauncherKind) -> Result<LaunchedRun>;
}

/// Asks a detached trainer to stop (SIGTERM through `kill`); it saves and emits `cancelled`.
pub fn cancel_detached(pid: u32) -> Result<()> {
    if pid == 0 {
        bail!("refusing to signal pid 0 (it would signal the whole process group)");
    }
    let out = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stdin(Stdio::null())
        .output()
        .context("running `kill` to stop a detached run")?;
    if !out.status.success() {
        bail!(
            "could not stop trainer process {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Starts `exe args...` in its own process group with stdin from /dev/null and stdout/stderr
/// appended to `log_path`, so neither the dashboard quitting nor a terminal hang-up reaches it.
/// Returns its pid. A thread waits for it so it never lingers as a zombie (which would look alive
/// to the lost-run check).
pub fn spawn_detached(exe: &Path, args: &[String], log_path: &Path) -> Result<u32> {
    use std::os::unix::process::CommandExt;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .with_context(|| format!("opening {} for the run's output", log_path.display()))?;
    let err = log
        .try_clone()
        .with_context(|| format!("duplicating the handle of {}", log_path.display()))?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id();
    let _ = std::thread::Builder::new()
        .name(format!("reap-{pid}"))
        .spawn(move || child.wait());
    Ok(pid)
}
