//! What the dashboard shows about one run: a display model folded from run events.
//!
//! The dashboard draws from [`RunView`] only, so every pane can be rendered (and
//! snapshot-tested) from plain data without a watcher, a trainer or a terminal.

use std::collections::VecDeque;

use crate::runs::{EpochSummary, LogLevel, Record, RunState, RunStatus};

/// Batch losses kept for the sparkline; older ones are dropped (memory stays bounded).
pub const MAX_BATCH_LOSSES: usize = 512;
/// Log lines kept per run.
pub const MAX_LOG_LINES: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Waiting in the dashboard's launch queue (or started but not yet reporting).
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
    /// Its trainer died without saying why (e.g. killed, machine rebooted).
    Lost,
    /// Its event stream is missing or unreadable.
    Damaged,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Lost => "lost",
            Status::Damaged => "damaged",
        }
    }

    /// Queued or running: it may still use the machine.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }

    /// Stopped before completing, so resuming it makes sense.
    pub fn is_resumable(self) -> bool {
        matches!(self, Status::Cancelled | Status::Lost | Status::Failed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchProgress {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub lr: f64,
    pub images_per_sec: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub t: f64,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FinishInfo {
    pub best_epoch: usize,
    pub metric: String,
    pub best_value: f64,
    pub reason: String,
}

/// Everything the dashboard knows about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub id: String,
    pub experiment: String,
    pub status: Status,
    pub device: String,
    /// Planned epochs.
    pub epochs_total: usize,
    pub batches_per_epoch: usize,
    /// Completed epochs, in order (a resumed run replaces epochs it repeats).
    pub epochs: Vec<EpochSummary>,
    pub batch_losses: VecDeque<f64>,
    pub progress: Option<BatchProgress>,
    /// First `Started` time (unix seconds).
    pub started_at: Option<f64>,
    /// Time of the last event.
    pub updated_at: f64,
    /// Time of the terminal event, when there is one.
    pub ended_at: Option<f64>,
    /// Resolved experiment TOML from the `Started` event.
    pub config: String,
    pub log: VecDeque<LogLine>,
    pub error: Option<String>,
    pub pid: Option<u32>,
    pub finish: Option<FinishInfo>,
    /// Damage found in the run's folder (see `RunState::problems`), and how many in all.
    pub problems: Vec<String>,
    pub problem_count: usize,
}

impl RunView {
    pub fn new(id: impl Into<String>) -> Self {
        RunView {
            id: id.into(),
            experiment: String::new(),
            status: Status::Queued,
            device: String::new(),
            epochs_total: 0,
            batches_per_epoch: 0,
            epochs: Vec::new(),
            batch_losses: VecDeque::new(),
            progress: None,
            started_at: None,
            updated_at: 0.0,
            ended_at: None,
            config: String::new(),
            log: VecDeque::new(),
            error: None,
            pid: None,
            finish: None,
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    /// The display view of a run folded by the `runs` module.
    pub fn from_state(st: &RunState) -> Self {
        let status = match st.status {
            RunStatus::Queued => Status::Queued,
            RunStatus::Running => Status::Running,
            RunStatus::Finished => Status::Finished,
            RunStatus::Failed => Status::Failed,
            RunStatus::Cancelled => Status::Cancelled,
            RunStatus::Lost => Status::Lost,
            RunStatus::Damaged => Status::Damaged,
        };
        let points = st.batch_loss.points();
        let skip = points.len().saturating_sub(MAX_BATCH_LOSSES);
        RunView {
            id: st.id.clone(),
            experiment: st.experiment.clone(),
            status,
            device: st.device.clone(),
            epochs_total: st.epochs,
            batches_per_epoch: st.batches,
            epochs: st.completed.clone(),
            batch_losses: points.into_iter().skip(skip).map(|(_, y)| y).collect(),
            progress: st.progress.map(|p| BatchProgress {
                epoch: p.epoch,
                batch: p.batch,
                batches: p.batches,
                lr: p.lr,
                images_per_sec: st.images_per_sec,
            }),
            started_at: st.started_at,
            updated_at: st.last_event_at.unwrap_or(0.0),
            ended_at: if st.status.is_terminal() {
                st.last_event_at
            } else {
                None
            },
            config: st.config.clone(),
            log: st
                .log
                .iter()
                .rev()
                .take(MAX_LOG_LINES)
                .rev()
                .map(|l| LogLine {
                    t: l.t,
                    level: l.level,
                    message: l.message.clone(),
                })
                .collect(),
            error: st.error.clone(),
            pid: st.pid,
            finish: st.finished_reason.as_ref().map(|reason| FinishInfo {
                best_epoch: st.best_epoch.unwrap_or(0),
                metric: st.best_metric.clone(),
                best_value: st.best_value.unwrap_or(f64::NAN),
                reason: reason.clone(),
            }),
            problems: st.problems.clone(),
            problem_count: st.problem_count,
        }
    }

    /// Folds a whole event stream (through `runs::RunState`, the one fold of events).
    pub fn from_records<'a>(id: &str, records: impl IntoIterator<Item = &'a Record>) -> Self {
        let mut st = RunState::new(id, "");
        for r in records {
            st.apply(r);
        }
        RunView::from_state(&st)
    }

    /// Epochs completed so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs.last().map_or(0, |e| e.epoch)
    }

    /// The epoch with the best validation AUC (the dashboard's yardstick for "best").
    pub fn best_epoch(&self) -> Option<&EpochSummary> {
        self.epochs
            .iter()
            .filter(|e| e.valid.auc.is_finite())
            .max_by(|a, b| a.valid.auc.total_cmp(&b.valid.auc))
    }

    pub fn best_valid_auc(&self) -> Option<f64> {
        self.best_epoch().map(|e| e.valid.auc)
    }

    /// Seconds since the run started: up to `now` while it runs, up to its end otherwise.
    pub fn elapsed(&self, now: f64) -> Option<f64> {
        let start = self.started_at?;
        let end = match self.status {
            Status::Running => now.max(self.updated_at),
            _ => self.ended_at.unwrap_or(self.updated_at),
        };
        Some((end - start).max(0.0))
    }

    /// Fraction of the planned work done, counting the current epoch's batches.
    pub fn fraction_done(&self) -> f64 {
        if self.epochs_total == 0 {
            return 0.0;
        }
        if self.status == Status::Finished {
            return 1.0;
        }
        let mut done = self.epochs_done() as f64;
        if let Some(p) = self.progress
            && p.epoch > self.epochs_done()
            && p.batches > 0
        {
            done += p.batch as f64 / p.batches as f64;
        }
        (done / self.epochs_total as f64).clamp(0.0, 1.0)
    }

    /// Seconds left, extrapolated from the pace so far; only while running.
    pub fn eta(&self, now: f64) -> Option<f64> {
        if self.status != Status::Running {
            return None;
        }
        let f = self.fraction_done();
        let elapsed = self.elapsed(now)?;
        // Too early to extrapolate: the first batches include start-up costs.
        if f < 0.01 || elapsed <= 0.0 {
            return None;
        }
        Some(elapsed * (1.0 - f) / f)
    }

    /// Wall time of the run for tables: sum of epoch durations when known, else elapsed.
    pub fn train_time(&self, now: f64) -> f64 {
        self.elapsed(now)
            .unwrap_or_else(|| self.epochs.iter().map(|e| e.duration_s).sum())
    }
}

/// `1h02m`, `3m05s`, `12s`.
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "-".into();
    }
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::runs::{DataSummary, Event};

    fn rec(t: f64, event: Event) -> Record {
        Record { v: 1, t, event }
    }

    fn started(t: f64, start_epoch: usize) -> Record {
        rec(
            t,
            Event::Started {
                run_id: "r1".into(),
                experiment: "base".into(),
                config: "name = \"base\"\n".into(),
                device: "CPU".into(),
                epochs: 4,
                batches: 10,
                data: DataSummary::default(),
                start_epoch,
                pid: 7,
                host: String::new(),
            },
        )
    }

    fn epoch(t: f64, n: usize, auc: f64) -> Record {
        rec(
            t,
            Event::Epoch(EpochSummary {
                epoch: n,
                epochs: 4,
                duration_s: 10.0,
                valid: Metrics {
                    auc,
                    ..Metrics::default()
                },
                ..EpochSummary::default()
            }),
        )
    }

    #[test]
    fn folds_progress_best_and_eta() {
        let batch = rec(
            25.0,
            Event::Batch {
                epoch: 3,
                batch: 5,
                batches: 10,
                loss: 0.4,
                lr: 1e-3,
                images_per_sec: 100.0,
            },
        );
        let records = [
            started(0.0, 0),
            epoch(10.0, 1, 0.8),
            epoch(20.0, 2, 0.75),
            batch,
        ];
        let v = RunView::from_records("r1", &records);
        assert_eq!(v.status, Status::Running);
        assert_eq!(v.epochs_done(), 2);
        assert_eq!(v.best_epoch().map(|e| e.epoch), Some(1));
        assert!((v.fraction_done() - 2.5 / 4.0).abs() < 1e-9);
        // 25 s for 62.5 % of the work: 15 s left.
        assert!((v.eta(25.0).unwrap() - 15.0).abs() < 1e-9);
        assert_eq!(v.batch_losses.len(), 1);
    }

    #[test]
    fn resume_drops_repeated_epochs_and_terminal_events_stop_the_clock() {
        let v = RunView::from_records(
            "r1",
            &[
                started(0.0, 0),
                epoch(10.0, 1, 0.8),
                epoch(20.0, 2, 0.81),
                rec(21.0, Event::Cancelled { epoch: 2 }),
            ],
        );
        assert_eq!(v.status, Status::Cancelled);
        assert_eq!(v.elapsed(1000.0), Some(21.0));
        assert!(v.status.is_resumable());
        let resumed = RunView::from_records(
            "r1",
            &[
                started(0.0, 0),
                epoch(10.0, 1, 0.8),
                epoch(20.0, 2, 0.81),
                rec(21.0, Event::Cancelled { epoch: 2 }),
                started(30.0, 1),
            ],
        );
        assert_eq!(resumed.status, Status::Running);
        assert_eq!(resumed.epochs_done(), 1, "epoch 2 will be re-run");
        assert_eq!(resumed.started_at, Some(0.0));
    }

    #[test]
    fn durations_are_compact() {
        assert_eq!(fmt_duration(5.2), "5s");
        assert_eq!(fmt_duration(185.0), "3m05s");
        assert_eq!(fmt_duration(3720.0), "1h02m");
        assert_eq!(fmt_duration(f64::NAN), "-");
    }
}
