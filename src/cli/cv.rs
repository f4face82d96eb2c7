//! `histoboard cv RUN...`: a cross-validation's folds, their mean ± sd, the out-of-fold AUC.

use std::path::PathBuf;

use anyhow::Result;

use histoboard::runs::{RunState, cv};

pub fn run(runs: &[PathBuf]) -> Result<()> {
    let states = super::read_runs(runs)?;
    let refs: Vec<&RunState> = states.iter().collect();
    let s = cv::summary(&refs)?;
    for (id, auc) in &s.folds {
        println!(
            "{id:<48} best valid AUC {}",
            auc.map_or("-".into(), |a| format!("{a:.4}"))
        );
    }
    println!(
        "{} folds: valid AUC {:.4} ± {:.4} (mean ± sd); out-of-fold AUC {:.4} over {} tiles",
        s.folds.len(),
        s.mean_auc,
        s.sd_auc,
        s.oof_auc,
        s.oof_tiles
    );
    if s.repeated_ids > 0 {
        eprintln!(
            "warning: {} tile(s) are in more than one run's validation set: these runs are not \
             the folds of one split (set data.split.folds and let it make the runs)",
            s.repeated_ids
        );
    }
    Ok(())
}
