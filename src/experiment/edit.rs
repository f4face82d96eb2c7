//! Writing and editing experiments: the resolved `config.toml` of a run, the
//! dashboard's hyperparameter form (list, set, step), saving a variant that
//! keeps the original file's comments, and the diff of two experiments.
//!
//! Edits go through the same path as `--set` (parse, type-check, validate),
//! so the form can never hold a value the loader would refuse.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use toml::{Table, Value};

use super::load::{self, normalize_leaf, parse_value};
use super::schema::Experiment;
use super::spec::{self, Kind, SPECS, Step};
use super::sweep::{self, fmt_float};
use super::table::{get, remove, set};
use super::validate::{problems, warnings};

/// What kind of input a form field takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    Number,
    Integer,
    Bool,
    Choice(Vec<String>),
    Text,
    List,
}

/// One editable field of the hyperparameter form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Dotted key, as in the TOML and `--set` (`train.lr`).
    pub key: String,
    /// The value as displayed (and accepted back by [`set_field`]).
    pub value: String,
    pub kind: FieldKind,
    /// One line of help.
    pub help: String,
}

/// Identity fields: editable through [`set_field`], but not hyperparameters.
const IDENTITY: &[&str] = &["name", "description"];

fn hyperparameters() -> impl Iterator<Item = &'static spec::Spec> {
    SPECS.iter().filter(|s| !IDENTITY.contains(&s.key))
}

/// The experiment as a table of plain TOML values. f32 fields go through
/// their shortest f32 text, so 0.1f32 reads 0.1 rather than 0.10000000149.
pub(crate) fn to_table(exp: &Experiment) -> Result<Table, String> {
    let mut t =
        Table::try_from(exp).map_err(|e| format!("cannot serialise the experiment: {e}"))?;
    for s in SPECS.iter().filter(|s| s.kind == Kind::F32) {
        if let Some(Value::Float(f)) = get(&t, s.key) {
            let tidy = format!("{}", *f as f32).parse::<f64>().unwrap_or(*f);
            set(&mut t, s.key, Value::Float(tidy));
        }
    }
    Ok(t)
}

fn display(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::Float(f)) => fmt_float(*f),
        Some(Value::Integer(i)) => i.to_string(),
        Some(Value::Boolean(b)) => b.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => format!(
            "[{}]",
            a.iter()
                .map(|v| display(Some(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(other) => other.to_string(),
    }
}

fn field_kind(kind: Kind) -> FieldKind {
    match kind {
        Kind::F64 | Kind::F32 => FieldKind::Number,
        Kind::Int(_) => FieldKind::Integer,
        Kind::Bool => FieldKind::Bool,
        Kind::Choice(options) => FieldKind::Choice(options.iter().map(|s| s.to_string()).collect()),
        Kind::Text | Kind::OptText => FieldKind::Text,
        Kind::List | Kind::Lines => FieldKind::List,
        // One source is text; a list of them is typed as a TOML list.
        Kind::Paths => FieldKind::Text,
    }
}

/// Every hyperparameter, train first, then model, then data and augmentation.
pub fn fields(exp: &Experiment) -> Vec<Field> {
    let table = to_table(exp).unwrap_or_default();
    hyperparameters()
        .map(|s| Field {
            key: s.key.to_string(),
            value: display(get(&table, s.key)),
            kind: field_kind(s.kind),
            help: s.help.to_string(),
        })
        .collect()
}

/// Set one field from text, as `--set key=value` would. On error the
/// experiment is unchanged and the reason is returned.
pub fn set_field(exp: &mut Experiment, key: &str, value: &str) -> Result<(), String> {
    let spec = spec::spec(key).ok_or_else(|| unknown(key))?;
    let v = parse_value(value, spec.kind);
    let is_sweep = match &v {
        Value::Array(items) => !spec.kind.is_list() || items.iter().any(|i| i.is_array()),
        _ => false,
    };
    if is_sweep {
        return Err(format!(
            "`{key}` takes a single value here; sweeps belong in the experiment file"
        ));
    }
    set_value(exp, spec, v)
}

fn unknown(key: &str) -> String {
    match super::error::nearest(key, &SPECS.iter().map(|s| s.key).collect::<Vec<_>>()) {
        Some(n) => format!("unknown field `{key}`; did you mean `{n}`?"),
        None => format!("unknown field `{key}`"),
    }
}

fn set_value(exp: &mut Experiment, spec: &spec::Spec, mut v: Value) -> Result<(), String> {
    if let (Kind::Int(_), Value::Integer(i)) = (spec.kind, &v)
        && *i < 0
    {
        return Err(below_minimum(exp, spec, *i));
    }
    normalize_leaf(&mut v, spec.kind).map_err(|m| format!("`{}` {m}", spec.key))?;
    let mut table = to_table(exp)?;
    if spec.kind == Kind::OptText && v.as_str() == Some("") {
        remove(&mut table, spec.key);
    } else {
        set(&mut table, spec.key, v);
    }
    let new: Experiment = Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| format!("`{}`: {}", spec.key, e.message()))?;
    accept(exp, new, spec.key)
}

/// A negative whole number, refused with the field's real lower bound, in the words the
/// validation uses for 0: `-3` and `0` get the same message.
fn below_minimum(exp: &Experiment, spec: &spec::Spec, i: i64) -> String {
    let accepts = |n: i64| set_value(&mut exp.clone(), spec, Value::Integer(n)).is_ok();
    match (0..=1).find(|&n| accepts(n)) {
        Some(min) => format!("invalid `{}`: must be at least {min}, got {i}", spec.key),
        None => format!("invalid `{}`: must not be negative, got {i}", spec.key),
    }
}

/// Why the value of `key` is unusual though valid (a learning rate of 2), if it is.
pub fn field_warning(exp: &Experiment, key: &str) -> Option<String> {
    warnings(exp)
        .into_iter()
        .find(|(field, _)| *field == key)
        .map(|(_, why)| why)
}

/// Take `new` unless it adds a validation problem (or leaves one on `key`).
/// Problems elsewhere that were already there do not block an edit.
fn accept(exp: &mut Experiment, new: Experiment, key: &str) -> Result<(), String> {
    let before: HashSet<String> = problems(exp, None).into_iter().map(|e| e.message).collect();
    if let Some(p) = problems(&new, None)
        .into_iter()
        .find(|p| p.field.as_deref() == Some(key) || !before.contains(&p.message))
    {
        return Err(p.message);
    }
    *exp = new;
    Ok(())
}

/// Step a field up or down: learning rates and batch size x/÷ 2, integers
/// ±1, fractions and augmentation magnitudes ±0.05 (rotation ±5 degrees),
/// booleans toggle, choices cycle. Refuses a step the validation refuses.
pub fn step_field(exp: &mut Experiment, key: &str, up: bool) -> Result<(), String> {
    let spec = spec::spec(key).ok_or_else(|| unknown(key))?;
    let table = to_table(exp)?;
    let cur = get(&table, key);
    let f = cur.and_then(|v| v.as_float()).unwrap_or(0.0);
    let i = cur
        .and_then(|v| v.as_integer())
        .map_or(0, |i| i.max(0) as u64);
    let new = match spec.step {
        Step::Mul2 { seed, floor } => {
            let n = if up {
                if f <= 0.0 { seed } else { f * 2.0 }
            } else if floor > 0.0 && f / 2.0 < floor {
                0.0
            } else {
                f / 2.0
            };
            Value::Float(n)
        }
        Step::Add { by, min, max } => {
            let n = if up { f + by } else { f - by };
            // Round away binary noise (0.1 + 0.05 = 0.15000000000000002).
            Value::Float(((n.clamp(min, max)) * 1e9).round() / 1e9)
        }
        Step::IntAdd { by, min, max } => {
            let n = if up {
                i.saturating_add(by)
            } else {
                i.saturating_sub(by)
            };
            int(n.clamp(min, max))
        }
        Step::IntMul2 { min, seed } => {
            let n = if !up {
                i / 2
            } else if i == 0 {
                seed
            } else {
                i.saturating_mul(2)
            };
            int(n.max(min))
        }
        Step::Folds => {
            let n = match (up, i) {
                (true, 0) => 2,
                (true, n) => n.saturating_add(1),
                (false, 0..=2) => 0,
                (false, n) => n - 1,
            };
            // Keep the chosen fold inside the new fold count.
            let mut trial = exp.clone();
            trial.data.split.fold = trial.data.split.fold.min((n as usize).saturating_sub(1));
            let v = int(n);
            set_value(&mut trial, spec, v)?;
            *exp = trial;
            return Ok(());
        }
        Step::Crop => {
            let c = if i == 0 { 96 } else { i };
            int(if up {
                (c + 8).min(96)
            } else {
                c.saturating_sub(8).max(32)
            })
        }
        Step::Resize => {
            let input = match exp.data.crop {
                0 => 96,
                c => u64::from(c),
            };
            let r = if i == 0 { input } else { i };
            int(if up {
                (r + 16).min(512)
            } else {
                r.saturating_sub(16).max(32)
            })
        }
        Step::Filters => {
            let mut list: Vec<Value> = cur.and_then(|v| v.as_array()).cloned().unwrap_or_default();
            if up {
                let last = list.last().and_then(|v| v.as_integer()).unwrap_or(16);
                list.push(Value::Integer(last.saturating_mul(2)));
            } else if list.len() > 1 {
                list.pop();
            } else {
                return Err(format!("`{key}` needs at least one conv block"));
            }
            Value::Array(list)
        }
        Step::Toggle => Value::Boolean(!cur.and_then(|v| v.as_bool()).unwrap_or(false)),
        Step::Cycle => match spec.kind {
            Kind::Choice(options) => cycle(options, cur.and_then(|v| v.as_str()), up),
            _ => return Err(format!("`{key}` cannot be stepped")),
        },
        Step::CycleText(options) => cycle(options, cur.and_then(|v| v.as_str()), up),
        Step::Typed => return Err(format!("`{key}` is text; type a new value instead")),
    };
    set_value(exp, spec, new)
}

fn int(n: u64) -> Value {
    Value::Integer(n.min(i64::MAX as u64) as i64)
}

fn cycle(options: &[&str], cur: Option<&str>, up: bool) -> Value {
    let n = options.len();
    let next = match options.iter().position(|o| Some(*o) == cur) {
        Some(p) if up => (p + 1) % n,
        Some(p) => (p + n - 1) % n,
        None => 0,
    };
    Value::String(options[next].to_string())
}

/// The hyperparameters that differ, as (key, value in a, value in b).
pub fn diff(a: &Experiment, b: &Experiment) -> Vec<(String, String, String)> {
    let ta = to_table(a).unwrap_or_default();
    let tb = to_table(b).unwrap_or_default();
    hyperparameters()
        .filter_map(|s| {
            let (va, vb) = (get(&ta, s.key), get(&tb, s.key));
            (va != vb).then(|| (s.key.to_string(), display(va), display(vb)))
        })
        .collect()
}

/// The full resolved configuration as TOML, every field in schema order
/// (what a run saves as `config.toml`). Loads back to an equal experiment.
pub fn to_toml(exp: &Experiment) -> String {
    let table = match to_table(exp) {
        Ok(t) => t,
        Err(e) => return format!("# {e}\n"),
    };
    let mut doc = toml_edit::DocumentMut::new();
    let header = format!(
        "# Resolved configuration of `{}`: every field, after extends, sweeps and overrides.\n",
        exp.name
    );
    for s in SPECS {
        if let Some(v) = get(&table, s.key) {
            doc_set(&mut doc, s.key, Some(to_edit(v)));
        }
    }
    format!("{header}{doc}")
}

fn to_edit(v: &Value) -> toml_edit::Value {
    match v {
        Value::String(s) => s.as_str().into(),
        Value::Integer(i) => (*i).into(),
        Value::Float(f) => float_repr(*f),
        Value::Boolean(b) => (*b).into(),
        Value::Datetime(d) => (*d).into(),
        Value::Array(a) => toml_edit::Value::Array(a.iter().map(to_edit).collect()),
        Value::Table(t) => {
            toml_edit::Value::InlineTable(t.iter().map(|(k, v)| (k.clone(), to_edit(v))).collect())
        }
    }
}

/// A float as people write it (`1e-3`, `0.05`, `2.0`), not `0.001`.
fn float_repr(f: f64) -> toml_edit::Value {
    let mut text = fmt_float(f);
    if f.is_finite() && !text.contains(['.', 'e']) {
        text.push_str(".0");
    }
    match text.parse::<toml_edit::Value>() {
        // Only if it reads back as this very float (inf/NaN are spelled differently).
        Ok(v) if v.as_float() == Some(f) => v,
        _ => f.into(),
    }
}

/// Width of a value as written, without its surrounding whitespace/comments.
fn width(v: &toml_edit::Value) -> usize {
    let mut bare = v.clone();
    bare.decor_mut().clear();
    bare.to_string().trim().chars().count()
}

/// Set (or with None remove) a dotted key in a document, creating missing
/// tables as `[headers]` and keeping the old value's comments.
fn doc_set(doc: &mut toml_edit::DocumentMut, key: &str, value: Option<toml_edit::Value>) {
    let (parent, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let mut cur: &mut dyn toml_edit::TableLike = doc.as_table_mut();
    if !parent.is_empty() {
        for seg in parent.split('.') {
            if cur.get(seg).is_none_or(|i| i.as_table_like().is_none()) {
                if value.is_none() {
                    return;
                }
                let mut t = toml_edit::Table::new();
                t.set_implicit(true);
                cur.insert(seg, toml_edit::Item::Table(t));
            }
            let Some(next) = cur.get_mut(seg).and_then(|i| i.as_table_like_mut()) else {
                return;
            };
            cur = next;
        }
    }
    match value {
        None => {
            cur.remove(leaf);
        }
        Some(mut v) => {
            if let Some(old) = cur.get_mut(leaf).and_then(|i| i.as_value_mut()) {
                let mut decor = old.decor().clone();
                // Keep a trailing comment in its column: `lr = 1e-3   # ...`.
                let suffix = decor.suffix().and_then(|s| s.as_str()).map(str::to_string);
                if let Some(suffix) = suffix
                    && let Some(hash) = suffix.find('#')
                    && suffix[..hash].chars().all(|c| c == ' ')
                {
                    let pad = (hash + width(old)).saturating_sub(width(&v)).max(1);
                    decor.set_suffix(format!("{}{}", " ".repeat(pad), &suffix[hash..]));
                }
                *v.decor_mut() = decor;
                *old = v;
            } else {
                cur.insert(leaf, toml_edit::Item::Value(v));
            }
        }
    }
}

/// Write `exp` as a new experiment file derived from `original`: the
/// original's text with only the differing keys changed (comments and layout
/// kept), `name` set when it is not the original's, written atomically and
/// never over an existing file. The result is checked to load back to `exp`.
pub fn save_variant(original: &Path, new_path: &Path, exp: &Experiment) -> anyhow::Result<()> {
    if new_path.exists() {
        bail!("{} already exists; choose another name", new_path.display());
    }
    let text = std::fs::read_to_string(original)
        .with_context(|| format!("cannot read {}", original.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", original.display()))?;
    let origs = load::load(original, &[])?;
    let mut merged = load::merged_table(original)?;
    let swept: HashSet<&str> = sweep::take_axes(&mut merged)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();

    let orig_dir = original.parent().unwrap_or(Path::new(""));
    let new_dir = new_path.parent().unwrap_or(Path::new(""));
    let same_dir = same_path(orig_dir, new_dir);

    let target = to_table(exp).map_err(anyhow::Error::msg)?;
    let orig_tables: Vec<Table> = origs
        .iter()
        .map(to_table)
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?;
    for s in hyperparameters() {
        let v = get(&target, s.key);
        let unchanged = orig_tables.iter().all(|t| get(t, s.key) == v);
        // Paths are relative to the file's folder: written out when it moves.
        let moved_path = !same_dir && s.key == "model.pretrained";
        if unchanged && !swept.contains(s.key) && !moved_path {
            continue;
        }
        doc_set(&mut doc, s.key, v.map(to_edit));
        if let Some(sweep) = doc.get_mut("sweep").and_then(|i| i.as_table_like_mut()) {
            sweep.remove(s.key);
        }
    }
    if doc
        .get("sweep")
        .and_then(|i| i.as_table_like())
        .is_some_and(|t| t.is_empty())
    {
        doc.remove("sweep");
    }
    // A run of the original keeps its name only if renamed; else the new
    // file's stem names it (two files with one name would share run folders).
    let stem = new_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .context("the new file needs a name")?;
    let renamed = !origs.iter().any(|o| o.name == exp.name);
    if renamed {
        doc_set(&mut doc, "name", Some(exp.name.as_str().into()));
    } else {
        doc.remove("name");
    }
    if origs
        .first()
        .is_some_and(|o| o.description != exp.description)
    {
        let d = (!exp.description.is_empty()).then(|| exp.description.as_str().into());
        doc_set(&mut doc, "description", d);
    }
    if !same_dir && let Some(rel) = doc.get("extends").and_then(|i| i.as_str()) {
        let parent = std::fs::canonicalize(orig_dir.join(rel)).with_context(|| {
            format!("cannot find `{rel}`, which {} extends", original.display())
        })?;
        doc_set(
            &mut doc,
            "extends",
            Some(parent.to_string_lossy().as_ref().into()),
        );
    }

    let file_name = original
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let out = format!("# Variant of {file_name}, saved from the histoboard dashboard.\n{doc}");

    // Check before writing: the new file must resolve to exactly this experiment.
    let mut expected = exp.clone();
    if !renamed {
        expected.name = stem.clone();
    }
    let loaded = load::load_str(&out, &stem, new_dir, &[])
        .map_err(|e| anyhow::anyhow!("the variant would not load: {e}"))?;
    match loaded.as_slice() {
        [one] if *one == expected => {}
        [one] => bail!(
            "the variant would not reproduce the edited experiment (differs in {})",
            diff(one, &expected)
                .into_iter()
                .map(|d| d.0)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many => bail!("the variant would expand to {} runs, not one", many.len()),
    }
    write_new(new_path, &out)
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
    };
    canon(a) == canon(b)
}

/// Write via a temporary file in the same folder, then link it into place:
/// the link fails if the target appeared meanwhile, so nothing is overwritten
/// and readers never see half a file.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the new file needs a name")?
        .to_string_lossy();
    let tmp: PathBuf = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("{} already exists; choose another name", path.display())
            }
            // Filesystems without hard links: check, then rename.
            Err(_) if !path.exists() => std::fs::rename(&tmp, path)
                .with_context(|| format!("cannot move {} into place", tmp.display())),
            Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}
