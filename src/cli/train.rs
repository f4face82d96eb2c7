//! `histoboard train`: one experiment (a sweep run by run) or a resumed run, with headless
//! progress; also what a Slurm task runs (`--run-folder`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use histoboard::experiment;
use histoboard::runs::{CancelToken, RunPaths, now_unix};
use histoboard::train::checkpoint::{self, Which};
use histoboard::train::{self, TrainOptions};

use super::progress::{Progress, fmt_secs};
use crate::TrainArgs;

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

/// Trains each run of the experiment in turn (or resumes one); exit 130 when cancelled, 1 when
/// any run failed.
pub fn run(mut args: TrainArgs) -> Result<ExitCode> {
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
    let paths = RunPaths::new(dir);
    paths.refuse_links()?;
    // A pointer that exists but cannot be read must stop the requeue, not restart from scratch
    // over the run's saved epochs.
    let last = checkpoint::pointer_path(&paths.checkpoints(), Which::Last);
    if last.exists() {
        checkpoint::read_pointer(&paths.checkpoints(), Which::Last)?;
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
        let aside = dir.join(format!("events.{}.jsonl", now_unix() as u64));
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
