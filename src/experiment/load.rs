//! Loading: TOML text -> `extends` chain -> `--set` overrides -> structure and
//! type checks -> sweep grid -> `Experiment`s -> validation.
//!
//! Everything works on plain `toml::Table`s until the very end, so `extends`
//! is a deep merge of tables and a sweep is a table with a list where the
//! schema has a scalar. Errors are located afterwards by looking the field up
//! in the files of the chain (child first), with toml_edit's spans.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::error::{ExperimentError, nearest};
use super::paths::{canonical, resolve_weights};
use super::schema::Experiment;
use super::spec::{self, Kind, SPECS};
use super::sweep::{check_sweep_table, expand};
use super::table::{describe, get, get_mut, remove, set, unknown_field_message};
use super::validate::problems;

/// `extends` chains deeper than this are refused (cycles are caught earlier).
const MAX_DEPTH: usize = 32;

/// Load an experiment file; one experiment, or one per grid point of a sweep.
///
/// `name` defaults to the file stem. `overrides` are `--set key=value` strings
/// (`train.lr=5e-4`, `model.filters=[16,32,64]`, `train.device=cpu`).
pub fn load(path: &Path, overrides: &[String]) -> Result<Vec<Experiment>, ExperimentError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ExperimentError::new(format!("cannot read experiment file: {e}")).in_file(path)
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "experiment".into());
    let base_dir = path.parent().unwrap_or(Path::new(""));
    resolve(path, &text, &name, base_dir, overrides, true)
}

/// Like [`load`] for text held in memory (the dashboard's edits). `name` is
/// the default name (the file stem) and `base_dir` the folder `extends` and
/// `model.pretrained` are relative to; errors name `base_dir/<name>.toml`.
pub fn load_str(
    text: &str,
    name: &str,
    base_dir: &Path,
    overrides: &[String],
) -> Result<Vec<Experiment>, ExperimentError> {
    let path = base_dir.join(format!("{name}.toml"));
    resolve(&path, text, name, base_dir, overrides, true)
}

/// Reads a run's saved, resolved experiment (`runs/<id>/config.toml`). Unlike [`load_str`] it
/// does not require `model.pretrained` to exist: the run's checkpoints hold every weight, and
/// the run may be evaluated or resumed from another folder or machine.
pub fn load_run_config_str(
    text: &str,
    name: &str,
    path: &Path,
) -> Result<Vec<Experiment>, ExperimentError> {
    let base_dir = path.parent().unwrap_or(Path::new("."));
    resolve(path, text, name, base_dir, &[], false)
}

/// Reads a run folder's resolved experiment (its `config.toml`).
pub fn load_run_config(run_dir: &Path) -> anyhow::Result<Experiment> {
    use anyhow::Context;
    let path = crate::runs::RunPaths::new(run_dir).config();
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let name = run_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("run");
    let mut exps = load_run_config_str(&text, name, &path)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("parsing {}", path.display()))?;
    exps.pop()
        .with_context(|| format!("{} holds no experiment", path.display()))
}

/// Every `*.toml` in `dir`, sorted by file name, each with its load result.
/// An unreadable folder yields an empty list (the dashboard shows "none").
pub fn discover(dir: &Path) -> Vec<(PathBuf, Result<Vec<Experiment>, ExperimentError>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    paths
        .into_iter()
        .map(|p| {
            let r = load(&p, &[]);
            (p, r)
        })
        .collect()
}

/// A file's table after `extends` (no overrides, no sweep expansion).
pub(crate) fn merged_table(path: &Path) -> Result<Table, ExperimentError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ExperimentError::new(format!("cannot read experiment file: {e}")).in_file(path)
    })?;
    with_parents(path, &text, &mut vec![canonical(path)], &mut Vec::new())
}

/// One file of an `extends` chain, kept to locate errors.
struct Source {
    path: PathBuf,
    text: String,
}

struct Ctx<'a> {
    /// Child first, then its parents.
    sources: Vec<Source>,
    overrides: &'a [String],
}

impl Ctx<'_> {
    fn child(&self) -> &Path {
        &self.sources[0].path
    }

    /// Attach file/line/col to an error about `err.field`: the override that
    /// set it, else the first file of the chain that mentions it.
    fn locate(&self, mut err: ExperimentError, point_at_key: bool) -> ExperimentError {
        if err.file.is_some() {
            return err;
        }
        let Some(field) = err.field.clone() else {
            return err.in_file(self.child());
        };
        if self
            .overrides
            .iter()
            .any(|o| o.split_once('=').is_some_and(|(k, _)| k.trim() == field))
        {
            err.message = format!("{} (set by --set)", err.message);
            return err.in_file(self.child());
        }
        for src in &self.sources {
            if let Some(offset) = find_offset(&src.text, &field, point_at_key) {
                return err.in_file(&src.path).at_offset(&src.text, offset);
            }
        }
        err.in_file(self.child())
    }
}

fn resolve(
    path: &Path,
    text: &str,
    default_name: &str,
    base_dir: &Path,
    overrides: &[String],
    check_weights: bool,
) -> Result<Vec<Experiment>, ExperimentError> {
    let mut ctx = Ctx {
        sources: Vec::new(),
        overrides,
    };
    let mut stack = vec![canonical(path)];
    let mut table = with_parents(path, text, &mut stack, &mut ctx.sources)?;

    for o in overrides {
        apply_override(&mut table, o).map_err(|e| e.in_file(path))?;
    }
    check_structure(&table, "").map_err(|e| ctx.locate(e, true))?;

    let base_name = match table.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => default_name.to_string(),
    };
    let runs = expand(table).map_err(|e| ctx.locate(e, false))?;

    let mut out = Vec::with_capacity(runs.len());
    for (suffix, mut table) in runs {
        normalize(&mut table).map_err(|e| ctx.locate(e, false))?;
        let mut exp: Experiment = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ctx.locate(ExperimentError::new(e.message()), false))?;
        exp.name = if suffix.is_empty() {
            base_name.clone()
        } else {
            format!("{base_name}.{suffix}")
        };
        let checked = check_weights.then_some(base_dir);
        if let Some(e) = problems(&exp, checked).into_iter().next() {
            return Err(ctx.locate(e, false));
        }
        if let Some(p) = resolve_weights(&exp.model.pretrained, base_dir) {
            exp.model.pretrained = p.to_string_lossy().into_owned();
        }
        out.push(exp);
    }
    Ok(out)
}

/// Parse one file and merge the files it extends under it (child wins).
fn with_parents(
    path: &Path,
    text: &str,
    stack: &mut Vec<PathBuf>,
    sources: &mut Vec<Source>,
) -> Result<Table, ExperimentError> {
    sources.push(Source {
        path: path.to_path_buf(),
        text: text.to_string(),
    });
    let mut table = parse(path, text)?;
    let at_extends = |msg: String| {
        let e = ExperimentError::field("extends", msg).in_file(path);
        match find_offset(text, "extends", false) {
            Some(o) => e.at_offset(text, o),
            None => e,
        }
    };
    let parent_rel = match table.remove("extends") {
        None => return Ok(table),
        Some(Value::String(s)) => s,
        Some(v) => {
            return Err(at_extends(format!(
                "`extends` expects a file name (a string), got {}",
                describe(&v)
            )));
        }
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let parent = dir.join(&parent_rel);
    let key = canonical(&parent);
    if let Some(i) = stack.iter().position(|p| *p == key) {
        let cycle: Vec<String> = stack[i..]
            .iter()
            .chain(std::iter::once(&key))
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        return Err(at_extends(format!(
            "`extends` cycle: {}",
            cycle.join(" -> ")
        )));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(at_extends(format!(
            "`extends` chain deeper than {MAX_DEPTH} files"
        )));
    }
    let parent_text = std::fs::read_to_string(&parent).map_err(|e| {
        at_extends(format!(
            "cannot read `{}` (extended here): {e}",
            parent.display()
        ))
    })?;
    stack.push(key);
    let mut base = with_parents(&parent, &parent_text, stack, sources)?;
    stack.pop();
    // A file's name and description describe that file, not its variants.
    base.remove("name");
    base.remove("description");
    // A key the child sets replaces the parent's sweep of it, either way round:
    // a scalar in the child ends a [sweep] entry of the parent, and a [sweep]
    // entry in the child replaces the parent's value or inline list.
    if let Some(Value::Table(sweep)) = base.get_mut("sweep") {
        sweep.retain(|k, _| get(&table, k).is_none());
    }
    if let Some(Value::Table(sweep)) = table.get("sweep") {
        for k in sweep.keys() {
            remove(&mut base, k);
        }
    }
    merge(&mut base, table);
    Ok(base)
}

fn parse(path: &Path, text: &str) -> Result<Table, ExperimentError> {
    text.parse::<Table>().map_err(|e| {
        let err = ExperimentError::new(format!("invalid TOML: {}", e.message())).in_file(path);
        match e.span() {
            Some(span) => err.at_offset(text, span.start),
            None => err,
        }
    })
}

/// Deep merge: tables merge key by key, anything else in `child` replaces.
fn merge(base: &mut Table, child: Table) {
    for (k, v) in child {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(c)) => merge(b, c),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Apply one `--set key=value`. The value is read as a TOML value (numbers,
/// booleans, lists, quoted strings), else taken as a bare string.
pub(crate) fn apply_override(table: &mut Table, o: &str) -> Result<(), ExperimentError> {
    let Some((key, raw)) = o.split_once('=') else {
        return Err(ExperimentError::new(format!(
            "--set `{o}`: expected key=value, like train.lr=5e-4"
        )));
    };
    let key = key.trim();
    let raw = raw.trim();
    let wrap = |e: ExperimentError| ExperimentError {
        message: format!("--set `{o}`: {}", e.message),
        ..e
    };
    let spec = match spec::spec(key) {
        Some(s) => s,
        None => {
            let msg = if key == "extends" || key.starts_with("sweep") {
                format!(
                    "`{key}` cannot be set from the command line; give a list instead, like train.lr=[1e-3,5e-4]"
                )
            } else if spec::is_table(key) {
                format!(
                    "`{key}` is a table; set one of its fields, like {key}.{}",
                    spec::children(key)[0]
                )
            } else {
                unknown_field_message(key)
            };
            return Err(wrap(ExperimentError::field(key, msg)));
        }
    };
    let value = parse_value(raw, spec.kind);
    // An override replaces a [sweep] of the same key, as a child file does.
    if let Some(Value::Table(sweep)) = table.get_mut("sweep") {
        sweep.remove(key);
    }
    set(table, key, value);
    Ok(())
}

/// A user-typed value: TOML syntax when it parses, else a bare string. Text
/// fields always take the raw text, so `data.source=2024` stays a path.
pub(crate) fn parse_value(raw: &str, kind: Kind) -> Value {
    let raw = raw.trim();
    if matches!(kind, Kind::Text | Kind::OptText | Kind::Paths)
        && !(raw.starts_with('"') || raw.starts_with('\'') || raw.starts_with('['))
    {
        return Value::String(raw.to_string());
    }
    let parsed = format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"));
    match parsed {
        Some(v) => v,
        // "32, 64, 128" for a list field: the brackets are implied.
        // A bare line for a list of lines is one line.
        None if kind == Kind::Lines => Value::Array(vec![Value::String(raw.to_string())]),
        // `[bundled, data/x.zip]` typed without quotes: the brackets say it is a list.
        None if kind == Kind::Paths && raw.starts_with('[') && raw.ends_with(']') => Value::Array(
            raw[1..raw.len() - 1]
                .split(',')
                .map(|s| s.trim().trim_matches(['"', '\'']))
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        None if kind.is_list() => format!("v = [{raw}]")
            .parse::<Table>()
            .ok()
            .filter(|t| t.len() == 1)
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| Value::String(raw.to_string())),
        None => Value::String(raw.to_string()),
    }
}

/// Unknown keys, tables where values belong and values where tables belong.
fn check_structure(table: &Table, prefix: &str) -> Result<(), ExperimentError> {
    for (k, v) in table {
        let key = spec::join(prefix, k);
        if prefix.is_empty() && k == "sweep" {
            check_sweep_table(v)?;
        } else if spec::is_table(&key) {
            match v {
                Value::Table(t) => check_structure(t, &key)?,
                other => {
                    return Err(ExperimentError::field(
                        &key,
                        format!(
                            "`{key}` must be a table, like [{key}], got {}",
                            describe(other)
                        ),
                    ));
                }
            }
        } else if spec::spec(&key).is_some() {
            if let Value::Table(_) = v {
                return Err(ExperimentError::field(
                    &key,
                    format!("`{key}` is a value, not a table"),
                ));
            }
        } else {
            return Err(ExperimentError::field(&key, unknown_field_message(&key)));
        }
    }
    Ok(())
}

/// Type-check every leaf against the schema, converting where the meaning is
/// unambiguous (an integer where a float goes, `3.0` where an integer goes).
fn normalize(table: &mut Table) -> Result<(), ExperimentError> {
    for s in SPECS {
        let Some(v) = get_mut(table, s.key) else {
            continue;
        };
        if let Err(msg) = normalize_leaf(v, s.kind) {
            return Err(ExperimentError::field(s.key, format!("`{}` {msg}", s.key)));
        }
        if s.kind == Kind::OptText && v.as_str() == Some("") {
            remove(table, s.key);
        }
    }
    Ok(())
}

pub(crate) fn normalize_leaf(v: &mut Value, kind: Kind) -> Result<(), String> {
    match kind {
        Kind::F64 | Kind::F32 => match v {
            Value::Float(_) => Ok(()),
            Value::Integer(i) => {
                *v = Value::Float(*i as f64);
                Ok(())
            }
            other => Err(format!("expects a number, got {}", describe(other))),
        },
        Kind::Int(max) => {
            *v = Value::Integer(whole(v, max)?);
            Ok(())
        }
        Kind::Bool => match v {
            Value::Boolean(_) => Ok(()),
            other => Err(format!("expects true or false, got {}", describe(other))),
        },
        Kind::Choice(options) => match v {
            Value::String(s) if options.contains(&s.as_str()) => Ok(()),
            Value::String(s) => {
                let hint = nearest(s, options)
                    .map(|n| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                Err(format!(
                    "must be one of {}, got `{s}`{hint}",
                    options.join(", ")
                ))
            }
            other => Err(format!(
                "expects one of {}, got {}",
                options.join(", "),
                describe(other)
            )),
        },
        Kind::Text | Kind::OptText => match v {
            Value::String(_) => Ok(()),
            other => Err(format!("expects a string, got {}", describe(other))),
        },
        Kind::Paths => match v {
            Value::String(_) => Ok(()),
            Value::Array(items) if items.iter().all(|i| i.is_str()) => Ok(()),
            other => Err(format!(
                "expects a string or a list of strings, like [\"bundled\", \"bundled-extra\"], got {}",
                describe(other)
            )),
        },
        Kind::Lines => match v {
            Value::Array(items) if items.iter().all(|i| i.is_str()) => Ok(()),
            other => Err(format!(
                "expects a list of strings, like [\"--constraint=h100\"], got {}",
                describe(other)
            )),
        },
        Kind::List => match v {
            Value::Array(items) => {
                for item in items.iter_mut() {
                    *item = Value::Integer(whole(item, usize::MAX as u64).map_err(|e| {
                        format!("expects a list of whole numbers, like [32, 64, 128]; an item {e}")
                    })?);
                }
                Ok(())
            }
            other => Err(format!(
                "expects a list of whole numbers, like [32, 64, 128], got {}",
                describe(other)
            )),
        },
    }
}

fn whole(v: &Value, max: u64) -> Result<i64, String> {
    let i = match v {
        Value::Integer(i) => *i,
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() && f.abs() < 9e15 => *f as i64,
        other => return Err(format!("expects a whole number, got {}", describe(other))),
    };
    if i < 0 {
        return Err(format!("expects a whole number >= 0, got {i}"));
    }
    if i as u64 > max {
        return Err(format!("must be at most {max}, got {i}"));
    }
    Ok(i)
}

/// Byte offset of a dotted key's value (or key) in `text`, also looking in a
/// `[sweep]` table. None when the text does not mention it.
fn find_offset(text: &str, field: &str, point_at_key: bool) -> Option<usize> {
    let doc = toml_edit::Document::parse(text).ok()?;
    let root = doc.as_table();
    let span_of = |table: &toml_edit::Table, leaf: &str| -> Option<usize> {
        let (key, item) = table.get_key_value(leaf)?;
        let span = if point_at_key {
            key.span()
        } else {
            item.span().or_else(|| key.span())
        };
        span.map(|s| s.start)
    };
    if let Some(t) = root.get("sweep").and_then(|i| i.as_table())
        && let Some(o) = span_of(t, field)
    {
        return Some(o);
    }
    let (parent, leaf) = field.rsplit_once('.').unwrap_or(("", field));
    let mut table = root;
    if !parent.is_empty() {
        for seg in parent.split('.') {
            table = table.get(seg)?.as_table()?;
        }
    }
    span_of(table, leaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_values() {
        assert_eq!(parse_value("5e-4", Kind::F64), Value::Float(5e-4));
        assert_eq!(parse_value("cpu", Kind::Text), Value::String("cpu".into()));
        assert_eq!(
            parse_value("cuda:1", Kind::Text),
            Value::String("cuda:1".into())
        );
        assert_eq!(
            parse_value("adamw", Kind::Choice(spec::OPTIMIZERS)),
            Value::String("adamw".into())
        );
        assert_eq!(
            parse_value("16, 32", Kind::List),
            Value::Array(vec![Value::Integer(16), Value::Integer(32)])
        );
        assert_eq!(
            parse_value("[bundled, data/x.zip]", Kind::Paths),
            Value::Array(vec![
                Value::String("bundled".into()),
                Value::String("data/x.zip".into())
            ])
        );
        assert_eq!(
            parse_value("data/x.zip", Kind::Paths),
            Value::String("data/x.zip".into())
        );
        // A newline must not smuggle in a second key.
        assert_eq!(
            parse_value("1\nx = 2", Kind::F64),
            Value::String("1\nx = 2".into())
        );
    }

    #[test]
    fn offsets_point_at_values_and_keys() {
        let text = "[train]\nlr = -1\n\n[sweep]\n\"model.dropout\" = [0.1]\n";
        let o = find_offset(text, "train.lr", false).unwrap();
        assert_eq!(&text[o..o + 2], "-1");
        let o = find_offset(text, "train.lr", true).unwrap();
        assert_eq!(&text[o..o + 2], "lr");
        let o = find_offset(text, "model.dropout", false).unwrap();
        assert_eq!(&text[o..o + 5], "[0.1]");
        assert_eq!(find_offset(text, "train.epochs", false), None);
    }
}
