//! `histoboard submit`: an experiment to Slurm as one job array, or a stopped run re-submitted.

use std::path::Path;

use anyhow::{Result, bail};

use histoboard::experiment::{self, LauncherKind};
use histoboard::slurm;

use crate::SubmitArgs;

/// Submits the experiment's runs with the flags' overrides (or only prints the script with
/// `--dry-run`), or re-submits `--resume RUN_DIR`.
pub fn run(args: SubmitArgs) -> Result<()> {
    if let Some(run_dir) = &args.resume {
        println!(
            "{}",
            super::control_here()?.resume(run_dir, LauncherKind::Slurm)?
        );
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
