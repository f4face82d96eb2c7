//! Follows the Slurm runs of a runs folder: every few seconds one batched query for every task
//! that is not finished, and only the states that changed are sent on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::{JobState, RECORD_FILE, SlurmRecord};

/// How often the dashboard asks the scheduler: often enough to see a job start, rarely enough
/// not to load a busy controller.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What a poll found.
#[derive(Debug, Clone, PartialEq)]
pub enum SlurmUpdate {
    /// New or changed states, by run id.
    States(BTreeMap<String, JobState>),
    /// The scheduler could not be asked (shown once until it changes or clears).
    Error(String),
}

type QueryFn = fn(&[String]) -> Result<BTreeMap<String, JobState>>;

struct Known {
    modified: Option<SystemTime>,
    record: SlurmRecord,
    state: Option<JobState>,
}

/// The Slurm side of a runs folder; [`SlurmWatcher::poll`] is one refresh.
pub struct SlurmWatcher {
    dir: PathBuf,
    runs: BTreeMap<String, Known>,
    query: QueryFn,
    last_error: Option<String>,
    /// Scheduler queries made so far (each covers every unfinished task).
    pub queries: usize,
}

impl SlurmWatcher {
    pub fn new(runs_dir: impl Into<PathBuf>) -> SlurmWatcher {
        SlurmWatcher::with_query(runs_dir, super::query)
    }

    /// With another query function (tests count calls without a cluster).
    pub fn with_query(runs_dir: impl Into<PathBuf>, query: QueryFn) -> SlurmWatcher {
        SlurmWatcher {
            dir: runs_dir.into(),
            runs: BTreeMap::new(),
            query,
            last_error: None,
            queries: 0,
        }
    }

    /// Reads new and changed `slurm.json` files, then asks the scheduler once about every
    /// task not known to be over. Runs without Slurm cost one `stat` and no query.
    pub fn poll(&mut self) -> Vec<SlurmUpdate> {
        self.scan();
        let tasks: Vec<String> = self
            .runs
            .values()
            .filter(|k| k.state.as_ref().is_none_or(|s| !s.state.is_final()))
            .map(|k| k.record.task_id())
            .collect();
        if tasks.is_empty() {
            return Vec::new();
        }
        self.queries += 1;
        let states = match (self.query)(&tasks) {
            Ok(states) => states,
            Err(e) => {
                let msg = format!("{e:#}");
                if self.last_error.as_deref() == Some(msg.as_str()) {
                    return Vec::new();
                }
                self.last_error = Some(msg.clone());
                return vec![SlurmUpdate::Error(msg)];
            }
        };
        self.last_error = None;
        let mut changed = BTreeMap::new();
        for (run_id, known) in &mut self.runs {
            if let Some(state) = states.get(&known.record.task_id())
                && known.state.as_ref() != Some(state)
            {
                known.state = Some(state.clone());
                changed.insert(run_id.clone(), state.clone());
            }
        }
        if changed.is_empty() {
            Vec::new()
        } else {
            vec![SlurmUpdate::States(changed)]
        }
    }

    fn scan(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if id.starts_with('.') {
                continue;
            }
            let path = entry.path().join(RECORD_FILE);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let modified = meta.modified().ok();
            if self
                .runs
                .get(id)
                .is_some_and(|k| k.modified == modified && modified.is_some())
            {
                continue;
            }
            // A re-submitted run has a new job: its old state no longer applies.
            if let Ok(Some(record)) = SlurmRecord::read(&entry.path()) {
                self.runs.insert(
                    id.to_string(),
                    Known {
                        modified,
                        record,
                        state: None,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::SchedState;

    fn fake(tasks: &[String]) -> Result<BTreeMap<String, JobState>> {
        Ok(tasks
            .iter()
            .map(|t| {
                let state = if t.ends_with("_0") {
                    SchedState::Completed
                } else {
                    SchedState::Running
                };
                (
                    t.clone(),
                    JobState {
                        state,
                        reason: None,
                        nodes: Some("n1".into()),
                    },
                )
            })
            .collect())
    }

    #[test]
    fn one_query_per_poll_and_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        for task in 0..30 {
            let run = dir.path().join(format!("run-{task:02}"));
            std::fs::create_dir_all(&run).unwrap();
            SlurmRecord {
                job_id: "77".into(),
                task,
                submitted_at: 0.0,
                previous_jobs: vec![],
            }
            .write(&run)
            .unwrap();
        }
        // A local run: no record, never queried.
        std::fs::create_dir_all(dir.path().join("local-run")).unwrap();
        let mut w = SlurmWatcher::with_query(dir.path(), fake);
        let first = w.poll();
        assert_eq!(w.queries, 1);
        let SlurmUpdate::States(states) = &first[0] else {
            panic!("{first:?}")
        };
        assert_eq!(states.len(), 30);
        assert_eq!(states["run-00"].state, SchedState::Completed);
        // Nothing changed: a query (29 tasks still running), no update.
        assert!(w.poll().is_empty());
        assert_eq!(w.queries, 2);
    }

    #[test]
    fn no_slurm_runs_no_query() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("local-run")).unwrap();
        let mut w = SlurmWatcher::with_query(dir.path(), fake);
        assert!(w.poll().is_empty());
        assert_eq!(w.queries, 0);
    }
}
