//! Launches runs for the dashboard: in a worker thread, or as a detached `histoboard train`
//! process that outlives the dashboard and the SSH session.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{TrainOptions, prepare};
use crate::experiment::{Experiment, LauncherKind};
use crate::runs::{CancelToken, LaunchedRun, Launcher, RunPaths, new_run_id};

/// The real launcher: trains with this crate's engine.
pub struct EngineLauncher {
    /// Relative paths in experiments (pretrained weights) resolve against this folder.
    pub base_dir: PathBuf,
    /// The `histoboard` executable for detached runs.
    pub exe: PathBuf,
}

impl EngineLauncher {
    pub fn new(base_dir: impl Into<PathBuf>) -> Result<EngineLauncher> {
        Ok(EngineLauncher {
            base_dir: base_dir.into(),
            exe: std::env::current_exe().context("locating the histoboard executable")?,
        })
    }

    fn start(
        &self,
        exp: Option<&Experiment>,
        run_dir: Option<&Path>,
        runs_dir: &Path,
        kind: LauncherKind,
    ) -> Result<LaunchedRun> {
        let (run_id, dir) = match (exp, run_dir) {
            (_, Some(dir)) => (
                dir.file_name()
                    .and_then(|n| n.to_str())
                    .context("run folder has no name")?
                    .to_string(),
                dir.to_path_buf(),
            ),
            (Some(exp), None) => {
                let id = new_run_id(&exp.name);
                let dir = runs_dir.join(&id);
                (id, dir)
            }
            (None, None) => anyhow::bail!("nothing to launch"),
        };
        let cancel = CancelToken::default();
        match kind {
            LauncherKind::Local => {
                let mut opts = TrainOptions::new(runs_dir);
                opts.base_dir = self.base_dir.clone();
                opts.run_id = Some(run_id.clone());
                opts.resume = run_dir.map(Path::to_path_buf);
                opts.cancel = cancel.clone();
                let exp = exp.cloned().unwrap_or_default();
                // Folder, config and stream are written here, so their errors reach the caller.
                let prepared = prepare(&exp, opts)?;
                std::thread::Builder::new()
                    .name(format!("run {run_id}"))
                    .spawn(move || {
                        // The outcome, including any failure, is in the run's event stream.
                        let _ = prepared.execute();
                    })
                    .context("starting a training thread")?;
            }
            LauncherKind::Detached => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let mut args: Vec<String> = vec!["train".into()];
                match exp {
                    Some(exp) if run_dir.is_none() => {
                        // The child reads the exact experiment the user launched, edits included.
                        let launch_file = RunPaths::new(&dir).launch();
                        super::checkpoint::write_atomic(
                            &launch_file,
                            crate::experiment::to_toml(exp).as_bytes(),
                        )?;
                        args.push(launch_file.display().to_string());
                        args.extend([
                            "--run-id".into(),
                            run_id.clone(),
                            "--runs-dir".into(),
                            runs_dir.display().to_string(),
                        ]);
                    }
                    _ => args.extend(["--resume".into(), dir.display().to_string()]),
                }
                args.extend([
                    "--base-dir".into(),
                    self.base_dir.display().to_string(),
                    "--plain".into(),
                ]);
                crate::runs::spawn_detached(&self.exe, &args, &RunPaths::new(&dir).log())?;
            }
            LauncherKind::Slurm => {
                anyhow::bail!("Slurm runs are submitted through the scheduler, not launched here")
            }
        }
        Ok(LaunchedRun {
            run_id,
            dir,
            cancel,
        })
    }
}

impl Launcher for EngineLauncher {
    fn launch(&self, exp: &Experiment, runs_dir: &Path, kind: LauncherKind) -> Result<LaunchedRun> {
        self.start(Some(exp), None, runs_dir, kind)
    }

    fn resume(&self, run_dir: &Path, kind: LauncherKind) -> Result<LaunchedRun> {
        let runs_dir = run_dir.parent().unwrap_or(Path::new("."));
        self.start(None, Some(run_dir), runs_dir, kind)
    }
}
