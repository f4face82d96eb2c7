//! Slurm as a launcher: experiments go to a cluster as job arrays, and the dashboard on the
//! login node follows them, because every run writes its event stream into the shared run folder.
//!
//! Slurm is the scheduler; histoboard only writes batch scripts and reads the scheduler's
//! commands:
//! - [`script`]: the batch script (`slurm.sh` in each run folder), one array task per run.
//! - [`check`]: the resource request against the partition's nodes (`sinfo`), before `sbatch`.
//! - [`submit`]: prepares run folders, calls `sbatch` once per sweep, re-submits stopped runs.
//! - [`query`]: job states from `squeue` (then `sacct`), batched: one call for every job.
//! - [`watch`]: [`watch::SlurmWatcher`], one batched scheduler query per dashboard refresh.
//!
//! A run submitted to Slurm has `slurm.json` ([`SlurmRecord`]) beside its `events.jsonl`.

pub mod check;
pub mod query;
pub mod script;
pub mod submit;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

pub use query::{JobState, SchedState, query};
pub use submit::{Submission, SubmitOptions, cancel, resubmit, submit};

/// File in a run folder that ties the run to its Slurm job.
pub const RECORD_FILE: &str = "slurm.json";
/// File in a run folder holding the batch script it was submitted with.
pub const SCRIPT_FILE: &str = "slurm.sh";

/// What `slurm.json` holds: which array task of which job runs this folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmRecord {
    /// The array job id of the latest submission (`sbatch --parsable`).
    pub job_id: String,
    /// This run's index in the array (`SLURM_ARRAY_TASK_ID`).
    pub task: usize,
    /// Unix seconds of the latest submission.
    pub submitted_at: f64,
    /// Earlier submissions of this run (before re-submits), oldest first.
    #[serde(default)]
    pub previous_jobs: Vec<String>,
}

impl SlurmRecord {
    /// The id Slurm shows for this run's task, e.g. `1234_3`.
    pub fn task_id(&self) -> String {
        format!("{}_{}", self.job_id, self.task)
    }

    pub fn path(run_dir: &Path) -> PathBuf {
        run_dir.join(RECORD_FILE)
    }

    /// The record of a run folder; `Ok(None)` when the run was not submitted to Slurm.
    pub fn read(run_dir: &Path) -> Result<Option<SlurmRecord>> {
        let path = SlurmRecord::path(run_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a Slurm record", path.display()))
            .map(Some)
    }

    /// Writes the record atomically (a reader never sees half a file).
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let path = SlurmRecord::path(run_dir);
        let text = serde_json::to_string_pretty(self).context("encoding the Slurm record")?;
        crate::runs::write_atomic(&path, text.as_bytes())
    }
}

/// Runs one Slurm command (`sbatch`, `squeue`, ...) and returns its output when it succeeded.
/// A missing command and a refusal are errors that say which, with the scheduler's own message.
pub(crate) fn run_command(program: &str, args: &[String]) -> Result<Output> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "`{program}` is not on the PATH: this machine has no Slurm client commands \
                     (run histoboard on the cluster's login node, or use the local launcher)"
                )
            } else {
                anyhow::anyhow!("running `{program}`: {e}")
            }
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let msg = if stderr.trim().is_empty() {
            stdout.trim()
        } else {
            stderr.trim()
        };
        bail!(
            "`{program} {}` failed ({}): {msg}",
            args.join(" "),
            out.status
        );
    }
    Ok(out)
}
