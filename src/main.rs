//! `histoboard`: the dashboard (no arguments) and the headless commands.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use histoboard::experiment;
use histoboard::runs::{CancelToken, Event};
use histoboard::train::checkpoint::Which;
use histoboard::train::infer::{self, InferOptions};
use histoboard::train::{self, TrainOptions};

#[derive(Parser)]
#[command(
    name = "histoboard",
    version,
    about = "Train, watch and compare cancer-detection experiments on histopathology tiles",
    long_about = "Without a command, opens the dashboard on the current folder \
                  (experiments/*.toml and runs/)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    dash: DashArgs,
}

#[derive(Args)]
struct DashArgs {
    /// Folder holding experiments/ and runs/.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// ASCII charts and borders instead of Unicode braille and box drawing.
    #[arg(long)]
    ascii: bool,
    /// Runs trained at the same time by the dashboard's worker threads.
    #[arg(long, default_value_t = 1)]
    max_concurrent: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Look at a data set, or measure the loader.
    #[command(subcommand)]
    Data(DataCmd),
    /// Train an experiment (a sweep trains each of its runs in turn).
    Train(TrainArgs),
    /// Score a trained run on a labelled set.
    Eval(EvalArgs),
    /// Write a Kaggle submission for an unlabelled set.
    Predict(PredictArgs),
    /// Measure training or inference speed (images/s) and peak memory.
    Bench(BenchArgs),
}

#[derive(Subcommand)]
enum DataCmd {
    /// Counts per label, tile size, bad tiles, and a few tiles drawn in the terminal.
    Inspect {
        /// Kaggle zip, Kaggle folder or tile folder (default: the bundled sample).
        path: Option<PathBuf>,
    },
    /// Tiles per second from the zip and from the packed cache, with augmentation.
    Bench { path: Option<PathBuf> },
}

#[derive(Args)]
struct TrainArgs {
    /// Experiment file (experiments/*.toml). Not needed with --resume.
    experiment: Option<PathBuf>,
    /// Override a setting, e.g. --set train.lr=5e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// auto, cpu, cuda or cuda:N (overrides train.device).
    #[arg(long)]
    device: Option<String>,
    /// Continue a stopped run from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Use this run id (the dashboard passes one for detached runs).
    #[arg(long, hide = true)]
    run_id: Option<String>,
    /// Folder that relative paths in the experiment resolve against.
    #[arg(long, hide = true)]
    base_dir: Option<PathBuf>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    plain: bool,
}

#[derive(Args)]
struct EvalArgs {
    run_dir: PathBuf,
    /// Labelled set: Kaggle zip or folder, or `bundled`.
    #[arg(long, default_value = "bundled")]
    data: String,
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Average the 8 flips and rotations of each tile.
    #[arg(long)]
    tta: bool,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    device: Option<String>,
}

#[derive(Args)]
struct PredictArgs {
    run_dir: PathBuf,
    /// Unlabelled set: a folder or zip with test/ (and sample_submission.csv).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "submission.csv")]
    out: PathBuf,
    #[arg(long, default_value = "best")]
    checkpoint: String,
    #[arg(long)]
    tta: bool,
    #[arg(long)]
    device: Option<String>,
}

#[derive(Args)]
struct BenchArgs {
    /// train (forward, backward, Adam step) or infer (forward only).
    #[arg(value_parser = ["train", "infer"])]
    mode: String,
    #[arg(long, default_value = "seed-cnn-3", value_parser = ["seed-cnn-3", "seed-cnn-5", "efficientnet-lite0"])]
    model: String,
    /// Default 64 for train, 256 for infer.
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => dashboard(cli.dash),
        Some(Command::Data(DataCmd::Inspect { path })) => {
            let stdout = std::io::stdout();
            histoboard::data::inspect(
                path.as_deref(),
                &mut stdout.lock(),
                &histoboard::data::InspectOptions::default(),
            )
        }
        Some(Command::Data(DataCmd::Bench { path })) => {
            let stdout = std::io::stdout();
            histoboard::data::bench(
                path.as_deref(),
                &histoboard::data::BenchOptions::default(),
                &mut stdout.lock(),
            )
            .map(|_| ())
        }
        Some(Command::Train(args)) => return train_cmd(args),
        Some(Command::Eval(args)) => eval_cmd(args),
        Some(Command::Predict(args)) => predict_cmd(args),
        Some(Command::Bench(args)) => histoboard::train::bench::run(
            &args.mode,
            &args.model,
            args.batch,
            args.steps,
            args.warmup,
            &args.device,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dashboard(args: DashArgs) -> Result<()> {
    let launcher = train::EngineLauncher::new(args.dir.join("experiments"))?;
    histoboard::tui::run(histoboard::tui::TuiOptions {
        dir: args.dir,
        ascii: args.ascii,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        max_concurrent: args.max_concurrent.max(1),
        launcher: Arc::new(launcher),
    })
}

/// Ctrl-C, SIGTERM and SIGHUP ask the run to checkpoint and stop; a second Ctrl-C quits at once.
fn install_cancel_signals(cancel: &CancelToken) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM, SIGHUP] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone())?;
        signal_hook::flag::register(sig, flag.clone())?;
    }
    let cancel = cancel.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            cancel.cancel();
        })?;
    Ok(())
}

fn train_cmd(args: TrainArgs) -> ExitCode {
    match train_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn train_inner(args: TrainArgs) -> Result<ExitCode> {
    let cancel = CancelToken::default();
    install_cancel_signals(&cancel)?;
    let (exps, base_dir) = match (&args.resume, &args.experiment) {
        // A resumed run reads its own resolved config.toml; this placeholder is not used.
        (Some(_), _) => (vec![experiment::Experiment::default()], PathBuf::from(".")),
        (None, Some(path)) => {
            let exps = experiment::load(path, &args.set).map_err(|e| anyhow::anyhow!("{e}"))?;
            let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (exps, base)
        }
        (None, None) => {
            bail!("name an experiment file (e.g. experiments/quick.toml) or --resume RUN_DIR")
        }
    };
    let base_dir = args.base_dir.clone().unwrap_or(base_dir);
    let fancy = !args.plain && std::io::stderr().is_terminal();
    let total = exps.len();
    let mut failed = 0;
    for (i, exp) in exps.iter().enumerate() {
        if cancel.is_cancelled() {
            break;
        }
        if total > 1 {
            eprintln!("== run {}/{total}: {}", i + 1, exp.name);
        }
        let (tx, rx) = mpsc::channel();
        let mut opts = TrainOptions::new(&args.runs_dir);
        opts.base_dir = base_dir.clone();
        opts.resume = args.resume.clone();
        opts.run_id = if total == 1 {
            args.run_id.clone()
        } else {
            None
        };
        opts.device = args.device.clone();
        opts.cancel = cancel.clone();
        opts.subscriber = Some(tx);
        let exp = exp.clone();
        let worker = std::thread::spawn(move || train::run(&exp, opts));
        let mut progress = Progress::new(fancy);
        for event in rx {
            progress.show(&event);
        }
        progress.done();
        match worker.join() {
            Ok(Ok(outcome)) if outcome.cancelled => {
                eprintln!(
                    "cancelled after epoch {}; resume with: histoboard train --resume {}",
                    outcome.epochs_done,
                    outcome.run_dir.display()
                );
                return Ok(ExitCode::from(130));
            }
            Ok(Ok(outcome)) => eprintln!(
                "finished: best epoch {} ({:.4}); run folder {}",
                outcome.best_epoch,
                outcome.best_value,
                outcome.run_dir.display()
            ),
            Ok(Err(e)) => {
                eprintln!("run failed: {e:#}");
                failed += 1;
            }
            Err(_) => {
                eprintln!("run failed: the training thread panicked");
                failed += 1;
            }
        }
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Headless progress: a live bar on a terminal, plain lines when piped.
struct Progress {
    fancy: bool,
    started: Instant,
    epochs: usize,
    last_epoch_s: f64,
    last_auc: f64,
    line_open: bool,
}

impl Progress {
    fn new(fancy: bool) -> Progress {
        Progress {
            fancy,
            started: Instant::now(),
            epochs: 0,
            last_epoch_s: 0.0,
            last_auc: f64::NAN,
            line_open: false,
        }
    }

    fn clear(&mut self) {
        if self.line_open {
            eprint!("\r\x1b[2K");
            self.line_open = false;
        }
    }

    fn show(&mut self, event: &Event) {
        match event {
            Event::Started {
                run_id,
                device,
                epochs,
                data,
                start_epoch,
                ..
            } => {
                self.epochs = *epochs;
                eprintln!(
                    "run {run_id} on {device}: {} train / {} valid tiles, {epochs} epochs{}",
                    data.train,
                    data.valid,
                    if *start_epoch > 0 {
                        format!(", resuming after epoch {start_epoch}")
                    } else {
                        String::new()
                    }
                );
            }
            Event::Batch {
                epoch,
                batch,
                batches,
                loss,
                lr,
                images_per_sec,
            } => {
                if self.fancy {
                    let width = 24;
                    let filled = width * batch / (*batches).max(1);
                    let per_batch = self.last_epoch_s.max(0.0) / (*batches).max(1) as f64;
                    let eta = if self.last_epoch_s > 0.0 {
                        let left_batches = (batches - batch) + (self.epochs - epoch) * batches;
                        format!(" ETA {}", fmt_secs(per_batch * left_batches as f64))
                    } else {
                        String::new()
                    };
                    eprint!(
                        "\r\x1b[2Kepoch {epoch}/{} [{}{}] {batch}/{batches} loss {loss:.4} lr {lr:.1e} {images_per_sec:.0} img/s AUC {:.4}{eta}",
                        self.epochs,
                        "=".repeat(filled),
                        " ".repeat(width - filled),
                        self.last_auc
                    );
                    let _ = std::io::stderr().flush();
                    self.line_open = true;
                }
            }
            Event::Epoch(e) => {
                self.clear();
                self.last_epoch_s = e.duration_s;
                self.last_auc = e.valid.auc;
                eprintln!(
                    "epoch {:>3}/{} loss {:.4} val_loss {:.4} val_acc {:.4} val_auc {:.4} {:.0} img/s {}{}",
                    e.epoch,
                    e.epochs,
                    e.train.loss,
                    e.valid.loss,
                    e.valid.accuracy,
                    e.valid.auc,
                    e.images_per_sec,
                    fmt_secs(e.duration_s),
                    if e.is_best { " *best" } else { "" }
                );
            }
            Event::Log { level, message } => {
                self.clear();
                eprintln!("[{level:?}] {message}");
            }
            Event::Failed { error } => {
                self.clear();
                eprintln!("failed: {error}");
            }
            Event::Finished {
                best_epoch,
                metric,
                best_value,
                reason,
            } => {
                self.clear();
                eprintln!(
                    "{reason} in {}: best {metric} {best_value:.4} at epoch {best_epoch}",
                    fmt_secs(self.started.elapsed().as_secs_f64())
                );
            }
            Event::Cancelled { .. } | Event::Checkpoint { .. } => {}
        }
    }

    fn done(&mut self) {
        self.clear();
    }
}

fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn eval_cmd(args: EvalArgs) -> Result<()> {
    let opts = InferOptions {
        run_dir: &args.run_dir,
        which: Which::parse(&args.checkpoint)?,
        tta: args.tta,
        device: args.device.as_deref(),
    };
    let trained_on = train::load_run_config(&args.run_dir)?.data.source;
    if trained_on == args.data {
        eprintln!(
            "note: `{}` is the set this run trained on; its training tiles inflate these figures \
             (the run's own validation figures are in its metrics.csv)",
            args.data
        );
    }
    let m = infer::evaluate(&opts, &args.data)?;
    let c = m.confusion;
    if args.json {
        let json = serde_json::json!({
            "auc": m.auc, "accuracy": m.accuracy, "precision": m.precision, "recall": m.recall,
            "specificity": m.specificity, "f1": m.f1, "average_precision": m.average_precision,
            "loss": m.loss, "n": m.n, "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn_,
            "youden_threshold": m.youden_threshold,
            "checkpoint": args.checkpoint, "tta": args.tta,
        });
        println!("{json}");
    } else {
        println!(
            "{} tiles, checkpoint {}{}",
            m.n,
            args.checkpoint,
            if args.tta { ", TTA x8" } else { "" }
        );
        println!("AUC         {:.4}", m.auc);
        println!("accuracy    {:.4}", m.accuracy);
        println!("precision   {:.4}", m.precision);
        println!("recall      {:.4}", m.recall);
        println!("specificity {:.4}", m.specificity);
        println!("F1          {:.4}", m.f1);
        println!("avg prec.   {:.4}", m.average_precision);
        println!("loss        {:.4}", m.loss);
        println!(
            "confusion at 0.5:  TP {}  FP {}  TN {}  FN {}",
            c.tp, c.fp, c.tn, c.fn_
        );
    }
    Ok(())
}

fn predict_cmd(args: PredictArgs) -> Result<()> {
    let opts = InferOptions {
        run_dir: &args.run_dir,
        which: Which::parse(&args.checkpoint)?,
        tta: args.tta,
        device: args.device.as_deref(),
    };
    let n = infer::predict(&opts, &args.data, &args.out)
        .with_context(|| format!("predicting into {}", args.out.display()))?;
    eprintln!("wrote {n} predictions to {}", args.out.display());
    Ok(())
}
