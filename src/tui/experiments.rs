//! The dashboard's view of experiment files, and the one place that calls the
//! `experiment` module (discovery, form fields, edits, variants, diffs).

use std::path::{Path, PathBuf};

use crate::experiment::{self, Experiment, ExperimentError, FieldKind};

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

impl From<&ExperimentError> for ExpError {
    fn from(e: &ExperimentError) -> Self {
        ExpError {
            line: e.line,
            col: e.col,
            field: e.field.clone(),
            message: e.message.clone(),
        }
    }
}

/// One file of `experiments/`: its experiments (several for a sweep) or its error.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpEntry {
    pub path: PathBuf,
    /// File stem, how the list names it.
    pub name: String,
    pub result: Result<Vec<Experiment>, ExpError>,
    /// [`SUMMARY_KEYS`] with every value the file's runs give them, worked out once here
    /// rather than on every frame.
    pub summary: Vec<(&'static str, String)>,
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
            summary: result.as_deref().map_or_else(|_| Vec::new(), summary),
            result: result.map_err(|e| ExpError::from(&e)),
            path,
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Keys worth seeing at a glance before launching.
pub const SUMMARY_KEYS: [&str; 10] = [
    "data.source",
    "data.limit",
    "model.arch",
    "model.filters",
    "train.epochs",
    "train.batch_size",
    "train.optimizer",
    "train.lr",
    "train.schedule",
    "train.device",
];

/// Each of [`SUMMARY_KEYS`] with its values over the runs of a file (several for a sweep).
fn summary(exps: &[Experiment]) -> Vec<(&'static str, String)> {
    let all: Vec<Vec<FieldView>> = exps.iter().map(fields).collect();
    let value = |f: &[FieldView], key: &str| Some(f.iter().find(|x| x.key == key)?.value.clone());
    SUMMARY_KEYS
        .into_iter()
        .filter_map(|key| {
            let mut vals = vec![value(all.first()?, key)?];
            for v in all[1..].iter().filter_map(|f| value(f, key)) {
                if !vals.contains(&v) {
                    vals.push(v);
                }
            }
            Some((key, vals.join(", ")))
        })
        .collect()
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
            kind: kind_label(&f.kind),
            key: f.key,
            value: f.value,
            help: f.help,
        })
        .collect()
}

fn kind_label(k: &FieldKind) -> String {
    match k {
        FieldKind::Number => "number".into(),
        FieldKind::Integer => "integer".into(),
        FieldKind::Bool => "true/false".into(),
        FieldKind::Choice(options) => options.join("|"),
        FieldKind::Text => "text".into(),
        FieldKind::List => "list".into(),
    }
}

/// Sets `key` from typed text; the error says why the value is refused.
pub fn set(exp: &mut Experiment, key: &str, value: &str) -> Result<(), String> {
    experiment::set_field(exp, key, value)
}

/// Why the value of `key` is unusual though accepted (a learning rate of 2), if it is.
pub fn warning(exp: &Experiment, key: &str) -> Option<String> {
    experiment::field_warning(exp, key)
}

/// One step up or down (doubling/halving a learning rate, +1 on a count, next enum value).
pub fn step(exp: &mut Experiment, key: &str, up: bool) -> Result<(), String> {
    experiment::step_field(exp, key, up)
}

pub fn save_variant(original: &Path, new_path: &Path, exp: &Experiment) -> Result<(), String> {
    experiment::save_variant(original, new_path, exp).map_err(|e| format!("{e:#}"))
}
