//! Cross-validation across runs: each fold's best validation AUC, their mean and standard
//! deviation, and the out-of-fold AUC over every fold's validation predictions together (each
//! run's `valid_predictions.csv`, written at its best epoch). One split's AUC is a noisy
//! judge (about ±0.01 on 770 tiles); the folds together judge on every tile.

use std::collections::HashSet;

use anyhow::{Result, bail};

use super::paths::RunPaths;
use super::state::RunState;

/// The figures of a set of runs taken as folds.
#[derive(Debug, Clone, PartialEq)]
pub struct CvSummary {
    /// Each run's id and best validation AUC.
    pub folds: Vec<(String, Option<f64>)>,
    pub mean_auc: f64,
    /// Sample standard deviation (n - 1); NaN with one fold.
    pub sd_auc: f64,
    /// AUC over every fold's validation predictions together.
    pub oof_auc: f64,
    /// Tiles in the out-of-fold set.
    pub oof_tiles: usize,
    /// Tile ids seen in more than one run: these runs are not folds of one split.
    pub repeated_ids: usize,
}

/// Reads each run's best-epoch validation predictions and summarises them.
pub fn summary(runs: &[&RunState]) -> Result<CvSummary> {
    if runs.is_empty() {
        bail!("no runs given");
    }
    let (mut probs, mut labels) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    let mut repeated_ids = 0;
    for r in runs {
        let path = RunPaths::new(&r.dir).predictions();
        if !path.is_file() {
            bail!(
                "{} is missing (a run writes it at its best epoch; has {} finished one?)",
                path.display(),
                r.id
            );
        }
        for p in super::predictions::read(&path)? {
            if !seen.insert(p.id) {
                repeated_ids += 1;
            }
            labels.push(p.label);
            probs.push(p.prob);
        }
    }
    let folds: Vec<(String, Option<f64>)> = runs
        .iter()
        .map(|r| (r.id.clone(), r.best_valid_auc()))
        .collect();
    let aucs: Vec<f64> = folds.iter().filter_map(|f| f.1).collect();
    let n = aucs.len() as f64;
    let mean_auc = aucs.iter().sum::<f64>() / n;
    let sd_auc = if aucs.len() > 1 {
        (aucs.iter().map(|a| (a - mean_auc).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    Ok(CvSummary {
        folds,
        mean_auc,
        sd_auc,
        oof_auc: crate::metrics::auc(&probs, &labels),
        oof_tiles: probs.len(),
        repeated_ids,
    })
}
