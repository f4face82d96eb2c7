//! `histoboard cv RUN... [--tta] [--out FILE]`: a cross-validation's folds, their mean ± sd, the
//! out-of-fold AUC (from the predictions saved in training, or scored again with TTA), and the
//! out-of-fold predictions themselves.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use histoboard::runs::paths::write_atomic;
use histoboard::runs::{RunState, cv, predictions};
use histoboard::train::checkpoint::Which;
use histoboard::train::infer::{self, InferOptions};

pub fn run(runs: &[PathBuf], tta: bool, device: Option<&str>, out: Option<&Path>) -> Result<()> {
    let states = super::read_runs(runs)?;
    let refs: Vec<&RunState> = states.iter().collect();
    let preds = if tta {
        let mut preds = Vec::with_capacity(runs.len());
        for dir in runs {
            let one = [dir.clone()];
            let opts = InferOptions {
                run_dirs: &one,
                which: Which::Best,
                tta: true,
                device,
                bad_tiles: None,
                // A temperature does not change an AUC.
                calibrated: false,
            };
            preds.push(infer::validation(&opts, dir)?);
        }
        preds
    } else {
        cv::saved_predictions(&refs)?
    };
    if let Some(path) = out {
        let rows = preds
            .iter()
            .flatten()
            .map(|p| (p.id.as_str(), p.label, p.prob));
        write_atomic(path, predictions::to_csv(rows).as_bytes()).with_context(|| {
            format!("writing the out-of-fold predictions to {}", path.display())
        })?;
    }
    let s = if tta {
        cv::summary_of(&refs, preds)
    } else {
        cv::summary_saved(&refs, preds)
    };
    for (id, auc) in &s.folds {
        println!(
            "{id:<48} best valid AUC {}",
            auc.map_or("-".into(), |a| format!("{a:.4}"))
        );
    }
    // One run has no spread to speak of.
    let spread = match s.folds.len() {
        0 | 1 => String::new(),
        _ => format!(" ± {:.4} (mean ± sd)", s.sd_auc),
    };
    println!(
        "{} folds{}: valid AUC {:.4}{spread}; out-of-fold AUC {:.4} over {} tiles",
        s.folds.len(),
        if tta { ", TTA x8" } else { "" },
        s.mean_auc,
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
