//! Runs side by side: the hyperparameters that differ and the best epoch's figures, one row
//! per run. The dashboard's compare view and `histoboard export` (CSV) draw this one table.

use std::collections::HashMap;

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
}

/// The figures after the differing hyperparameters.
pub const FIGURES: [&str; 5] = ["AUC", "acc", "loss", "epochs", "time"];

/// The user's words last (a note is free text of any length): each column only when some run
/// has one.
pub const META: [&str; 2] = ["tags", "note"];

/// Builds the table for `runs` (in their order); `now` for the time of runs still going.
pub fn table(runs: &[&RunState], now: f64) -> CompareTable {
    let mut problems = Vec::new();
    // Parsed once by `runs` when each run started, not here.
    let configs: Vec<Option<&Experiment>> = runs
        .iter()
        .map(|r| {
            if r.resolved.is_none() {
                problems.push(format!("{}: its configuration could not be read", r.id));
            }
            r.resolved.as_deref()
        })
        .collect();
    // Keys that differ anywhere, with each run's value for them.
    let mut keys: Vec<String> = Vec::new();
    let mut values: Vec<HashMap<String, String>> = vec![HashMap::new(); runs.len()];
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
    // `name` differs by construction and the run column already says it.
    keys.retain(|k| k != "name" && k != "description");
    let mut columns = vec!["run".to_string()];
    columns.extend(keys.iter().cloned());
    columns.extend(FIGURES.iter().map(|s| s.to_string()));
    let tags = runs.iter().any(|r| !r.meta.tags.is_empty());
    let note = runs.iter().any(|r| !r.meta.note.is_empty());
    columns.extend(tags.then(|| META[0].to_string()));
    columns.extend(note.then(|| META[1].to_string()));
    let rows = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![r.id.clone()];
            for k in &keys {
                cells.push(values[i].get(k).cloned().unwrap_or_else(|| "?".into()));
            }
            let best = r.best_summary();
            let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
            cells.push(f(best.map(|e| e.valid.auc)));
            cells.push(f(best.map(|e| e.valid.accuracy)));
            cells.push(f(best.map(|e| e.valid.loss)));
            cells.push(format!("{}/{}", r.epochs_completed(), r.epochs));
            cells.push(format!("{:.0}", r.elapsed_seconds(now).unwrap_or(0.0)));
            if tags {
                cells.push(r.meta.tags.join(", "));
            }
            if note {
                cells.push(r.meta.note.clone());
            }
            (r.id.clone(), cells)
        })
        .collect();
    CompareTable {
        columns,
        rows,
        problems,
    }
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
