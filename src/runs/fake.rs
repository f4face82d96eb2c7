//! Test double for [`Launcher`] and synthetic run streams (dashboard tests, benchmarks, demos);
//! their epochs come from [`super::fixture`]'s generator.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::event::{DataSummary, Event, LogLevel};
use super::fixture::synthetic_epoch;
use super::launch::{CancelToken, LaunchedRun, Launcher};
use super::paths::{RunPaths, new_run_id};
use super::state::{RunState, RunStatus};
use super::tail::Tail;
use super::writer::EventWriter;
use crate::experiment::{Experiment, LauncherKind};

/// A [`Launcher`] that trains nothing: on a thread it writes a plausible event stream
/// (`started`, batches, epochs with consistent synthetic metrics, checkpoints, `finished`)
/// into a new run folder, pausing `delay` between events. Both launch modes run on a thread.
/// Honours its [`CancelToken`] (emits `cancelled`) and can be scripted to fail.
pub struct FakeLauncher {
    epochs: Option<usize>,
    batches: usize,
    delay: Duration,
    fail_at_epoch: Option<usize>,
    calls: Mutex<Vec<(String, LauncherKind)>>,
}

impl Default for FakeLauncher {
    fn default() -> Self {
        FakeLauncher {
            epochs: None,
            batches: 4,
            delay: Duration::from_millis(5),
            fail_at_epoch: None,
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl FakeLauncher {
    /// Epochs from the experiment, 4 batch events per epoch, 5 ms between events.
    pub fn new() -> FakeLauncher {
        FakeLauncher::default()
    }

    /// Runs this many epochs instead of the experiment's `train.epochs`.
    pub fn with_epochs(mut self, epochs: usize) -> FakeLauncher {
        self.epochs = Some(epochs);
        self
    }

    /// Batch events per epoch (at least 1).
    pub fn with_batches(mut self, batches: usize) -> FakeLauncher {
        self.batches = batches.max(1);
        self
    }

    /// Pause before each batch event.
    pub fn with_delay(mut self, delay: Duration) -> FakeLauncher {
        self.delay = delay;
        self
    }

    /// Emits `failed` instead of this epoch's `epoch` event.
    pub fn failing_at_epoch(mut self, epoch: usize) -> FakeLauncher {
        self.fail_at_epoch = Some(epoch);
        self
    }

    /// `(run_id, mode)` of every launch and resume so far, for assertions.
    pub fn calls(&self) -> Vec<(String, LauncherKind)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn record(&self, run_id: &str, kind: LauncherKind) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push((run_id.to_string(), kind));
        }
    }

    fn spawn(&self, script: Script, writer: EventWriter) -> Result<CancelToken> {
        let cancel = CancelToken::new();
        let token = cancel.clone();
        let (batches, delay, fail_at) = (self.batches.max(1), self.delay, self.fail_at_epoch);
        std::thread::Builder::new()
            .name(format!("fake-run-{}", script.run_id))
            .spawn(move || {
                // A fake has nobody to report a write error to but the stream itself.
                let _ = script.run(writer, batches, delay, fail_at, &token);
            })
            .context("starting the fake run's thread")?;
        Ok(cancel)
    }
}

impl Launcher for FakeLauncher {
    fn launch(&self, exp: &Experiment, runs_dir: &Path, kind: LauncherKind) -> Result<LaunchedRun> {
        let run_id = new_run_id(&exp.name);
        let paths = RunPaths::new(runs_dir.join(&run_id));
        let writer = EventWriter::create(&paths.dir)?;
        // The same resolved format the real trainer writes.
        let config = crate::experiment::to_toml(exp);
        super::write_atomic(&paths.config(), config.as_bytes())?;
        let script = Script {
            run_id: run_id.clone(),
            experiment: exp.name.clone(),
            config,
            epochs: self.epochs.unwrap_or(exp.train.epochs),
            start_epoch: 0,
            seed: exp.train.seed,
        };
        self.record(&run_id, kind);
        let cancel = self.spawn(script, writer)?;
        Ok(LaunchedRun {
            run_id,
            dir: paths.dir,
            cancel,
        })
    }

    fn resume(&self, run_dir: &Path, kind: LauncherKind) -> Result<LaunchedRun> {
        let paths = RunPaths::new(run_dir);
        let run_id = paths.id();
        let mut state = RunState::new(run_id.clone(), run_dir);
        for rec in Tail::new(paths.events()).poll() {
            state.apply(&rec?);
        }
        if state.status == RunStatus::Finished {
            bail!("run {run_id} already finished; nothing to resume");
        }
        let writer = EventWriter::append(run_dir)?;
        let script = Script {
            run_id: run_id.clone(),
            experiment: state.experiment.clone(),
            config: state.config.clone(),
            epochs: state.epochs,
            start_epoch: state.last_epoch().map_or(0, |e| e.epoch),
            seed: 0,
        };
        self.record(&run_id, kind);
        let cancel = self.spawn(script, writer)?;
        Ok(LaunchedRun {
            run_id,
            dir: paths.dir,
            cancel,
        })
    }
}

struct Script {
    run_id: String,
    experiment: String,
    config: String,
    epochs: usize,
    start_epoch: usize,
    seed: u64,
}

impl Script {
    fn run(
        &self,
        mut w: EventWriter,
        batches: usize,
        delay: Duration,
        fail_at: Option<usize>,
        cancel: &CancelToken,
    ) -> Result<()> {
        w.emit(started_event(self, batches))?;
        let mut best: Option<(usize, f64)> = None;
        for epoch in self.start_epoch + 1..=self.epochs {
            let epoch_start = std::time::Instant::now();
            for batch in 1..=batches {
                if cancel.is_cancelled() {
                    return w.emit(Event::Cancelled { epoch: epoch - 1 });
                }
                std::thread::sleep(delay);
                let progress = (epoch - 1) as f64 + batch as f64 / batches as f64;
                w.emit(Event::Batch {
                    epoch,
                    batch,
                    batches,
                    loss: 0.7 / (1.0 + progress),
                    lr: 1e-3,
                    images_per_sec: 500.0,
                })?;
            }
            if fail_at == Some(epoch) {
                return w.emit(Event::Failed {
                    error: format!("scripted failure in epoch {epoch}"),
                });
            }
            let mut summary = synthetic_epoch(epoch, self.epochs, self.seed);
            // Measured, as the trainer's are: ETAs in tests extrapolate from real time.
            summary.duration_s = epoch_start.elapsed().as_secs_f64();
            summary.is_best = best.is_none_or(|(_, auc)| summary.valid.auc > auc);
            if summary.is_best {
                best = Some((epoch, summary.valid.auc));
            }
            w.emit(Event::Epoch(summary))?;
            w.emit(checkpoint(epoch, "last"))?;
        }
        let (best_epoch, best_value) = best.unwrap_or((self.start_epoch, f64::NAN));
        w.emit(Event::Finished {
            best_epoch,
            metric: "valid_auc".into(),
            best_value,
            reason: "completed".into(),
        })
    }
}

fn started_event(s: &Script, batches: usize) -> Event {
    Event::Started {
        run_id: s.run_id.clone(),
        experiment: s.experiment.clone(),
        config: s.config.clone(),
        device: "fake".into(),
        epochs: s.epochs,
        batches,
        data: synthetic_data(),
        start_epoch: s.start_epoch,
        pid: std::process::id(),
        host: crate::runs::paths::host_name().to_string(),
        metric: "valid_auc".into(),
    }
}

fn checkpoint(epoch: usize, kind: &str) -> Event {
    Event::Checkpoint {
        epoch,
        kind: kind.into(),
        path: format!("checkpoints/{kind}"),
    }
}

fn synthetic_data() -> DataSummary {
    DataSummary {
        source: "synthetic".into(),
        train: 2560,
        valid: 640,
        test: 0,
        train_pos: 1024,
        valid_pos: 256,
        skipped: 0,
    }
}

/// Writes a complete, finished run of `epochs` epochs with `batches` batch events each into
/// `dir`, with timestamps from `t0` (fake time, 30 s per epoch). For benchmarks and UI demos.
pub fn write_synthetic_run(
    dir: &Path,
    name: &str,
    epochs: usize,
    batches: usize,
    t0: f64,
) -> Result<()> {
    let mut w = EventWriter::create(dir)?;
    let mut t = t0;
    let script = Script {
        run_id: RunPaths::new(dir).id(),
        experiment: name.into(),
        config: format!("name = \"{name}\"\n\n[train]\nepochs = {epochs}\n"),
        epochs,
        start_epoch: 0,
        seed: t0 as u64,
    };
    // As the trainer does: the resolved experiment beside the stream.
    super::write_atomic(&RunPaths::new(dir).config(), script.config.as_bytes())?;
    w.emit_at(t, started_event(&script, batches))?;
    let mut best = f64::NEG_INFINITY;
    let mut best_epoch = 0;
    for epoch in 1..=epochs {
        for batch in 1..=batches {
            t += 30.0 / batches as f64;
            let x = (epoch - 1) as f64 + batch as f64 / batches as f64;
            w.emit_at(
                t,
                Event::Batch {
                    epoch,
                    batch,
                    batches,
                    loss: 0.7 / (1.0 + x),
                    lr: 1e-3,
                    images_per_sec: 500.0,
                },
            )?;
        }
        let mut s = synthetic_epoch(epoch, epochs, script.seed);
        s.is_best = s.valid.auc > best;
        if s.is_best {
            (best, best_epoch) = (s.valid.auc, epoch);
        }
        w.emit_at(t, Event::Epoch(s))?;
        w.emit_at(t, checkpoint(epoch, "last"))?;
        if epoch % 10 == 0 {
            w.emit_at(
                t,
                Event::Log {
                    level: LogLevel::Info,
                    message: format!("epoch {epoch}: best valid_auc {best:.4}"),
                },
            )?;
        }
    }
    w.emit_at(
        t,
        Event::Finished {
            best_epoch,
            metric: "valid_auc".into(),
            best_value: best,
            reason: "completed".into(),
        },
    )
}
