//! Runs side by side: the hyperparameters that differ and the best epoch's figures, one row
//! per run, or per CV set (its folds' mean ± sd, and the out-of-fold AUC once every fold has
//! finished). The dashboard's compare view and `histoboard export` (CSV) draw this one table.

use std::collections::HashMap;

use super::cv::{self, CvSet};
use super::state::RunState;
use crate::experiment::{self, Experiment};

/// The comparison table of some runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareTable {
    pub columns: Vec<String>,
    /// Per row: run id and one cell per column (the first column is the run id).
    pub rows: Vec<(String, Vec<String>)>,
    /// Runs whose configuration could not be read, with the reason.
    pub problems: Vec<String>,
    /// The CV sets shown as one row each: the row's id is the set's id.
    pub sets: Vec<CvSet>,
}

/// The figures after the differing hyperparameters, all of the best epoch (ECE: the expected
/// calibration error, lower is better).
pub const FIGURES: [&str; 6] = ["AUC", "acc", "loss", "ECE", "epochs", "time"];

/// The user's words last (a note is free text of any length): each column only when some run
/// has one.
pub const META: [&str; 2] = ["tags", "note"];

/// The column of the out-of-fold AUC, there when a CV set is compared.
pub const OOF: &str = "OOF AUC";

/// A row of the comparison: one run, or the runs of a CV set.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// The run's id, or the set's.
    pub id: String,
    pub runs: Vec<&'a RunState>,
    pub set: Option<CvSet>,
}

impl Group<'_> {
    /// What the row is called: the run id, or the set's name and fold count.
    pub fn label(&self) -> String {
        match &self.set {
            Some(s) => format!("{} ({} folds)", s.name, s.folds),
            None => self.id.clone(),
        }
    }
}

/// The rows of a comparison of `runs`, in their order: two folds or more of a CV set become one
/// row, where its first fold is. The table and the charts both draw these, so a row's colour
/// is its index here.
pub fn groups<'a>(runs: &[&'a RunState]) -> Vec<Group<'a>> {
    let sets = cv::sets(runs);
    let mut groups: Vec<Group> = Vec::new();
    for r in runs {
        match sets.iter().find(|s| s.runs.contains(&r.id)) {
            Some(s) if groups.iter().any(|g| g.id == s.id) => {}
            Some(s) => groups.push(Group {
                id: s.id.clone(),
                runs: s.members(runs),
                set: Some(s.clone()),
            }),
            None => groups.push(Group {
                id: r.id.clone(),
                runs: vec![r],
                set: None,
            }),
        }
    }
    groups
}

/// Builds the table for `runs` (one row per [`groups`] entry); `now` for the time of runs still
/// going. `oof` gives a complete set's out-of-fold AUC ([`oof_aucs`] reads them), by set id.
pub fn table(runs: &[&RunState], now: f64, oof: &HashMap<String, f64>) -> CompareTable {
    let items = groups(runs);
    let sets: Vec<CvSet> = items.iter().filter_map(|g| g.set.clone()).collect();
    let mut problems = Vec::new();
    // Parsed once by `runs` when each run started, not here. A set stands by its first fold.
    let configs: Vec<Option<&Experiment>> = items
        .iter()
        .map(|i| {
            let r = i.runs[0];
            if r.resolved.is_none() {
                problems.push(format!("{}: its configuration could not be read", r.id));
            }
            r.resolved.as_deref()
        })
        .collect();
    // Keys that differ anywhere, with each run's value for them.
    let mut keys: Vec<String> = Vec::new();
    let mut values: Vec<HashMap<String, String>> = vec![HashMap::new(); items.len()];
    if let Some((bi, base)) = configs
        .iter()
        .enumerate()
        .find_map(|(i, c)| Some((i, (*c)?)))
    {
        for (i, c) in configs.iter().enumerate() {
            let Some(c) = c else { continue };
            for (k, a, b) in experiment::diff(base, c) {
                if !keys.contains(&k) {
                    keys.push(k.clone());
                }
                values[bi].insert(k.clone(), a);
                values[i].insert(k, b);
            }
        }
        // The base value stands for runs that agree with it.
        for k in &keys {
            let base_v = values[bi].get(k).cloned().unwrap_or_default();
            for (i, c) in configs.iter().enumerate() {
                if c.is_some() {
                    values[i].entry(k.clone()).or_insert_with(|| base_v.clone());
                }
            }
        }
    }
    // `name` differs by construction and the run column already says it; a set row covers
    // every fold.
    keys.retain(|k| k != "name" && k != "description");
    let with_sets = items.iter().any(|i| i.set.is_some());
    let mut columns = vec!["run".to_string()];
    columns.extend(keys.iter().cloned());
    columns.extend(FIGURES.iter().map(|s| s.to_string()));
    columns.extend(with_sets.then(|| OOF.to_string()));
    let tags = runs.iter().any(|r| !r.meta.tags.is_empty());
    let note = runs.iter().any(|r| !r.meta.note.is_empty());
    columns.extend(tags.then(|| META[0].to_string()));
    columns.extend(note.then(|| META[1].to_string()));
    let rows = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut cells = vec![item.label()];
            for k in &keys {
                let v = values[i].get(k).cloned().unwrap_or_else(|| "?".into());
                let every_fold = item.set.is_some() && k == "data.split.fold";
                cells.push(if every_fold { "all".into() } else { v });
            }
            let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
            // One figure over the row's runs: the value, or the folds' mean ± sd.
            let figure = |get: fn(&crate::metrics::Metrics) -> f64| -> String {
                let v: Vec<f64> = item
                    .runs
                    .iter()
                    .filter_map(|r| r.best_summary().map(|e| get(&e.valid)))
                    .collect();
                match (&item.set, v.as_slice()) {
                    (None, _) | (Some(_), [] | [_]) => f(v.first().copied()),
                    (Some(_), _) => {
                        let (m, sd) = cv::mean_sd(&v);
                        format!("{m:.4}±{sd:.3}")
                    }
                }
            };
            cells.push(figure(|m| m.auc));
            cells.push(figure(|m| m.accuracy));
            cells.push(figure(|m| m.loss));
            cells.push(figure(|m| m.ece));
            cells.push(match &item.set {
                Some(s) => {
                    let done = item
                        .runs
                        .iter()
                        .filter(|r| r.status == super::RunStatus::Finished)
                        .count();
                    format!("{done}/{} folds", s.folds)
                }
                None => format!(
                    "{}/{}",
                    item.runs[0].epochs_completed(),
                    item.runs[0].epochs
                ),
            });
            let time: f64 = item
                .runs
                .iter()
                .map(|r| r.elapsed_seconds(now).unwrap_or(0.0))
                .sum();
            cells.push(format!("{time:.0}"));
            if with_sets {
                cells.push(f(item.set.as_ref().and_then(|s| oof.get(&s.id).copied())));
            }
            if tags {
                cells.push(
                    item.runs
                        .iter()
                        .flat_map(|r| r.meta.tags.clone())
                        .fold(Vec::<String>::new(), |mut all, t| {
                            if !all.contains(&t) {
                                all.push(t);
                            }
                            all
                        })
                        .join(", "),
                );
            }
            if note {
                let notes: Vec<&str> = item
                    .runs
                    .iter()
                    .map(|r| r.meta.note.as_str())
                    .filter(|n| !n.is_empty())
                    .collect();
                cells.push(notes.join("; "));
            }
            (item.id.clone(), cells)
        })
        .collect();
    CompareTable {
        columns,
        rows,
        problems,
        sets,
    }
}

/// The out-of-fold AUC of every complete CV set among `runs` (reading the folds' predictions,
/// as `histoboard cv` does), by set id; a set whose predictions cannot be read is left out.
pub fn oof_aucs(runs: &[&RunState]) -> HashMap<String, f64> {
    cv::sets(runs)
        .into_iter()
        .filter(|s| s.complete(runs))
        .filter_map(|s| {
            let summary = cv::summary(&s.members(runs)).ok()?;
            Some((s.id, summary.oof_auc))
        })
        .collect()
}

impl CompareTable {
    /// The table as CSV (RFC 4180 quoting), header first.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(&self.columns);
        for (_, cells) in &self.rows {
            let _ = w.write_record(cells);
        }
        let bytes = w.into_inner().unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}
