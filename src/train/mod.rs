//! The training engine: runs an experiment and emits run events.
//!
//! It knows nothing of the terminal. Every run writes its events to `runs/<id>/events.jsonl`
//! (next to the resolved `config.toml`, `split.csv`, `metrics.csv` and `checkpoints/`), and
//! in-process subscribers can receive the same events over a channel.

pub mod agree;
pub mod bench;
pub mod checkpoint;
pub mod device;
pub mod infer;
pub mod launcher;
pub mod optim;
pub mod schedule;
mod trainer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::Sender;

use anyhow::{Context, Result};

use crate::experiment::Experiment;
use crate::runs::{CancelToken, Event, EventWriter, LogLevel, RunPaths};
use checkpoint::TrainerState;
use device::DeviceChoice;

pub use launcher::EngineLauncher;

/// How to run an experiment.
#[derive(Clone)]
pub struct TrainOptions {
    /// Folder that holds the run folders.
    pub runs_dir: PathBuf,
    /// Folder that relative paths in the experiment (pretrained weights) are resolved against.
    pub base_dir: PathBuf,
    /// Continue this run folder from its last checkpoint instead of starting a new run.
    pub resume: Option<PathBuf>,
    /// Use this run id (the launcher picks it up front so a watcher knows where to look).
    pub run_id: Option<String>,
    /// Overrides `train.device`.
    pub device: Option<String>,
    pub cancel: CancelToken,
    /// Receives every event in-process, besides the file on disk.
    pub subscriber: Option<Sender<Event>>,
}

impl TrainOptions {
    pub fn new(runs_dir: impl Into<PathBuf>) -> TrainOptions {
        TrainOptions {
            runs_dir: runs_dir.into(),
            base_dir: PathBuf::from("."),
            resume: None,
            run_id: None,
            device: None,
            cancel: CancelToken::default(),
            subscriber: None,
        }
    }
}

/// How a run ended (failures are errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub run_dir: PathBuf,
    pub cancelled: bool,
    pub epochs_done: usize,
    pub best_epoch: usize,
    pub best_value: f64,
}

impl Outcome {
    fn finished(run_dir: PathBuf, s: &TrainerState) -> Outcome {
        Outcome {
            run_dir,
            cancelled: false,
            epochs_done: s.epoch,
            best_epoch: s.best_epoch,
            best_value: s.best_value,
        }
    }

    fn cancelled(run_dir: PathBuf, s: &TrainerState) -> Outcome {
        Outcome {
            cancelled: true,
            ..Outcome::finished(run_dir, s)
        }
    }
}

/// Sends each event to disk and to the in-process subscriber.
pub(crate) struct Emitter {
    writer: Mutex<EventWriter>,
    subscriber: Option<Sender<Event>>,
}

impl Emitter {
    pub(crate) fn emit(&self, event: Event) -> Result<()> {
        if let Some(tx) = &self.subscriber {
            // A subscriber that went away (a closed dashboard) must not stop training.
            let _ = tx.send(event.clone());
        }
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .emit(event)
    }

    pub(crate) fn log(&self, level: LogLevel, message: String) -> Result<()> {
        self.emit(Event::Log { level, message })
    }
}

pub(crate) struct RunContext {
    pub exp: Experiment,
    pub run_id: String,
    pub paths: RunPaths,
    pub base_dir: PathBuf,
    pub resuming: bool,
    pub cancel: CancelToken,
}

/// Reads a run folder's resolved experiment.
pub fn load_run_config(run_dir: &Path) -> Result<Experiment> {
    let paths = RunPaths::new(run_dir);
    let text = std::fs::read_to_string(paths.config())
        .with_context(|| format!("reading {}", paths.config().display()))?;
    let name = run_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("run");
    let mut exps = crate::experiment::load_str(&text, name, run_dir, &[])
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("parsing {}", paths.config().display()))?;
    exps.pop()
        .with_context(|| format!("{} holds no experiment", paths.config().display()))
}

/// Runs one experiment to the end (or until cancelled). Errors and panics are recorded as a
/// `failed` event in the run's stream before they are returned.
pub fn run(exp: &Experiment, opts: TrainOptions) -> Result<Outcome> {
    let (exp, run_id, dir, resuming) = match &opts.resume {
        Some(dir) => {
            let exp = load_run_config(dir)?;
            let id = dir
                .file_name()
                .and_then(|n| n.to_str())
                .context("run folder has no name")?
                .to_string();
            (exp, id, dir.clone(), true)
        }
        None => {
            let id = opts
                .run_id
                .clone()
                .unwrap_or_else(|| crate::runs::new_run_id(&exp.name));
            let dir = opts.runs_dir.join(&id);
            (exp.clone(), id, dir, false)
        }
    };
    let paths = RunPaths::new(&dir);
    let writer = if resuming {
        EventWriter::append(&dir)?
    } else {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        checkpoint::write_atomic(&paths.config(), crate::experiment::to_toml(&exp).as_bytes())?;
        EventWriter::create(&dir)?
    };
    let emitter = Emitter {
        writer: Mutex::new(writer),
        subscriber: opts.subscriber.clone(),
    };
    let mut exp = exp;
    if let Some(d) = &opts.device {
        exp.train.device = d.clone();
    }
    let ctx = RunContext {
        exp,
        run_id,
        paths,
        base_dir: opts.base_dir.clone(),
        resuming,
        cancel: opts.cancel.clone(),
    };
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(&ctx, &emitter)))
            .unwrap_or_else(|panic| {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(anyhow::anyhow!("the trainer panicked: {msg}"))
            });
    if let Err(e) = &result {
        let _ = emitter.emit(Event::Failed {
            error: format!("{e:#}"),
        });
    }
    result
}

fn dispatch(ctx: &RunContext, emitter: &Emitter) -> Result<Outcome> {
    let resolved = device::resolve(&ctx.exp.train.device)?;
    if let Some(note) = &resolved.note {
        emitter.log(LogLevel::Info, note.clone())?;
    }
    match resolved.choice {
        DeviceChoice::Cpu => trainer::train_on::<burn::backend::Autodiff<burn::backend::Flex>>(
            ctx,
            emitter,
            Default::default(),
            &resolved.description,
        ),
        DeviceChoice::Cuda(i) => trainer::train_on::<burn::backend::Autodiff<burn::backend::Cuda>>(
            ctx,
            emitter,
            burn::backend::cuda::CudaDevice::new(i),
            &resolved.description,
        ),
    }
}
