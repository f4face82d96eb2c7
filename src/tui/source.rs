//! The one place that talks to the `runs` and `slurm` modules: watching `runs/`, launching,
//! and the scheduler's view of Slurm runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::runs::{RunState, RunUpdate, RunsWatcher, Scheduled};
pub use crate::slurm::watch::{SlurmUpdate, SlurmWatcher};
pub use crate::slurm::{JobState, SlurmRecord};

/// Follows `runs/` through [`RunsWatcher`] and hands out the states of changed runs.
pub struct RunsSource {
    watcher: RunsWatcher,
}

impl RunsSource {
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        RunsSource {
            watcher: RunsWatcher::new(runs_dir),
        }
    }

    /// Takes the scheduler's latest word on Slurm runs (folded in at the next poll).
    pub fn set_scheduled(&mut self, states: BTreeMap<String, Scheduled>) {
        self.watcher.set_scheduled(states);
    }

    /// Runs that changed since the last poll (all of them the first time).
    pub fn poll(&mut self) -> Vec<Arc<RunState>> {
        self.watcher
            .poll()
            .into_iter()
            .filter_map(|u| match u {
                RunUpdate::Changed(state) => Some(state),
                // A vanished folder keeps its last known row (the user may still be
                // comparing it); an unreadable line leaves the rest of the run readable.
                RunUpdate::Removed(_) | RunUpdate::Error { .. } => None,
            })
            .collect()
    }
}
