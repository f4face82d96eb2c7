//! `histoboard runs ls|archive|rm`: the dashboard's runs list and pruning, headless.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use histoboard::runs::{RunState, RunsWatcher, now_unix, prune};

use crate::RunsCmd;

pub fn run(cmd: RunsCmd) -> Result<()> {
    match cmd {
        RunsCmd::Ls { runs_dir, tag } => ls(&runs_dir, tag.as_deref()),
        RunsCmd::Archive { runs } => prune_each(&runs, false),
        RunsCmd::Rm { runs, yes } => {
            if !yes {
                bail!(
                    "deleting is for good ({}); add --yes to confirm, or archive instead",
                    describe(&runs)
                );
            }
            prune_each(&runs, true)
        }
    }
}

/// One line per run, newest first: status, id, experiment, epochs, best AUC, time, tags, note.
fn ls(runs_dir: &Path, tag: Option<&str>) -> Result<()> {
    let mut w = RunsWatcher::new(runs_dir);
    w.poll();
    let now = now_unix();
    let mut runs: Vec<&RunState> = w
        .states()
        .values()
        .map(|s| &**s)
        .filter(|s| tag.is_none_or(|t| s.meta.tags.iter().any(|x| x == t)))
        .collect();
    runs.sort_by(|a, b| {
        b.started_at
            .unwrap_or(f64::MAX)
            .total_cmp(&a.started_at.unwrap_or(f64::MAX))
            .then_with(|| b.id.cmp(&a.id))
    });
    println!(
        "{:<10} {:<44} {:<20} {:>7} {:>6} {:>6} {:>8}  tags / note",
        "status", "run", "experiment", "epoch", "AUC", "ECE", "time"
    );
    for r in runs {
        let mut extra = r.meta.tags.join(",");
        if !r.meta.note.is_empty() {
            extra.push_str(&format!(
                " {}",
                r.meta.note.lines().next().unwrap_or_default()
            ));
        }
        if r.problem_count > 0 {
            extra.push_str(&format!(" ! {} problem(s)", r.problem_count));
        }
        println!(
            "{:<10} {:<44} {:<20} {:>7} {:>6} {:>6} {:>8}  {}",
            r.status.label(),
            r.id,
            r.experiment,
            format!("{}/{}", r.epochs_completed(), r.epochs),
            r.best_valid_auc().map_or("-".into(), |a| format!("{a:.3}")),
            // The best epoch's calibration, beside its AUC.
            r.best_summary()
                .map(|e| e.valid.ece)
                .filter(|e| e.is_finite())
                .map_or("-".into(), |e| format!("{e:.3}")),
            r.elapsed_seconds(now)
                .map_or("-".into(), |s| format!("{:.0}s", s)),
            extra.trim()
        );
    }
    Ok(())
}

/// `2 runs, 41.2 MB` for run folders given as paths (sizes when they share a runs folder).
fn describe(runs: &[PathBuf]) -> String {
    let parts: Vec<(&Path, String)> = runs.iter().map(|r| split(r)).collect();
    match parts.first() {
        Some((dir, _)) if parts.iter().all(|(d, _)| d == dir) => {
            let ids: Vec<String> = parts.iter().map(|(_, id)| id.clone()).collect();
            prune::describe(dir, &ids)
        }
        _ => format!("{} runs", runs.len()),
    }
}

fn split(run: &Path) -> (&Path, String) {
    let dir = run.parent().filter(|p| !p.as_os_str().is_empty());
    (
        dir.unwrap_or(Path::new(".")),
        run.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

/// Archives or deletes each run folder; a live one is refused and the rest go on.
fn prune_each(runs: &[PathBuf], delete: bool) -> Result<()> {
    let mut failed = 0;
    for run in runs {
        let (dir, _) = split(run);
        let state = RunState::read(run);
        let done = if delete {
            prune::remove(dir, &state)
                .map(|b| format!("deleted {} ({})", run.display(), prune::human_bytes(b)))
        } else {
            prune::archive(dir, &state)
                .map(|to| format!("archived {} to {}", run.display(), to.display()))
        };
        match done {
            Ok(msg) => println!("{msg}"),
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} run(s) not pruned", runs.len());
    }
    Ok(())
}
