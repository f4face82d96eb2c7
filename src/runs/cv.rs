//! Cross-validation across runs: each fold's best validation AUC, their mean and standard
//! deviation, and the out-of-fold AUC over every fold's validation predictions together (each
//! run's `valid_predictions.csv`, written at its best epoch). One split's AUC is a noisy
//! judge (about ±0.01 on 770 tiles); the folds together judge on every tile.
//!
//! Also which runs make a CV set: the runs `name.fold-k` one experiment with `folds = K`
//! launched ([`sets`]), which the runs list and the comparison show as one.

use std::collections::HashSet;

use anyhow::{Result, bail};

use super::paths::RunPaths;
use super::predictions::Prediction;
use super::state::{RunState, RunStatus};

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

/// Reads each run's best-epoch validation predictions and summarises them ([`summary_saved`]).
pub fn summary(runs: &[&RunState]) -> Result<CvSummary> {
    Ok(summary_saved(runs, saved_predictions(runs)?))
}

/// Summarises the predictions training saved ([`saved_predictions`]): each fold's figure is its
/// best validation AUC as the run recorded it.
pub fn summary_saved(runs: &[&RunState], preds: Vec<Vec<Prediction>>) -> CvSummary {
    let folds = runs
        .iter()
        .map(|r| (r.id.clone(), r.best_valid_auc()))
        .collect();
    pool(folds, preds)
}

/// Each run's validation predictions as training saved them (its best epoch's), in order.
pub fn saved_predictions(runs: &[&RunState]) -> Result<Vec<Vec<Prediction>>> {
    if runs.is_empty() {
        bail!("no runs given");
    }
    let mut preds = Vec::with_capacity(runs.len());
    for r in runs {
        let path = RunPaths::new(&r.dir).predictions();
        if !path.is_file() {
            bail!(
                "{} is missing (a run writes it at its best epoch; has {} finished one?)",
                path.display(),
                r.id
            );
        }
        preds.push(super::predictions::read(&path)?);
    }
    Ok(preds)
}

/// Summarises predictions scored afresh, one list per run (`cv --tta`): each fold's figure is
/// the AUC of its own list.
pub fn summary_of(runs: &[&RunState], preds: Vec<Vec<Prediction>>) -> CvSummary {
    let folds = runs
        .iter()
        .zip(&preds)
        .map(|(r, p)| {
            let (probs, labels): (Vec<f32>, Vec<u8>) = p.iter().map(|p| (p.prob, p.label)).unzip();
            (r.id.clone(), Some(crate::metrics::auc(&probs, &labels)))
        })
        .collect();
    pool(folds, preds)
}

/// The mean ± sd of the folds' figures and the AUC of every prediction together.
fn pool(folds: Vec<(String, Option<f64>)>, preds: Vec<Vec<Prediction>>) -> CvSummary {
    let (mut probs, mut labels) = (Vec::new(), Vec::new());
    let mut seen = HashSet::new();
    let mut repeated_ids = 0;
    for p in preds.into_iter().flatten() {
        if !seen.insert(p.id) {
            repeated_ids += 1;
        }
        labels.push(p.label);
        probs.push(p.prob);
    }
    let aucs: Vec<f64> = folds.iter().filter_map(|f| f.1).collect();
    let (mean_auc, sd_auc) = mean_sd(&aucs);
    CvSummary {
        folds,
        mean_auc,
        sd_auc,
        oof_auc: crate::metrics::auc(&probs, &labels),
        oof_tiles: probs.len(),
        repeated_ids,
    }
}

/// Mean and sample standard deviation (n - 1): NaN mean with no values, NaN sd with one.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = if values.len() > 1 {
        (values.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        f64::NAN
    };
    (mean, sd)
}

/// Runs launched together from one experiment with `[data.split] folds = K`.
#[derive(Debug, Clone, PartialEq)]
pub struct CvSet {
    /// The set's id: its first fold's run id (a run is in one set at most).
    pub id: String,
    /// The experiment's name without `.fold-k`.
    pub name: String,
    /// K.
    pub folds: usize,
    /// The fold runs' ids, in fold order (some folds may be missing: archived, not launched).
    pub runs: Vec<String>,
}

impl CvSet {
    /// Members of this set among `runs`, in fold order.
    pub fn members<'a>(&self, runs: &[&'a RunState]) -> Vec<&'a RunState> {
        self.runs
            .iter()
            .filter_map(|id| runs.iter().find(|r| &r.id == id).copied())
            .collect()
    }

    /// Every fold is here and finished: the out-of-fold AUC covers every tile.
    pub fn complete(&self, runs: &[&RunState]) -> bool {
        let m = self.members(runs);
        m.len() == self.folds && m.iter().all(|r| r.status == RunStatus::Finished)
    }
}

/// The fold a run is, when one experiment's `folds = K` launched it: (set name, fold, K, the
/// configuration with the fold and name taken out, which every fold of the set shares).
fn fold_of(r: &RunState) -> Option<(String, usize, usize, String)> {
    let exp = r.resolved.as_deref()?;
    let s = &exp.data.split;
    if s.folds < 2 {
        return None;
    }
    // `name.fold-k`, perhaps followed by later sweep axes (`name.fold-k.rotate-5`).
    let tag = format!(".fold-{}", s.fold);
    let at = exp
        .name
        .match_indices(&tag)
        .map(|(i, _)| i)
        .find(|&i| matches!(exp.name[i + tag.len()..].chars().next(), None | Some('.')))?;
    let name = format!("{}{}", &exp.name[..at], &exp.name[at + tag.len()..]);
    let mut shared = exp.clone();
    shared.name = name.clone();
    shared.data.split.fold = 0;
    Some((name, s.fold, s.folds, crate::experiment::to_toml(&shared)))
}

/// The CV sets among `runs` (of two runs or more), in the order their first run comes. Runs of
/// one experiment launched twice make two sets: a fold seen again starts the next set, in the
/// order the runs started.
pub fn sets(runs: &[&RunState]) -> Vec<CvSet> {
    let mut by_start: Vec<&RunState> = runs.to_vec();
    by_start.sort_by(|a, b| {
        let t = |r: &RunState| r.started_at.unwrap_or(f64::MAX);
        t(a).total_cmp(&t(b)).then_with(|| a.id.cmp(&b.id))
    });
    // (shared config, set name, K, per fold: run id)
    let mut found: Vec<(String, String, usize, Vec<Option<String>>)> = Vec::new();
    for r in by_start {
        let Some((name, fold, k, shared)) = fold_of(r) else {
            continue;
        };
        let slot = found
            .iter_mut()
            .find(|(c, _, _, f)| *c == shared && f.get(fold).is_some_and(|x| x.is_none()));
        match slot {
            Some((_, _, _, f)) => f[fold] = Some(r.id.clone()),
            None => {
                let mut f = vec![None; k];
                f[fold] = Some(r.id.clone());
                found.push((shared, name, k, f));
            }
        }
    }
    let mut out: Vec<CvSet> = found
        .into_iter()
        .filter_map(|(_, name, folds, f)| {
            let runs: Vec<String> = f.into_iter().flatten().collect();
            (runs.len() >= 2).then(|| CvSet {
                id: runs[0].clone(),
                name,
                folds,
                runs,
            })
        })
        .collect();
    let first = |s: &CvSet| runs.iter().position(|r| s.runs.contains(&r.id));
    out.sort_by_key(first);
    out
}
