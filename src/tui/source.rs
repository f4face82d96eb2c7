//! The one place that talks to the `runs` and `slurm` modules: watching `runs/`, launching,
//! and the scheduler's view of Slurm runs.

use std::path::PathBuf;

pub use crate::runs::{CancelToken, LaunchMode, LaunchedRun, Launcher, cancel_detached};
use crate::runs::{RunUpdate, RunsWatcher};
pub use crate::slurm::watch::{SlurmUpdate, SlurmWatcher};
pub use crate::slurm::{JobState, SlurmRecord};

use super::model::RunView;

/// Follows `runs/` through [`RunsWatcher`] and hands out display views of changed runs.
pub struct RunsSource {
    watcher: RunsWatcher,
}

impl RunsSource {
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        RunsSource {
            watcher: RunsWatcher::new(runs_dir),
        }
    }

    /// Runs that changed since the last poll (all of them the first time).
    pub fn poll(&mut self) -> Vec<RunView> {
        self.watcher
            .poll()
            .into_iter()
            .filter_map(|u| match u {
                RunUpdate::Changed(state) => Some(RunView::from_state(&state)),
                // A vanished folder keeps its last known row (the user may still be
                // comparing it); an unreadable line leaves the rest of the run readable.
                RunUpdate::Removed(_) | RunUpdate::Error { .. } => None,
            })
            .collect()
    }
}
