//! Sweeps: lists in place of values (or a `[sweep]` table) expanded into the grid of runs, and
//! the run names that say each run's values.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::error::ExperimentError;
use super::spec::{self, Kind, SPECS};
use super::table::{describe, get, set, unknown_field_message};

/// Sweeps larger than this are almost certainly a mistake (a typo'd list).
pub(crate) const MAX_RUNS: usize = 1000;

pub(crate) fn check_sweep_table(v: &Value) -> Result<(), ExperimentError> {
    let Value::Table(t) = v else {
        return Err(ExperimentError::field(
            "sweep",
            format!(
                "`sweep` must be a table of dotted keys to lists, like [sweep] \"train.lr\" = [1e-3, 5e-4]; got {}",
                describe(v)
            ),
        ));
    };
    for (k, v) in t {
        if spec::spec(k).is_none() || k == "name" || k == "description" {
            let msg = unknown_field_message(k);
            return Err(ExperimentError::field(k, format!("in [sweep]: {msg}")));
        }
        if !v.is_array() {
            return Err(ExperimentError::field(
                k,
                format!(
                    "in [sweep]: `{k}` expects a list of values to try, got {}",
                    describe(v)
                ),
            ));
        }
    }
    Ok(())
}

/// The sweep axes of a merged table, in schema order: `[sweep]` entries and
/// lists where the schema has a scalar (or lists of lists for a list field).
/// Removes the `[sweep]` table.
pub(crate) fn take_axes(
    table: &mut Table,
) -> Result<Vec<(&'static str, Vec<Value>)>, ExperimentError> {
    let mut axes: BTreeMap<usize, (&'static str, Vec<Value>)> = BTreeMap::new();
    if let Some(Value::Table(sweep)) = table.remove("sweep") {
        for (k, v) in sweep {
            let Some(spec) = spec::spec(&k) else { continue };
            let Value::Array(values) = v else { continue };
            if spec.kind.is_list()
                && spec.kind != Kind::Paths
                && values.iter().any(|v| !v.is_array())
            {
                return Err(ExperimentError::field(
                    spec.key,
                    format!(
                        "in [sweep]: `{}` is a list field; give a list of lists, like [[16, 32], [32, 64]]",
                        spec.key
                    ),
                ));
            }
            axes.insert(spec::order(spec.key), (spec.key, values));
        }
    }
    // Identity fields are never swept: a list there is a type error.
    for s in SPECS
        .iter()
        .filter(|s| s.key != "name" && s.key != "description")
    {
        let Some(Value::Array(values)) = get(table, s.key) else {
            continue;
        };
        let is_axis = if s.kind.is_list() {
            let lists = values.iter().filter(|v| v.is_array()).count();
            // Sources may mix: `[["bundled", "bundled-extra"], "bundled"]` tries both.
            if lists > 0 && lists < values.len() && s.kind != Kind::Paths {
                return Err(ExperimentError::field(
                    s.key,
                    format!(
                        "`{}` mixes lists and values; a sweep of it is a list of lists, like [[16, 32], [32, 64]]",
                        s.key
                    ),
                ));
            }
            lists > 0
        } else {
            true
        };
        if !is_axis {
            continue;
        }
        if axes.contains_key(&spec::order(s.key)) {
            return Err(ExperimentError::field(
                s.key,
                format!("`{}` is swept twice: in [sweep] and as a list", s.key),
            ));
        }
        axes.insert(spec::order(s.key), (s.key, values.clone()));
    }
    Ok(axes.into_values().collect())
}

/// Split a table into its grid of runs: (name suffix, table without lists
/// in scalar places). The suffix is empty when there is no sweep.
pub(crate) fn expand(mut table: Table) -> Result<Vec<(String, Table)>, ExperimentError> {
    // Cross-validation: `folds = K` without a `fold` is one run per fold (`name.fold-0`...).
    if let Some(&Value::Integer(k)) = get(&table, "data.split.folds")
        && k >= 2
        && get(&table, "data.split.fold").is_none()
    {
        set(
            &mut table,
            "data.split.fold",
            Value::Array((0..k).map(Value::Integer).collect()),
        );
    }
    let axes = take_axes(&mut table)?;
    let mut total: usize = 1;
    for (key, values) in &axes {
        if values.is_empty() {
            return Err(ExperimentError::field(
                *key,
                format!("`{key}`: empty list of values to sweep"),
            ));
        }
        total = total.saturating_mul(values.len());
    }
    if total > MAX_RUNS {
        return Err(ExperimentError::new(format!(
            "the sweep expands to {total} runs, more than the {MAX_RUNS} allowed"
        )));
    }

    // Short labels: the last segment, unless two axes share it.
    let labels: Vec<String> = axes
        .iter()
        .map(|(k, _)| {
            let leaf = k.rsplit('.').next().unwrap_or(k);
            let shared = axes
                .iter()
                .filter(|(o, _)| o.rsplit('.').next() == Some(leaf))
                .count()
                > 1;
            if shared {
                k.replace('.', "-")
            } else {
                leaf.to_string()
            }
        })
        .collect();

    let mut runs = vec![(String::new(), table)];
    for ((key, values), label) in axes.iter().zip(&labels) {
        let mut next = Vec::with_capacity(runs.len() * values.len());
        for (suffix, t) in &runs {
            for v in values {
                let mut t = t.clone();
                set(&mut t, key, v.clone());
                let part = format!("{label}-{}", name_part(v));
                let suffix = if suffix.is_empty() {
                    part
                } else {
                    format!("{suffix}.{part}")
                };
                next.push((suffix, t));
            }
        }
        runs = next;
    }
    let mut seen = std::collections::HashSet::new();
    for (suffix, _) in &runs {
        if !suffix.is_empty() && !seen.insert(suffix.clone()) {
            return Err(ExperimentError::new(format!(
                "two runs of the sweep would both be named `{suffix}`; remove the repeated value"
            )));
        }
    }
    Ok(runs)
}

/// A value as it appears in a run name: `5e-4`, `0.05`, `16-32-64`, `adamw`.
/// Only `[A-Za-z0-9._+-]`, so names are safe as folder names everywhere.
pub(crate) fn name_part(v: &Value) -> String {
    let raw = match v {
        Value::Float(f) => fmt_float(*f),
        Value::Integer(i) => i.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(name_part).collect::<Vec<_>>().join("-"),
        other => other.to_string(),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Compact float: `1e-3`, `5e-4`, `0.05`, `2`, `1e6`.
pub(crate) fn fmt_float(f: f64) -> String {
    let a = f.abs();
    if f == 0.0 || (1e-2..1e5).contains(&a) || !f.is_finite() {
        format!("{f}")
    } else {
        format!("{f:e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_names() {
        assert_eq!(fmt_float(1e-3), "1e-3");
        assert_eq!(fmt_float(5e-4), "5e-4");
        assert_eq!(fmt_float(0.05), "0.05");
        assert_eq!(fmt_float(0.5), "0.5");
        assert_eq!(fmt_float(2.0), "2");
        assert_eq!(fmt_float(0.0), "0");
    }

    #[test]
    fn name_parts_are_filesystem_safe() {
        assert_eq!(name_part(&Value::String("cuda:0".into())), "cuda_0");
        assert_eq!(name_part(&Value::String("a/b c".into())), "a_b_c");
        let list = Value::Array(vec![Value::Integer(16), Value::Integer(32)]);
        assert_eq!(name_part(&list), "16-32");
    }
}
