//! The headless commands, one module each; `main.rs` holds their clap definitions and the
//! dispatch. Shared here: the exit path, the experiment loader, and the run control.

pub mod bench;
pub mod calibrate;
pub mod cancel;
pub mod cv;
pub mod dashboard;
pub mod data;
pub mod errors;
pub mod eval;
pub mod export;
pub mod progress;
pub mod runs;
pub mod submit;
pub mod train;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use histoboard::control::Control;
use histoboard::experiment;
use histoboard::train::EngineLauncher;

use crate::ExperimentArgs;

/// The process's exit code; an error is printed with its whole chain of context.
pub fn exit_code(result: Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl ExperimentArgs {
    /// The experiment file's runs with the overrides applied.
    fn load(&self, path: &Path) -> Result<Vec<experiment::Experiment>> {
        experiment::load(path, &self.set).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// Launch, cancel and resume for the command line, as the dashboard has them.
fn control_here() -> Result<Control> {
    let launcher = EngineLauncher::new(".")?;
    Ok(Control::new(Arc::new(launcher), "."))
}

/// The runs named on the command line, each as its folder says now; a folder without a
/// stream is refused by name.
fn read_runs(runs: &[std::path::PathBuf]) -> Result<Vec<histoboard::runs::RunState>> {
    runs.iter()
        .map(|path| {
            let st = histoboard::runs::RunState::read(path);
            if st.records == 0 {
                anyhow::bail!("{} holds no run events (not a run folder?)", path.display());
            }
            Ok(st)
        })
        .collect()
}
