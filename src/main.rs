//! `histoboard`: the dashboard (no arguments) and the headless commands.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use histoboard::control::Control;
use histoboard::experiment::{self, LauncherKind};
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
    /// Submit an experiment to Slurm (a sweep becomes one job array), or re-submit a run.
    Submit(SubmitArgs),
    /// Stop a detached or Slurm run; it keeps its last checkpoint and can be resumed.
    Cancel {
        /// The run folder (runs/<run-id>).
        run_dir: PathBuf,
    },
}

/// The experiment a command works on, and its overrides: the same for `train` and `submit`.
#[derive(Args)]
struct ExperimentArgs {
    /// Experiment file (experiments/*.toml). Not needed with --resume.
    experiment: Option<PathBuf>,
    /// Override a setting, e.g. --set train.lr=5e-4 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl ExperimentArgs {
    /// The experiment file's runs with the overrides applied.
    fn load(&self, path: &Path) -> Result<Vec<experiment::Experiment>> {
        experiment::load(path, &self.set).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

#[derive(Args)]
struct SubmitArgs {
    #[command(flatten)]
    exp: ExperimentArgs,
    /// The runs folder, shared with the compute nodes.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Overrides slurm.partition.
    #[arg(long)]
    partition: Option<String>,
    /// Overrides slurm.account.
    #[arg(long)]
    account: Option<String>,
    /// Overrides slurm.gpus (GPUs per run).
    #[arg(long)]
    gpus: Option<u32>,
    /// Overrides slurm.cpus (cores per run; 0 = the cluster's default).
    #[arg(long)]
    cpus: Option<u32>,
    /// Overrides slurm.mem, e.g. 32G ("" = the cluster's default).
    #[arg(long)]
    mem: Option<String>,
    /// Overrides slurm.time, [D-]HH:MM:SS.
    #[arg(long)]
    time: Option<String>,
    /// Overrides slurm.array_limit (runs of a sweep at once).
    #[arg(long)]
    array_limit: Option<u32>,
    /// Print the batch script and check the request against the partition's nodes (sinfo), as
    /// a real submission does; create no run and submit nothing. Fails, after the script, when
    /// no node of the partition could run it.
    #[arg(long)]
    dry_run: bool,
    /// Re-submit a stopped Slurm run (it resumes from its checkpoint).
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "experiment")]
    resume: Option<PathBuf>,
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
    #[command(flatten)]
    exp: ExperimentArgs,
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// auto, cpu, cuda or cuda:N (overrides train.device).
    #[arg(long)]
    device: Option<String>,
    /// Continue a stopped run from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Train the run prepared in this folder (its launch.toml), or resume it when it has a
    /// checkpoint: what a Slurm task runs, first time or requeued.
    #[arg(long, hide = true, value_name = "RUN_DIR", conflicts_with_all = ["experiment", "resume"])]
    run_folder: Option<PathBuf>,
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
    /// train (forward, backward, Adam step), infer (forward only), agree (one forward and
    /// backward pass on real tiles on the CPU and on --device cuda, compared), or conv (the
    /// CPU convolution gradients, burn's against the project's kernels).
    #[arg(value_parser = ["train", "infer", "agree", "conv"])]
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
    /// agree: the largest relative error (L2) allowed in logits, loss and each gradient.
    #[arg(long, default_value_t = 1e-3)]
    tolerance: f64,
}

/// Keeps freed tensor buffers in the process instead of handing them back to the kernel.
///
/// glibc serves large allocations with fresh `mmap`s and unmaps them on free, and gives each
/// thread its own arena; a CPU training step allocates and frees hundreds of megabytes, so
/// every step paid for zeroing new pages (a fifth of a seed-cnn-3 step in `perf`). One arena
/// that never unmaps or trims trained 49% faster with a smaller peak (BENCHMARKS.md).
/// `GLIBC_TUNABLES` naming malloc settings takes precedence.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("malloc")) {
            return;
        }
        // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        }
    }
}

fn main() -> ExitCode {
    tune_allocator();
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
        Some(Command::Submit(args)) => submit_cmd(args),
        Some(Command::Cancel { run_dir }) => cancel_cmd(&run_dir),
        Some(Command::Bench(args)) if args.mode == "conv" => {
            histoboard::kernels::bench(args.batch.unwrap_or(64), args.steps)
        }
        Some(Command::Bench(args)) if args.mode == "agree" => histoboard::train::agree::run(
            &args.model,
            &args.device,
            args.batch.unwrap_or(32),
            args.tolerance,
        ),
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
        control: Arc::new(Control::new(Arc::new(launcher), &args.dir)),
        dir: args.dir,
        ascii: args.ascii,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        max_concurrent: args.max_concurrent.max(1),
        cpu_threads: train::device::cpu_threads(),
    })
}

/// Launch, cancel and resume for the command line, as the dashboard has them.
fn control_here() -> Result<Control> {
    let launcher = train::EngineLauncher::new(".")?;
    Ok(Control::new(Arc::new(launcher), "."))
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

fn train_inner(mut args: TrainArgs) -> Result<ExitCode> {
    let cancel = CancelToken::default();
    install_cancel_signals(&cancel)?;
    if let Some(dir) = args.run_folder.take() {
        prepare_run_folder(&mut args, &dir)?;
    }
    let (exps, base_dir) = match (&args.resume, &args.exp.experiment) {
        // A resumed run reads its own resolved config.toml; this placeholder is not used.
        (Some(_), _) => (vec![experiment::Experiment::default()], PathBuf::from(".")),
        (None, Some(path)) => {
            let exps = args.exp.load(path)?;
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
            Ok(Ok(outcome)) => println!(
                "{} in {}: best {} {:.4} at epoch {}; run folder {}",
                progress
                    .state
                    .finished_reason
                    .as_deref()
                    .unwrap_or("finished"),
                fmt_secs(progress.trained_s()),
                progress.state.best_metric,
                outcome.best_value,
                outcome.best_epoch,
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

/// `--run-folder DIR` as the plain flags: resume when the folder has a checkpoint, else a
/// fresh run from its `launch.toml` under its own id. A stream left by an attempt that died
/// before its first checkpoint is kept aside, renamed, so the fresh start can begin its own.
fn prepare_run_folder(args: &mut TrainArgs, dir: &Path) -> Result<()> {
    use histoboard::runs::RunPaths;
    let paths = RunPaths::new(dir);
    paths.refuse_links()?;
    // A pointer that exists but cannot be read must stop the requeue, not restart from scratch
    // over the run's saved epochs.
    let last = histoboard::train::checkpoint::pointer_path(&paths.checkpoints(), Which::Last);
    if last.exists() {
        histoboard::train::checkpoint::read_pointer(&paths.checkpoints(), Which::Last)?;
        args.resume = Some(dir.to_path_buf());
        return Ok(());
    }
    let launch = paths.launch();
    if !launch.is_file() {
        bail!(
            "{} has neither a checkpoint nor a launch.toml: nothing to train",
            dir.display()
        );
    }
    let events = paths.events();
    if events.is_file() {
        let aside = dir.join(format!(
            "events.{}.jsonl",
            histoboard::runs::now_unix() as u64
        ));
        std::fs::rename(&events, &aside)
            .with_context(|| format!("moving {} aside to {}", events.display(), aside.display()))?;
        eprintln!(
            "note: no checkpoint yet; the earlier attempt's events are kept in {}",
            aside.display()
        );
    }
    args.exp.experiment = Some(launch);
    args.run_id = Some(paths.id());
    args.runs_dir = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(())
}

fn submit_cmd(args: SubmitArgs) -> Result<()> {
    use histoboard::slurm;
    if let Some(run_dir) = &args.resume {
        println!("{}", control_here()?.resume(run_dir, LauncherKind::Slurm)?);
        return Ok(());
    }
    let Some(path) = &args.exp.experiment else {
        bail!("name an experiment file (e.g. experiments/quick.toml) or --resume RUN_DIR");
    };
    let mut exps = args.exp.load(path)?;
    for exp in &mut exps {
        let s = &mut exp.slurm;
        if let Some(p) = &args.partition {
            s.partition = Some(p.clone());
        }
        if let Some(a) = &args.account {
            s.account = Some(a.clone());
        }
        if let Some(g) = args.gpus {
            s.gpus = g;
        }
        if let Some(c) = args.cpus {
            s.cpus = c;
        }
        if let Some(m) = &args.mem {
            s.mem = m.clone();
        }
        if let Some(t) = &args.time {
            s.time = t.clone();
        }
        if let Some(k) = args.array_limit {
            s.array_limit = k;
        }
    }
    // `submit x.toml` has an empty parent, which cannot be made absolute for the script.
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    // The flags went around the loader's checks: check again.
    for exp in &exps {
        experiment::validate(exp, &base_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut opts = slurm::SubmitOptions::new(&args.runs_dir, &base_dir)?;
    opts.dry_run = args.dry_run;
    let sub = slurm::submit(&exps, &opts)?;
    for w in &sub.warnings {
        eprintln!("warning: {w}");
    }
    match &sub.job_id {
        None => {
            print!("{}", sub.script);
            if let Some(why) = &sub.refused {
                bail!("{why}");
            }
        }
        Some(job) => {
            for (task, (id, _)) in sub.runs.iter().enumerate() {
                println!("{job}_{task}  {id}");
            }
            println!(
                "submitted {} run(s) as Slurm job array {job} in {:.0} ms; script: {}",
                sub.runs.len(),
                sub.elapsed.as_secs_f64() * 1e3,
                sub.runs[0].1.join(slurm::SCRIPT_FILE).display()
            );
        }
    }
    Ok(())
}

/// Stops a run started outside this process: Slurm runs through `scancel`, detached ones
/// through their trainer's pid. Either way the trainer checkpoints and writes `cancelled`.
fn cancel_cmd(run_dir: &Path) -> Result<()> {
    println!("{}", control_here()?.cancel(run_dir)?);
    Ok(())
}

/// Headless progress, drawn from the one run state the dashboard draws too: per-epoch
/// summaries on stdout (so `train ... > log` keeps them), a live bar and the log on stderr.
struct Progress {
    fancy: bool,
    state: histoboard::runs::RunState,
    line_open: bool,
}

impl Progress {
    fn new(fancy: bool) -> Progress {
        Progress {
            fancy,
            state: histoboard::runs::RunState::new("", ""),
            line_open: false,
        }
    }

    fn clear(&mut self) {
        clear_line(&mut self.line_open);
    }

    fn show(&mut self, event: &Event) {
        use histoboard::runs::{Record, SCHEMA_VERSION, now_unix};
        let now = now_unix();
        self.state.apply(&Record {
            v: SCHEMA_VERSION,
            t: now,
            event: event.clone(),
        });
        let st = &self.state;
        match event {
            Event::Started {
                run_id,
                data,
                start_epoch,
                ..
            } => {
                clear_line(&mut self.line_open);
                eprintln!(
                    "run {run_id} on {}: {} train / {} valid tiles, {} epochs{}",
                    st.device,
                    data.train,
                    data.valid,
                    st.epochs,
                    if *start_epoch > 0 {
                        format!(", resuming after epoch {start_epoch}")
                    } else {
                        String::new()
                    }
                );
            }
            Event::Batch { .. } if self.fancy => {
                let Some(p) = st.progress else { return };
                let width = 24;
                let filled = width * p.batch / p.batches.max(1);
                let eta = st
                    .eta_seconds(now)
                    .map_or(String::new(), |s| format!(" ETA {}", fmt_secs(s)));
                // The best epoch so far on the run's own metric; nothing before one ends.
                let best = st.best_value.map_or(String::new(), |v| {
                    format!(" best {} {v:.4}", st.best_metric)
                });
                eprint!(
                    "\r\x1b[2Kepoch {}/{} [{}{}] {}/{} loss {:.4} lr {:.1e} {:.0} img/s{best}{eta}",
                    p.epoch,
                    st.epochs,
                    "=".repeat(filled),
                    " ".repeat(width - filled),
                    p.batch,
                    p.batches,
                    p.loss,
                    p.lr,
                    st.images_per_sec,
                );
                let _ = std::io::stderr().flush();
                self.line_open = true;
            }
            Event::Epoch(e) => {
                clear_line(&mut self.line_open);
                println!(
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
                clear_line(&mut self.line_open);
                let level = match level {
                    histoboard::runs::LogLevel::Info => "info",
                    histoboard::runs::LogLevel::Warn => "warning",
                    histoboard::runs::LogLevel::Error => "error",
                };
                eprintln!("{level}: {message}");
            }
            Event::Failed { error } => {
                clear_line(&mut self.line_open);
                eprintln!("failed: {error}");
            }
            // The caller prints the one closing line, with the run folder.
            Event::Finished { .. }
            | Event::Cancelled { .. }
            | Event::Checkpoint { .. }
            | Event::Batch { .. } => {}
        }
    }

    fn done(&mut self) {
        self.clear();
    }

    /// Seconds spent training (a resumed run's pause not counted).
    fn trained_s(&self) -> f64 {
        self.state
            .elapsed_seconds(histoboard::runs::now_unix())
            .unwrap_or(0.0)
    }
}

/// Ends a live progress line, if one is open, so the next line starts clean.
fn clear_line(open: &mut bool) {
    if std::mem::take(open) {
        eprint!("\r\x1b[2K");
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
