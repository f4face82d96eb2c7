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
pub mod loss;
pub mod optim;
pub mod saliency;
pub mod schedule;
mod trainer;

use std::path::PathBuf;
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

/// The fault-injection suite's hook. With `HISTOBOARD_FAILPOINT=NAME[@N][:pause]` set, the
/// first (or Nth) time the trainer reaches the point `NAME` the process aborts, as `kill -9`
/// would stop it; with `:pause` it says so on stderr and sleeps [`FAILPOINT_PAUSE`] instead,
/// so a test can signal it or fill its disk at a known instant. The points sit between the
/// writes whose order the durability promises rest on (README, "What survives what"). Unset,
/// a point costs one check of a cached value.
pub(crate) fn failpoint(name: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    struct Spec {
        point: String,
        nth: usize,
        pause: bool,
    }
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    static HITS: AtomicUsize = AtomicUsize::new(0);
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("HISTOBOARD_FAILPOINT").ok()?;
        let (v, pause) = match v.strip_suffix(":pause") {
            Some(v) => (v.to_string(), true),
            None => (v, false),
        };
        let (point, nth) = match v.split_once('@') {
            Some((p, n)) => (p.to_string(), n.parse().unwrap_or(1)),
            None => (v, 1),
        };
        Some(Spec { point, nth, pause })
    });
    let Some(spec) = spec else { return };
    if spec.point != name || HITS.fetch_add(1, Ordering::Relaxed) + 1 != spec.nth {
        return;
    }
    if spec.pause {
        eprintln!("failpoint {name}: paused");
        std::thread::sleep(FAILPOINT_PAUSE);
    } else {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// How long a `:pause` failpoint holds the trainer.
pub const FAILPOINT_PAUSE: std::time::Duration = std::time::Duration::from_secs(3);

// The dashboard reads run configurations too (the error gallery's tiles), without burn.
pub use crate::experiment::load_run_config;

/// Runs one experiment to the end (or until cancelled). Errors and panics are recorded as a
/// `failed` event in the run's stream before they are returned.
pub fn run(exp: &Experiment, opts: TrainOptions) -> Result<Outcome> {
    prepare(exp, opts)?.execute()
}

/// A run whose folder is written and whose event stream is open, ready to train.
pub struct PreparedRun {
    ctx: RunContext,
    emitter: Emitter,
}

/// Everything of [`run`] that can fail before training starts, done on the caller's thread:
/// the run folder, `config.toml` and the event stream (or, to resume, the checks that the folder
/// can be continued). A launcher that trains on another thread calls this first, so a runs
/// folder that cannot be written is an error it can show, not a run that silently never
/// appears.
pub fn prepare(exp: &Experiment, opts: TrainOptions) -> Result<PreparedRun> {
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
        // The stream first: a watcher that sees the folder then sees a run starting, never a
        // folder with a config and no stream (which reads as damaged).
        let writer = EventWriter::create(&dir)?;
        checkpoint::write_atomic(&paths.config(), crate::experiment::to_toml(&exp).as_bytes())?;
        writer
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
    Ok(PreparedRun { ctx, emitter })
}

impl PreparedRun {
    pub fn run_id(&self) -> &str {
        &self.ctx.run_id
    }

    /// Trains to the end (or until cancelled); see [`run`].
    pub fn execute(self) -> Result<Outcome> {
        let PreparedRun { ctx, emitter } = self;
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
