//! The dashboard's view of experiment files, and the one place that calls the
//! `experiment` module (discovery, form fields, edits, variants, diffs).

use std::path::{Path, PathBuf};

use crate::experiment::Experiment;

// Interim stand-in for the `experiment` module's edit API while that branch is being
// written; see `api` at the end of this file. The lead swaps it at merge time.
use self::api as experiment;

/// Where and why an experiment file is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpError {
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub field: Option<String>,
    pub message: String,
}

impl ExpError {
    /// `line 3:7 (train.lr): message`.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(line) = self.line {
            s.push_str(&format!("line {line}"));
            if let Some(col) = self.col {
                s.push_str(&format!(":{col}"));
            }
        }
        if let Some(f) = &self.field {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("({f})"));
        }
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }
}

/// One file of `experiments/`: its experiments (several for a sweep) or its error.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpEntry {
    pub path: PathBuf,
    /// File stem, how the list names it.
    pub name: String,
    pub result: Result<Vec<Experiment>, ExpError>,
}

impl ExpEntry {
    pub fn is_valid(&self) -> bool {
        self.result.is_ok()
    }

    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone())
    }
}

/// Every experiment file under `dir`, sorted by name.
pub fn discover(dir: &Path) -> Vec<ExpEntry> {
    let mut v: Vec<ExpEntry> = experiment::discover(dir)
        .into_iter()
        .map(|(path, result)| ExpEntry {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            result,
            path,
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// One editable field of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldView {
    pub key: String,
    pub value: String,
    pub kind: String,
    pub help: String,
}

pub fn fields(exp: &Experiment) -> Vec<FieldView> {
    experiment::fields(exp)
        .into_iter()
        .map(|f| FieldView {
            key: f.key.to_string(),
            value: f.value.to_string(),
            kind: f.kind.to_string(),
            help: f.help.to_string(),
        })
        .collect()
}

/// Sets `key` from typed text; the error says why the value is refused.
pub fn set(exp: &mut Experiment, key: &str, value: &str) -> Result<(), String> {
    experiment::set_field(exp, key, value).map_err(|e| error_text(&e))
}

/// One step up or down (doubling/halving a learning rate, +1 on a count, next enum value).
pub fn step(exp: &mut Experiment, key: &str, up: bool) -> Result<(), String> {
    experiment::step_field(exp, key, up)
        .map(|_| ())
        .map_err(|e| error_text(&e))
}

pub fn save_variant(original: &Path, new_path: &Path, exp: &Experiment) -> Result<(), String> {
    experiment::save_variant(original, new_path, exp).map_err(|e| error_text(&e))
}

/// `(key, a, b)` for every field that differs.
pub fn diff(a: &Experiment, b: &Experiment) -> Vec<(String, String, String)> {
    experiment::diff(a, b)
        .into_iter()
        .map(|(k, x, y)| (k.to_string(), x.to_string(), y.to_string()))
        .collect()
}

/// A run's resolved configuration (the `Started` event's TOML).
pub fn parse_config(text: &str) -> Result<Experiment, String> {
    let mut v =
        experiment::load_str(text, "run", Path::new("."), &[]).map_err(|e| error_text(&e))?;
    if v.len() == 1 {
        Ok(v.remove(0))
    } else {
        Err(format!(
            "resolved configuration holds {} experiments, expected one",
            v.len()
        ))
    }
}

fn error_text(e: &impl std::fmt::Display) -> String {
    e.to_string()
}

impl std::fmt::Display for ExpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Interim implementation of the `experiment` API the dashboard uses (same names and
/// shapes), good enough to drive and test the dashboard: fields are the flattened TOML
/// of the experiment. Replaced by `crate::experiment` at merge.
mod api {
    use std::path::{Path, PathBuf};

    use super::ExpError;
    use crate::experiment::Experiment;

    fn err(message: impl Into<String>) -> ExpError {
        ExpError {
            line: None,
            col: None,
            field: None,
            message: message.into(),
        }
    }

    pub fn load_str(
        text: &str,
        _name: &str,
        _base_dir: &Path,
        _overrides: &[String],
    ) -> Result<Vec<Experiment>, ExpError> {
        toml::from_str::<Experiment>(text)
            .map(|e| vec![e])
            .map_err(|e| {
                let (line, col) = e
                    .span()
                    .map(|s| {
                        let before = &text[..s.start.min(text.len())];
                        let line = before.matches('\n').count() + 1;
                        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                        (Some(line), Some(col))
                    })
                    .unwrap_or((None, None));
                ExpError {
                    line,
                    col,
                    field: None,
                    message: e.message().to_string(),
                }
            })
    }

    pub fn discover(dir: &Path) -> Vec<(PathBuf, Result<Vec<Experiment>, ExpError>)> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| {
                let stem = p
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let r = std::fs::read_to_string(&p)
                    .map_err(|e| err(e.to_string()))
                    .and_then(|t| load_str(&t, &stem, dir, &[]))
                    .map(|mut v| {
                        for e in &mut v {
                            if e.name == "experiment" {
                                e.name = stem.clone();
                            }
                        }
                        v
                    });
                (p, r)
            })
            .collect()
    }

    pub struct Field {
        pub key: String,
        pub value: String,
        pub kind: String,
        pub help: String,
    }

    fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<(String, toml::Value)>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), other.clone())),
        }
    }

    fn flat(exp: &Experiment) -> Vec<(String, toml::Value)> {
        let mut out = Vec::new();
        if let Ok(v) = toml::Value::try_from(exp) {
            flatten("", &v, &mut out);
        }
        out
    }

    pub fn fields(exp: &Experiment) -> Vec<Field> {
        flat(exp)
            .into_iter()
            .map(|(key, v)| Field {
                kind: v.type_str().to_string(),
                value: match &v {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                help: String::new(),
                key,
            })
            .collect()
    }

    fn replace(exp: &mut Experiment, key: &str, value: toml::Value) -> Result<(), ExpError> {
        let mut root = toml::Value::try_from(&*exp).map_err(|e| err(e.to_string()))?;
        let mut cur = &mut root;
        let parts: Vec<&str> = key.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            cur = cur
                .get_mut(*p)
                .ok_or_else(|| err(format!("unknown field {key}")))?;
        }
        let t = cur
            .as_table_mut()
            .ok_or_else(|| err(format!("unknown field {key}")))?;
        t.insert(parts[parts.len() - 1].to_string(), value);
        *exp = root
            .try_into()
            .map_err(|e: toml::de::Error| err(format!("{key}: {}", e.message())))?;
        Ok(())
    }

    pub fn set_field(exp: &mut Experiment, key: &str, text: &str) -> Result<(), ExpError> {
        let cur = flat(exp)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| err(format!("unknown field {key}")))?;
        let v = match cur {
            toml::Value::String(_) => toml::Value::String(text.to_string()),
            _ => {
                let wrapped = format!("v = {text}");
                let t: toml::Table = toml::from_str(&wrapped)
                    .map_err(|_| err(format!("{key}: {text:?} is not a {}", cur.type_str())))?;
                let v = t["v"].clone();
                if v.type_str() != cur.type_str() && !(cur.is_float() && v.is_integer()) {
                    return Err(err(format!("{key}: {text:?} is not a {}", cur.type_str())));
                }
                if cur.is_float()
                    && v.as_float()
                        .or(v.as_integer().map(|i| i as f64))
                        .is_some_and(|x| x < 0.0)
                {
                    return Err(err(format!("{key}: must not be negative")));
                }
                match v {
                    toml::Value::Integer(i) if cur.is_float() => toml::Value::Float(i as f64),
                    v => v,
                }
            }
        };
        replace(exp, key, v)
    }

    pub fn step_field(exp: &mut Experiment, key: &str, up: bool) -> Result<(), ExpError> {
        let cur = flat(exp)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .ok_or_else(|| err(format!("unknown field {key}")))?;
        let v = match cur {
            toml::Value::Float(x) if key.ends_with("lr") || key.ends_with("weight_decay") => {
                toml::Value::Float(if up { x * 2.0 } else { x / 2.0 })
            }
            toml::Value::Float(x) => {
                toml::Value::Float(if up { x + 0.05 } else { (x - 0.05).max(0.0) })
            }
            toml::Value::Integer(i) => {
                toml::Value::Integer(if up { i + 1 } else { (i - 1).max(0) })
            }
            toml::Value::Boolean(b) => toml::Value::Boolean(!b),
            _ => return Err(err(format!("{key}: type a value with Enter"))),
        };
        replace(exp, key, v)
    }

    pub fn save_variant(
        _original: &Path,
        new_path: &Path,
        exp: &Experiment,
    ) -> Result<(), ExpError> {
        let text = toml::to_string(exp).map_err(|e| err(e.to_string()))?;
        if new_path.exists() {
            return Err(err(format!("{} exists", new_path.display())));
        }
        std::fs::write(new_path, text).map_err(|e| err(format!("{}: {e}", new_path.display())))
    }

    pub fn diff(a: &Experiment, b: &Experiment) -> Vec<(String, String, String)> {
        let fa = fields(a);
        let fb = fields(b);
        fa.into_iter()
            .filter_map(|x| {
                let y = fb.iter().find(|y| y.key == x.key)?;
                (x.value != y.value).then(|| (x.key, x.value, y.value.clone()))
            })
            .collect()
    }
}
