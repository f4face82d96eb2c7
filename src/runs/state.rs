//! A run's state, folded from its event records: what the dashboard draws.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::calibration::Calibration;
use super::event::{DataSummary, EpochSummary, Event, LogLevel, Record};
use super::meta::RunMeta;
use super::process::trainer_alive;
use super::series::Downsampled;
use crate::experiment::Experiment;
use crate::metrics::MetricName;

/// Log lines kept per run (the trainer's messages and the run's own milestones together).
pub const LOG_TAIL_CAP: usize = 500;
/// Seconds a run may stay silent after its scheduler task ended before it counts as lost
/// (its trainer's last events may still be on their way through a shared file system).
pub const SCHEDULER_LOST_GRACE_S: f64 = 10.0;
/// Problems kept per run (the count goes on).
pub const PROBLEMS_CAP: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RunStatus {
    /// The folder exists but no `started` event yet (the trainer is loading).
    Queued,
    Running,
    Finished,
    Failed,
    Cancelled,
    /// Started, no terminal event, and the trainer process is gone (killed, crashed, rebooted).
    Lost,
    /// The folder holds a run's files but no readable event stream (`events.jsonl` deleted or
    /// unreadable): what the run did is unknown.
    Damaged,
}

impl RunStatus {
    /// True once the run can make no more progress without a resume.
    pub fn is_terminal(self) -> bool {
        !self.is_active()
    }

    /// Queued or running: it may still use a machine.
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    /// Stopped before completing, so resuming it makes sense.
    pub fn is_resumable(self) -> bool {
        matches!(
            self,
            RunStatus::Cancelled | RunStatus::Lost | RunStatus::Failed
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Lost => "lost",
            RunStatus::Damaged => "damaged",
        }
    }
}

/// Progress inside the current epoch (from the latest `batch` event).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BatchProgress {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub loss: f64,
    pub lr: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub t: f64,
    pub level: LogLevel,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointInfo {
    pub epoch: usize,
    pub kind: String,
    pub path: String,
}

/// A batch scheduler's word on the run's task (Slurm), kept beside the run's own events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scheduled {
    /// Short text for a table cell (`pending: too big for partition`, `running on node3`).
    pub describe: String,
    /// The task waits to start.
    pub waiting: bool,
    /// The task is over (completed, failed, cancelled, vanished).
    pub ended: bool,
}

/// Everything known about one run, folded from its records with [`RunState::apply`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunState {
    /// The run id (its folder name).
    pub id: String,
    pub dir: PathBuf,
    pub experiment: String,
    /// The resolved experiment TOML from the `started` event.
    pub config: String,
    pub device: String,
    pub status: RunStatus,
    /// Planned epochs.
    pub epochs: usize,
    /// Batches per training epoch.
    pub batches: usize,
    /// Epoch the latest (re)start began from.
    pub start_epoch: usize,
    /// Every completed epoch, in order (a resumed run's repeated epochs replace the old ones).
    pub completed: Vec<EpochSummary>,
    /// Progress inside the epoch under way (None between epochs).
    pub progress: Option<BatchProgress>,
    pub images_per_sec: f64,
    /// Training batch loss against fractional epoch (`epoch - 1 + batch / batches`).
    pub batch_loss: Downsampled,
    /// The last [`LOG_TAIL_CAP`] log lines: the trainer's `log` events, and a line for each
    /// start, resume, epoch, cancellation, finish and failure, in the order they happened.
    pub log: VecDeque<LogLine>,
    /// The resolved experiment, parsed once when the run starts (None before, or when the
    /// text cannot be read: see `problems`).
    #[serde(skip)]
    pub resolved: Option<Arc<Experiment>>,
    /// The metric that decides the best epoch and the `best` checkpoint.
    pub best_metric: MetricName,
    pub best_epoch: Option<usize>,
    pub best_value: Option<f64>,
    pub last_checkpoint: Option<CheckpointInfo>,
    /// Time of the first `started` event.
    pub started_at: Option<f64>,
    /// Time of the latest `started` event (differs from `started_at` after a resume).
    pub resumed_at: Option<f64>,
    /// Time of the latest `started` event or completed epoch (for ETA inside an epoch).
    pub epoch_started_at: Option<f64>,
    /// Seconds spent training in earlier (re)starts: pauses between them do not count.
    pub trained_s: f64,
    /// Start of the current stretch of training (None once it ended).
    pub segment_start: Option<f64>,
    /// The scheduler's view of the run's task, for runs submitted to one.
    pub scheduled: Option<Scheduled>,
    /// The user's note and tags (`meta.toml`).
    pub meta: RunMeta,
    /// The temperature fitted on the best epoch's predictions (`calibration.toml`), if any.
    pub calibration: Option<Calibration>,
    pub last_event_at: Option<f64>,
    pub finished_reason: Option<String>,
    pub error: Option<String>,
    pub pid: Option<u32>,
    /// Host of the trainer (empty when the stream predates the field).
    pub host: String,
    pub data: Option<DataSummary>,
    /// Records applied (handy to tell a fresh state from a folded one).
    pub records: usize,
    /// What is wrong with the run's folder (unreadable lines, missing files), the first
    /// [`PROBLEMS_CAP`] of them: such a run is flagged wherever it is shown.
    pub problems: Vec<String>,
    /// Problems found, including those not kept.
    pub problem_count: usize,
}

impl RunState {
    pub fn new(id: impl Into<String>, dir: impl Into<PathBuf>) -> RunState {
        RunState {
            id: id.into(),
            dir: dir.into(),
            experiment: String::new(),
            config: String::new(),
            device: String::new(),
            status: RunStatus::Queued,
            epochs: 0,
            batches: 0,
            start_epoch: 0,
            completed: Vec::new(),
            progress: None,
            images_per_sec: 0.0,
            batch_loss: Downsampled::default(),
            log: VecDeque::new(),
            resolved: None,
            best_metric: MetricName::VALID_AUC,
            best_epoch: None,
            best_value: None,
            last_checkpoint: None,
            started_at: None,
            resumed_at: None,
            epoch_started_at: None,
            trained_s: 0.0,
            segment_start: None,
            scheduled: None,
            meta: RunMeta::default(),
            calibration: None,
            last_event_at: None,
            finished_reason: None,
            error: None,
            pid: None,
            host: String::new(),
            data: None,
            records: 0,
            problems: Vec::new(),
            problem_count: 0,
        }
    }

    /// A run folded from a whole stream at once (tests, fixtures, one-shot readers).
    pub fn folded<'a>(
        id: impl Into<String>,
        dir: impl Into<PathBuf>,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> RunState {
        let mut st = RunState::new(id, dir);
        for r in records {
            st.apply(r);
        }
        st
    }

    /// A run as its folder says now, for callers without a watcher (the command line,
    /// pruning, cancelling): folded from its stream, unreadable lines noted as problems, and
    /// lost if it reads as running while its local trainer is gone.
    pub fn read(run_dir: &std::path::Path) -> RunState {
        let paths = super::paths::RunPaths::new(run_dir);
        let mut st = RunState::new(paths.id(), run_dir);
        for rec in super::tail::Tail::new(paths.events()).poll() {
            match rec {
                Ok(rec) => st.apply(&rec),
                Err(e) => st.note_problem(e.to_string()),
            }
        }
        st.check_lost(f64::INFINITY, 0.0);
        st
    }

    /// Records damage found in the run's folder.
    pub fn note_problem(&mut self, problem: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_CAP {
            self.problems.push(problem.into());
        }
    }

    pub fn apply(&mut self, rec: &Record) {
        self.records += 1;
        let previous_event = self.last_event_at.replace(rec.t);
        match &rec.event {
            Event::Started {
                run_id: _,
                experiment,
                config,
                device,
                epochs,
                batches,
                data,
                start_epoch,
                pid,
                host,
                metric,
            } => {
                let line = match (*start_epoch, self.started_at) {
                    (0, None) => {
                        format!("started: {epochs} epochs of {batches} batches on {device}")
                    }
                    (0, Some(_)) => format!("started over from the beginning on {device}"),
                    (e, _) => format!(
                        "resumed from epoch {e}'s checkpoint on {device}: epoch {} runs again",
                        e + 1
                    ),
                };
                self.push_log(rec.t, LogLevel::Info, line);
                // A stretch that never ended (a killed trainer) ended with its last event.
                if let Some(start) = self.segment_start.take() {
                    self.trained_s += (previous_event.unwrap_or(start) - start).max(0.0);
                }
                self.segment_start = Some(rec.t);
                self.experiment = experiment.clone();
                if *config != self.config || self.resolved.is_none() {
                    self.config = config.clone();
                    self.resolved = self.parse_config();
                }
                match metric.parse() {
                    Ok(m) => self.best_metric = m,
                    Err(e) => self.note_problem(format!("started event: {e}")),
                }
                self.device = device.clone();
                self.epochs = *epochs;
                self.batches = *batches;
                self.data = Some(data.clone());
                self.start_epoch = *start_epoch;
                self.pid = Some(*pid);
                self.host = host.clone();
                self.status = RunStatus::Running;
                self.started_at.get_or_insert(rec.t);
                self.resumed_at = Some(rec.t);
                self.epoch_started_at = Some(rec.t);
                self.progress = None;
                self.finished_reason = None;
                self.error = None;
                // Epochs after the resume point will be run again.
                self.completed.retain(|e| e.epoch <= *start_epoch);
                self.batch_loss.truncate_after(*start_epoch as f64);
                self.recompute_best();
            }
            Event::Batch {
                epoch,
                batch,
                batches,
                loss,
                lr,
                images_per_sec,
            } => {
                self.revive();
                self.progress = Some(BatchProgress {
                    epoch: *epoch,
                    batch: *batch,
                    batches: *batches,
                    loss: *loss,
                    lr: *lr,
                });
                self.images_per_sec = *images_per_sec;
                if loss.is_finite() {
                    let x =
                        epoch.saturating_sub(1) as f64 + *batch as f64 / (*batches).max(1) as f64;
                    self.batch_loss.push(x, *loss);
                }
            }
            Event::Epoch(summary) => {
                self.revive();
                self.push_log(rec.t, LogLevel::Info, epoch_line(summary));
                self.completed.retain(|e| e.epoch < summary.epoch);
                self.completed.push(summary.clone());
                self.epochs = self.epochs.max(summary.epochs);
                self.images_per_sec = summary.images_per_sec;
                self.progress = None;
                self.epoch_started_at = Some(rec.t);
                self.recompute_best();
            }
            Event::Checkpoint { epoch, kind, path } => {
                self.revive();
                self.last_checkpoint = Some(CheckpointInfo {
                    epoch: *epoch,
                    kind: kind.clone(),
                    path: path.clone(),
                });
            }
            Event::Log { level, message } => self.push_log(rec.t, *level, message.clone()),
            Event::Finished {
                best_epoch,
                metric,
                best_value,
                reason,
            } => {
                self.end_segment(rec.t);
                let best = if *best_epoch > 0 {
                    format!(": best epoch {best_epoch}, {metric} {best_value:.4}")
                } else {
                    String::new()
                };
                self.push_log(rec.t, LogLevel::Info, format!("finished ({reason}){best}"));
                self.status = RunStatus::Finished;
                if let Ok(m) = metric.parse() {
                    self.best_metric = m;
                }
                self.best_epoch = (*best_epoch > 0).then_some(*best_epoch);
                self.best_value = best_value.is_finite().then_some(*best_value);
                self.finished_reason = Some(reason.clone());
                self.progress = None;
            }
            Event::Failed { error } => {
                self.end_segment(rec.t);
                self.push_log(rec.t, LogLevel::Error, format!("failed: {error}"));
                self.status = RunStatus::Failed;
                self.error = Some(error.clone());
                self.progress = None;
            }
            Event::Cancelled { epoch } => {
                self.end_segment(rec.t);
                // The trainer stops at a batch boundary and checkpoints only whole epochs.
                let line = match self.progress {
                    Some(p) if p.epoch > *epoch => format!(
                        "cancelled in epoch {} (batch {}/{}): resume repeats it from epoch \
                         {epoch}'s checkpoint",
                        p.epoch, p.batch, p.batches
                    ),
                    _ => format!(
                        "cancelled after epoch {epoch}; resume goes on with epoch {}",
                        epoch + 1
                    ),
                };
                self.push_log(rec.t, LogLevel::Warn, line);
                self.status = RunStatus::Cancelled;
                self.progress = None;
            }
        }
    }

    /// Adds a line to the log, dropping the oldest beyond [`LOG_TAIL_CAP`].
    fn push_log(&mut self, t: f64, level: LogLevel, message: String) {
        if self.log.len() >= LOG_TAIL_CAP {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { t, level, message });
    }

    fn end_segment(&mut self, t: f64) {
        if let Some(start) = self.segment_start.take() {
            self.trained_s += (t - start).max(0.0);
        }
    }

    /// The resolved experiment of the `started` event, parsed with the run's own rules.
    fn parse_config(&mut self) -> Option<Arc<Experiment>> {
        let path = super::paths::RunPaths::new(&self.dir).config();
        match crate::experiment::load_run_config_str(&self.config, &self.id, &path) {
            Ok(mut exps) if exps.len() == 1 => exps.pop().map(Arc::new),
            Ok(exps) => {
                self.note_problem(format!(
                    "the started event's configuration holds {} experiments, not one",
                    exps.len()
                ));
                None
            }
            Err(e) => {
                self.note_problem(format!("the started event's configuration: {e}"));
                None
            }
        }
    }

    /// Takes the scheduler's latest word on the run's task. A task that is over while the run
    /// still reads as queued or running lost its trainer (a dead node, a kill, a task that
    /// never started); [`RunState::check_lost`] marks it lost once its grace period passes.
    /// Returns whether anything changed.
    pub fn apply_scheduler(&mut self, scheduled: Option<Scheduled>) -> bool {
        let changed = self.scheduled != scheduled;
        self.scheduled = scheduled;
        changed
    }

    /// Progress after a `lost` verdict means the trainer was alive after all.
    fn revive(&mut self) {
        if self.status == RunStatus::Lost || self.status == RunStatus::Queued {
            self.status = RunStatus::Running;
        }
    }

    /// Best epoch from the trainer's `is_best` flags, valued on the early-stopping metric:
    /// the epoch of the `best` checkpoint.
    fn recompute_best(&mut self) {
        let best = self.completed.iter().rev().find(|e| e.is_best);
        self.best_epoch = best.map(|e| e.epoch);
        self.best_value = best.map(|e| self.best_metric.of(&e.train, &e.valid));
    }

    /// The summary of the best epoch (the `best` checkpoint's).
    pub fn best_summary(&self) -> Option<&EpochSummary> {
        let best = self.best_epoch?;
        self.completed.iter().find(|e| e.epoch == best)
    }

    /// Validation ROC AUC of the best epoch.
    pub fn best_valid_auc(&self) -> Option<f64> {
        self.best_summary()
            .map(|e| e.valid.auc)
            .filter(|a| !a.is_nan())
    }

    /// Fraction of the planned epochs done, counting the epoch under way.
    pub fn fraction_done(&self) -> f64 {
        if self.status == RunStatus::Finished {
            return 1.0;
        }
        if self.epochs == 0 {
            return 0.0;
        }
        (self.epochs_done() / self.epochs as f64).clamp(0.0, 1.0)
    }

    pub fn last_epoch(&self) -> Option<&EpochSummary> {
        self.completed.last()
    }

    /// Number of the last completed epoch (0 before the first ends).
    pub fn epochs_completed(&self) -> usize {
        self.completed.last().map_or(0, |e| e.epoch)
    }

    /// The latest `n` points of the batch-loss history, oldest first.
    pub fn recent_batch_losses(&self, n: usize) -> Vec<f64> {
        let points = self.batch_loss.points();
        let skip = points.len().saturating_sub(n);
        points.into_iter().skip(skip).map(|(_, y)| y).collect()
    }

    /// Epochs done, counting the fraction of the one under way.
    pub fn epochs_done(&self) -> f64 {
        let done = self
            .completed
            .last()
            .map_or(self.start_epoch, |e| e.epoch.max(self.start_epoch));
        let fraction = self
            .progress
            .filter(|p| p.epoch > done && p.batches > 0)
            .map_or(0.0, |p| (p.batch as f64 / p.batches as f64).min(1.0));
        done as f64 + fraction
    }

    /// Seconds until the planned last epoch ends, from the mean completed-epoch duration (or,
    /// before the first epoch ends, from the pace of the current one). An upper bound when early
    /// stopping is on. None unless running with something to extrapolate from.
    pub fn eta_seconds(&self, now: f64) -> Option<f64> {
        if self.status != RunStatus::Running || self.epochs == 0 {
            return None;
        }
        let done = self.epochs_done();
        let remaining = (self.epochs as f64 - done).max(0.0);
        let durations: Vec<f64> = self
            .completed
            .iter()
            .map(|e| e.duration_s)
            .filter(|d| d.is_finite() && *d > 0.0)
            .collect();
        let per_epoch = if durations.is_empty() {
            let fraction = done - done.floor();
            let since = now - self.epoch_started_at?;
            if fraction <= 0.0 || since <= 0.0 {
                return None;
            }
            since / fraction
        } else {
            durations.iter().sum::<f64>() / durations.len() as f64
        };
        Some(remaining * per_epoch)
    }

    /// Seconds spent training, over every (re)start: up to `now` while running, up to the last
    /// event for a run whose trainer is gone. Pauses between a stop and a resume do not count.
    pub fn elapsed_seconds(&self, now: f64) -> Option<f64> {
        self.started_at?;
        let open = match self.segment_start {
            Some(start) if self.status.is_active() => (now - start).max(0.0),
            Some(start) => (self.last_event_at.unwrap_or(start) - start).max(0.0),
            None => 0.0,
        };
        Some(self.trained_s + open)
    }

    /// Marks an active run [`RunStatus::Lost`] when its scheduler task is over and it has been
    /// silent for [`SCHEDULER_LOST_GRACE_S`], or when it is running, silent for `quiet_s`
    /// seconds and its local trainer process is gone. Returns true when the status changed.
    pub fn check_lost(&mut self, now: f64, quiet_s: f64) -> bool {
        if self.status.is_active()
            && self.scheduled.as_ref().is_some_and(|s| s.ended)
            && now - self.last_event_at.unwrap_or(f64::NEG_INFINITY) >= SCHEDULER_LOST_GRACE_S
        {
            self.status = RunStatus::Lost;
            return true;
        }
        if self.status != RunStatus::Running {
            return false;
        }
        let (Some(pid), Some(last)) = (self.pid, self.last_event_at) else {
            return false;
        };
        if now - last < quiet_s {
            return false;
        }
        // A pid from another machine (a Slurm node) says nothing here; the scheduler's state
        // tells about those runs.
        if !self.host.is_empty() && self.host != super::paths::host_name() {
            return false;
        }
        if trainer_alive(pid, self.resumed_at) {
            return false;
        }
        self.status = RunStatus::Lost;
        true
    }
}

/// An epoch's line in the log: its losses, validation AUC and whether it is the best so far.
fn epoch_line(e: &EpochSummary) -> String {
    format!(
        "epoch {}/{}  loss train {:.4} valid {:.4}  AUC {:.4}{}",
        e.epoch,
        e.epochs,
        e.train.loss,
        e.valid.loss,
        e.valid.auc,
        if e.is_best { "  * best" } else { "" }
    )
}
