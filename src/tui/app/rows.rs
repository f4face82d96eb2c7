//! The rows of the two lists as the user sees them (filtered, sorted, queued launches first),
//! the selection kept on its row as lists change, and the counts the header shows.

use super::*;

/// A row of the runs pane: a queued launch (index into `queue`), a run (into `runs`) or a CV
/// set (into `cv_sets`), where its first fold would be; an open set's folds follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunRow {
    Queued(usize),
    Run(usize),
    Set(usize),
}

/// What a row is, to find it again after the list changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RowKey {
    Ticket(u64),
    Run(String),
    Set(String),
}

/// The runs the header and the runs pane count, counted once (queued launches included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunCounts {
    pub total: usize,
    pub running: usize,
    /// Launches waiting here, and runs waiting for their trainer or their scheduler.
    pub queued: usize,
}

impl App {
    /// Queued launches shown as rows above the runs.
    pub fn pending_views(&self) -> Vec<RunState> {
        self.queue
            .iter()
            .map(|p| {
                let mut v = RunState::new(format!("queued #{}", p.ticket), "");
                v.experiment = p.experiment.name.clone();
                v.epochs = p.experiment.train.epochs;
                v
            })
            .collect()
    }

    /// The rows of the runs pane, as the filter leaves them: queued launches, then runs.
    pub fn run_rows(&self) -> Vec<RunRow> {
        let terms = panes::runs::filter_terms(&self.run_filter);
        let queued = self
            .pending_views()
            .into_iter()
            .enumerate()
            .filter(|(_, v)| panes::runs::matches(v, &terms))
            .map(|(i, _)| RunRow::Queued(i));
        let mut rows: Vec<RunRow> = queued.collect();
        let index: HashMap<&str, usize> = self
            .runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        let set_of: HashMap<&str, usize> = self
            .cv_sets
            .iter()
            .enumerate()
            .flat_map(|(k, s)| s.runs.iter().map(move |id| (id.as_str(), k)))
            .collect();
        let mut placed = vec![false; self.cv_sets.len()];
        for (i, r) in self.runs.iter().enumerate() {
            let Some(&k) = set_of.get(r.id.as_str()) else {
                if panes::runs::matches(r, &terms) {
                    rows.push(RunRow::Run(i));
                }
                continue;
            };
            // A set stands where its first fold (in the list's order) stands.
            if std::mem::replace(&mut placed[k], true) {
                continue;
            }
            let set = &self.cv_sets[k];
            let folds: Vec<usize> = set
                .runs
                .iter()
                .filter_map(|id| index.get(id.as_str()).copied())
                .filter(|&m| panes::runs::matches(&self.runs[m], &terms))
                .collect();
            if folds.is_empty() {
                continue;
            }
            rows.push(RunRow::Set(k));
            if self.open_sets.contains(&set.id) {
                rows.extend(folds.into_iter().map(RunRow::Run));
            }
        }
        rows
    }

    /// Rows of the runs pane (those the filter leaves).
    pub fn row_count(&self) -> usize {
        if self.run_filter.is_empty() && self.cv_sets.is_empty() {
            self.queue.len() + self.runs.len()
        } else {
            self.run_rows().len()
        }
    }

    /// What the header and the runs pane's title count: every row, whatever the filter.
    pub fn run_counts(&self) -> RunCounts {
        let running = self
            .runs
            .iter()
            .filter(|r| r.status == RunStatus::Running)
            .count();
        let waiting = self
            .runs
            .iter()
            .filter(|r| r.status == RunStatus::Queued)
            .count();
        RunCounts {
            total: self.queue.len() + self.runs.len(),
            running,
            queued: self.queue.len() + waiting,
        }
    }

    pub fn selected_row(&self) -> Option<RunRow> {
        if self.run_filter.is_empty() && self.cv_sets.is_empty() {
            // The common case without building the row list.
            let q = self.queue.len();
            return match self.run_sel {
                i if i < q => Some(RunRow::Queued(i)),
                i if i - q < self.runs.len() => Some(RunRow::Run(i - q)),
                _ => None,
            };
        }
        self.run_rows().get(self.run_sel).copied()
    }

    /// The run under the cursor (None on a queued row, a CV set's row or an empty list).
    pub fn selected_run(&self) -> Option<&RunState> {
        match self.selected_row()? {
            RunRow::Run(i) => self.runs.get(i).map(|r| &**r),
            RunRow::Queued(_) | RunRow::Set(_) => None,
        }
    }

    /// The queued launch under the cursor.
    pub fn selected_queued(&self) -> Option<&Pending> {
        match self.selected_row()? {
            RunRow::Queued(i) => self.queue.get(i),
            RunRow::Run(_) | RunRow::Set(_) => None,
        }
    }

    /// The CV set whose row is under the cursor.
    pub fn selected_set(&self) -> Option<&CvSet> {
        match self.selected_row()? {
            RunRow::Set(k) => self.cv_sets.get(k),
            RunRow::Run(_) | RunRow::Queued(_) => None,
        }
    }

    /// The runs of a CV set (fold order), as the dashboard knows them.
    pub fn set_runs(&self, set: &CvSet) -> Vec<&RunState> {
        set.runs
            .iter()
            .filter_map(|id| self.runs.iter().find(|r| &r.id == id).map(|r| &**r))
            .collect()
    }

    /// Indices into `experiments` of the rows the filter leaves.
    pub fn exp_rows(&self) -> Vec<usize> {
        let terms = panes::runs::filter_terms(&self.exp_filter);
        (0..self.experiments.len())
            .filter(|&i| {
                let name = self.experiments[i].name.to_lowercase();
                terms.iter().all(|t| name.contains(t.as_str()))
            })
            .collect()
    }

    pub fn selected_experiment(&self) -> Option<&ExpEntry> {
        if self.exp_filter.is_empty() {
            return self.experiments.get(self.exp_sel);
        }
        let i = *self.exp_rows().get(self.exp_sel)?;
        self.experiments.get(i)
    }

    pub(super) fn row_key(&self) -> Option<RowKey> {
        match self.selected_row()? {
            RunRow::Queued(i) => self.queue.get(i).map(|p| RowKey::Ticket(p.ticket)),
            RunRow::Run(i) => self.runs.get(i).map(|r| RowKey::Run(r.id.clone())),
            RunRow::Set(k) => self.cv_sets.get(k).map(|s| RowKey::Set(s.id.clone())),
        }
    }

    /// Puts the cursor back on the row `key` names after the rows changed (moved by a sort, a
    /// filter, a new run above it); where it is gone, the cursor stays where it was.
    pub(super) fn reselect(&mut self, key: Option<RowKey>) {
        let found = key.and_then(|key| {
            self.run_rows().iter().position(|row| match (row, &key) {
                (RunRow::Queued(i), RowKey::Ticket(t)) => {
                    self.queue.get(*i).is_some_and(|p| p.ticket == *t)
                }
                (RunRow::Run(i), RowKey::Run(id)) => self.runs.get(*i).is_some_and(|r| &r.id == id),
                (RunRow::Set(k), RowKey::Set(id)) => {
                    self.cv_sets.get(*k).is_some_and(|s| &s.id == id)
                }
                _ => false,
            })
        });
        if let Some(i) = found {
            self.run_sel = i;
        }
        self.clamp_run_sel();
    }

    /// Changes the runs list's order, filter or contents while the cursor stays on its row.
    pub(crate) fn keeping_run_selection(&mut self, change: impl FnOnce(&mut App)) {
        let key = self.row_key();
        change(self);
        panes::runs::sort_runs(&mut self.runs, self.run_sort, self.now);
        let runs: Vec<&RunState> = self.runs.iter().map(|r| &**r).collect();
        self.cv_sets = crate::runs::cv::sets(&runs);
        self.reselect(key);
    }

    /// The status line says `text` about `run_id` and follows the run's status from here.
    pub(crate) fn message_about(&mut self, run_id: &str, text: String) {
        let status = self
            .runs
            .iter()
            .find(|r| r.id == run_id)
            .map_or(RunStatus::Queued, |r| r.status);
        self.message = Some((false, text));
        self.message_watch = Some((run_id.to_string(), status));
    }

    /// A watched message changes with its run's status, so that it never says "cancelling"
    /// about a run that stopped long ago.
    pub(super) fn follow_message(&mut self) {
        let Some((id, was)) = self.message_watch.clone() else {
            return;
        };
        let Some(now) = self.runs.iter().find(|r| r.id == id).map(|r| r.status) else {
            return;
        };
        if now == was {
            return;
        }
        // Another message took the line since: it is not ours to change.
        if !self
            .message
            .as_ref()
            .is_some_and(|(err, m)| !err && m.contains(id.as_str()))
        {
            self.message_watch = None;
            return;
        }
        self.message = Some((false, format!("{id}: {}", now.label())));
        // Waiting for its trainer is on the way; running or stopped is where it ends.
        self.message_watch = (now == RunStatus::Queued).then_some((id, now));
    }

    pub fn marked_runs(&self) -> Vec<&RunState> {
        self.runs
            .iter()
            .filter(|r| self.marked.contains(&r.id))
            .map(|r| &**r)
            .collect()
    }

    /// `n` / `N`: the next / previous row of the filtered list, round the end.
    pub(super) fn jump_match(&mut self, forward: bool) {
        let (filter, len, sel) = match self.focus {
            Pane::Experiments => (&self.exp_filter, self.exp_rows().len(), self.exp_sel),
            _ => (&self.run_filter, self.row_count(), self.run_sel),
        };
        if filter.is_empty() {
            self.message = Some((true, "no filter: / types one".into()));
            return;
        }
        if len == 0 {
            self.message = Some((true, format!("nothing matches /{filter}")));
            return;
        }
        let next = if forward {
            (sel + 1) % len
        } else {
            (sel + len - 1) % len
        };
        self.move_sel(next as isize - sel as isize);
    }
}
