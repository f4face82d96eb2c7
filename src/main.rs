//! `histoboard`: the dashboard (no arguments) and the headless commands.
//!
//! This file is the command line's shape (clap definitions) and its dispatch; each command's
//! work is in its own module under `src/cli/`.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use histoboard::train::bench::ModelName;
use histoboard::train::checkpoint::Which;

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
    /// Fit a temperature on a run's best-epoch validation predictions (calibration.toml);
    /// eval and predict then apply it.
    Calibrate {
        /// The run folder (runs/<run-id>).
        run_dir: PathBuf,
    },
    /// Measure training or inference speed (images/s) and peak memory.
    Bench(BenchArgs),
    /// Submit an experiment to Slurm (a sweep becomes one job array), or re-submit a run.
    Submit(SubmitArgs),
    /// Stop a detached or Slurm run; it keeps its last checkpoint and can be resumed.
    Cancel {
        /// The run folder (runs/<run-id>).
        run_dir: PathBuf,
    },
    /// List runs, or prune them: archive (kept in runs/.archive/) or delete.
    #[command(subcommand)]
    Runs(RunsCmd),
    /// A cross-validation's figures: each fold's best AUC, mean ± sd, the out-of-fold AUC.
    Cv {
        /// The fold runs (an experiment with `[data.split] folds = K` makes them).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Score each fold's validation tiles again with its best checkpoint, averaging the 8
        /// flips and rotations of each tile, instead of reading the predictions saved in training.
        #[arg(long)]
        tta: bool,
        /// With --tta: where the models run (default: each run's own setting).
        #[arg(long)]
        device: Option<String>,
        /// Also write every fold's validation predictions, pooled, to this CSV (id,label,prob):
        /// the out-of-fold predictions the AUC is computed over.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The tiles a run gets most wrong (confident false positives and negatives, the most
    /// uncertain) as a contact sheet PNG and a CSV.
    Errors(ErrorsArgs),
    /// Write the curves, ROC and confusion of runs as SVG and PNG, and their comparison as CSV.
    Export {
        /// Run folders (runs/<run-id>); several are drawn on the same charts.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Folder for the files (created).
        #[arg(long, default_value = "export")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum RunsCmd {
    /// Every run, newest first, with its status, best AUC, time, tags and note.
    Ls {
        /// The runs folder.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        /// Only runs with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// Move runs to runs/.archive/: out of the lists, still on disk. Live runs are refused.
    Archive {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Delete runs for good. Live runs are refused.
    Rm {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Really delete (without it, says what would go).
        #[arg(long)]
        yes: bool,
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
        /// Kaggle zip, Kaggle folder, tile folder, `bundled` or `bundled-extra` (default: the
        /// bundled sample); several are combined into one set, as a list in `data.source` is.
        paths: Vec<String>,
    },
    /// Tiles per second from the zip and from the packed cache, with augmentation.
    Bench {
        /// As for `inspect`: one source or several, combined.
        paths: Vec<String>,
    },
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
    /// The run folder; several runs (a cross-validation's folds, or any list) are scored as
    /// an ensemble: their probabilities averaged.
    #[arg(required = true)]
    run_dirs: Vec<PathBuf>,
    /// Labelled set: Kaggle zip or folder, or `bundled`.
    #[arg(long, default_value = "bundled")]
    data: String,
    #[arg(long, value_enum, default_value = "best")]
    checkpoint: Which,
    /// Average the 8 flips and rotations of each tile.
    #[arg(long)]
    tta: bool,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    device: Option<String>,
    /// What to do with an unreadable tile: stop naming it (default: the run's setting), or skip
    /// it and score the rest.
    #[arg(long, value_enum)]
    bad_tiles: Option<histoboard::experiment::BadTilePolicy>,
    /// Leave the probabilities as the model gives them, though a run has a fitted temperature
    /// (calibration.toml).
    #[arg(long)]
    no_calibration: bool,
}

#[derive(Args)]
struct ErrorsArgs {
    /// The run folder (runs/<run-id>).
    run_dir: PathBuf,
    /// A labelled set to score with the run's checkpoint (Kaggle zip or folder, or `bundled`);
    /// without it, the run's validation split and its best epoch's predictions, no model run.
    #[arg(long)]
    data: Option<String>,
    /// With --data: the checkpoint that scores; with --saliency: the one explained.
    #[arg(long, value_enum, default_value = "best")]
    checkpoint: Which,
    /// With --data: average the 8 flips and rotations of each tile.
    #[arg(long)]
    tta: bool,
    /// Tiles in each group.
    #[arg(long, default_value_t = histoboard::gallery::DEFAULT_TOP)]
    top: usize,
    /// Folder for errors.png and errors.csv (created).
    #[arg(long)]
    out: PathBuf,
    /// Also compute input-gradient saliency maps (into the run's saliency/<checkpoint>/, where
    /// the dashboard finds them) and errors-saliency.png.
    #[arg(long)]
    saliency: bool,
    #[arg(long)]
    device: Option<String>,
}

#[derive(Args)]
struct PredictArgs {
    /// The run folder; several runs predict as an ensemble (probabilities averaged).
    #[arg(required = true)]
    run_dirs: Vec<PathBuf>,
    /// Unlabelled set: a folder or zip with test/ (and sample_submission.csv).
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "submission.csv")]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "best")]
    checkpoint: Which,
    #[arg(long)]
    tta: bool,
    #[arg(long)]
    device: Option<String>,
    /// Leave the probabilities as the model gives them, though a run has a fitted temperature
    /// (calibration.toml).
    #[arg(long)]
    no_calibration: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// train (forward, backward, Adam step), infer (forward only), agree (one forward and
    /// backward pass on real tiles on the CPU and on --device cuda, compared), or conv (the
    /// CPU convolution gradients, burn's against the project's kernels).
    #[arg(value_enum)]
    mode: BenchMode,
    #[arg(long, value_enum, default_value = "seed-cnn-3")]
    model: ModelName,
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

/// What `bench` measures (the help of its `mode` argument says what each does).
#[derive(Clone, Copy, ValueEnum)]
enum BenchMode {
    Train,
    Infer,
    Agree,
    Conv,
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
    let args = Cli::parse();
    let result = match args.command {
        None => cli::dashboard::run(args.dash),
        Some(Command::Data(cmd)) => cli::data::run(cmd),
        // Training chooses its own exit code (130 when cancelled).
        Some(Command::Train(args)) => return cli::exit_code(cli::train::run(args)),
        Some(Command::Eval(args)) => cli::eval::eval(args),
        Some(Command::Predict(args)) => cli::eval::predict(args),
        Some(Command::Calibrate { run_dir }) => cli::calibrate::run(&run_dir),
        Some(Command::Bench(args)) => cli::bench::run(args),
        Some(Command::Submit(args)) => cli::submit::run(args),
        Some(Command::Cancel { run_dir }) => cli::cancel::run(&run_dir),
        Some(Command::Runs(cmd)) => cli::runs::run(cmd),
        Some(Command::Cv {
            runs,
            tta,
            device,
            out,
        }) => cli::cv::run(&runs, tta, device.as_deref(), out.as_deref()),
        Some(Command::Export { runs, out }) => cli::export::run(&runs, &out),
        Some(Command::Errors(args)) => cli::errors::run(args),
    };
    cli::exit_code(result.map(|()| ExitCode::SUCCESS))
}
