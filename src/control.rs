//! Launch, cancel and resume for every kind of run (a thread of this process, a detached
//! `histoboard train` process, a Slurm task), in one place: the dashboard and the command line
//! both go through [`Control`], so a run is stopped and resumed the same way whoever asks.
//!
//! It knows nothing of burn: the engine comes in as a [`Launcher`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};

use crate::experiment::{Experiment, LauncherKind};
use crate::runs::{CancelToken, Launcher, RunPaths, RunState, cancel_detached};
use crate::slurm::{self, SlurmRecord};

/// What a launch started.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// Runs on threads of this process or detached processes, by id.
    Runs(Vec<String>),
    /// One Slurm job array: a human summary (job id, warnings).
    Submitted(String),
}

pub struct Control {
    launcher: Arc<dyn Launcher>,
    /// The project folder: runs go to `runs/` under it; Slurm jobs start in it.
    dir: PathBuf,
    /// Runs on this process's threads, with the tokens that stop them.
    threads: Mutex<HashMap<String, CancelToken>>,
}

impl Control {
    pub fn new(launcher: Arc<dyn Launcher>, dir: impl Into<PathBuf>) -> Control {
        Control {
            launcher,
            dir: dir.into(),
            threads: Mutex::new(HashMap::new()),
        }
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.dir.join("runs")
    }

    fn threads(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancelToken>> {
        self.threads.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `exps` (one experiment or a sweep's runs) where `kind` says; `source` is the
    /// experiment file (relative paths in it resolve against its folder). A Slurm launch is one
    /// job array; the others start one run each.
    pub fn launch(
        &self,
        exps: &[Experiment],
        source: &Path,
        kind: LauncherKind,
    ) -> Result<Started> {
        if kind == LauncherKind::Slurm {
            let base = source.parent().unwrap_or(Path::new("."));
            let mut opts = slurm::SubmitOptions::new(self.runs_dir(), base)?;
            opts.workdir = self.dir.clone();
            let sub = slurm::submit(exps, &opts)?;
            let mut msg = format!(
                "submitted {} run(s) to Slurm as job array {}",
                sub.runs.len(),
                sub.job_id.unwrap_or_default()
            );
            // The request could not be checked, or exceeds a limit a QOS may lift.
            for w in &sub.warnings {
                msg.push_str(&format!("; warning: {w}"));
            }
            return Ok(Started::Submitted(msg));
        }
        let mut ids = Vec::with_capacity(exps.len());
        for exp in exps {
            let run = self
                .launcher
                .launch(exp, &self.runs_dir(), kind)
                .with_context(|| format!("launching {}", exp.name))?;
            if kind == LauncherKind::Local {
                self.threads().insert(run.run_id.clone(), run.cancel);
            }
            ids.push(run.run_id);
        }
        Ok(Started::Runs(ids))
    }

    /// Stops a run, however it runs: a thread of this process through its token, a Slurm task
    /// through `scancel`, any other trainer through SIGTERM to its pid (on this host only).
    /// Either way the trainer checkpoints and writes `cancelled`. Returns what was done.
    pub fn cancel(&self, run_dir: &Path) -> Result<String> {
        let paths = RunPaths::new(run_dir);
        let id = paths.id();
        if let Some(token) = self.threads().get(&id) {
            token.cancel();
            return Ok(format!("cancelling {id}"));
        }
        if SlurmRecord::read(run_dir)?.is_some() {
            slurm::cancel(run_dir)?;
            return Ok(format!("asked Slurm to cancel {id}"));
        }
        let state = RunState::read(run_dir);
        if state.status.is_terminal() {
            bail!("{id} is not running (it is {})", state.status.label());
        }
        let pid = state
            .pid
            .with_context(|| format!("{id} has not started yet"))?;
        if !state.host.is_empty() && state.host != crate::runs::paths::host_name() {
            bail!("{id} runs on {} (pid {pid}); cancel it there", state.host);
        }
        cancel_detached(pid)?;
        Ok(format!("asked trainer {pid} to stop {id}"))
    }

    /// Continues a stopped run from its last checkpoint: a Slurm run as the same array task
    /// again, any other on a thread of this process (`kind` Local) or as a detached process.
    pub fn resume(&self, run_dir: &Path, kind: LauncherKind) -> Result<String> {
        let id = RunPaths::new(run_dir).id();
        if SlurmRecord::read(run_dir)?.is_some() {
            let rec = slurm::resubmit(run_dir)?;
            return Ok(format!(
                "re-submitted {id} as Slurm job {} (it resumes from its checkpoint)",
                rec.task_id()
            ));
        }
        if kind == LauncherKind::Slurm {
            bail!("{id} was not submitted to Slurm; resume it here instead");
        }
        let run = self.launcher.resume(run_dir, kind)?;
        if kind == LauncherKind::Local {
            self.threads().insert(run.run_id.clone(), run.cancel);
        }
        Ok(format!("resuming {id}"))
    }

    /// On the way out: cancels the thread runs still active (`active` says which, by id) so
    /// they checkpoint; detached and Slurm runs go on. Returns the ids to wait for.
    pub fn cancel_threads(&self, active: impl Fn(&str) -> bool) -> Vec<String> {
        let mut ids = Vec::new();
        for (id, token) in self.threads().iter() {
            if active(id) {
                token.cancel();
                ids.push(id.clone());
            }
        }
        ids
    }
}
