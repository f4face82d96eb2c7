//! Dotted-key access to a TOML table (`train.early_stopping.metric`), shared by loading,
//! sweeps and edits.

use toml::{Table, Value};

use super::error::nearest;
use super::spec::{self, SPECS};

pub(crate) fn get<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut segs = key.split('.');
    let mut v = table.get(segs.next()?)?;
    for seg in segs {
        v = v.as_table()?.get(seg)?;
    }
    Some(v)
}

pub(crate) fn get_mut<'a>(table: &'a mut Table, key: &str) -> Option<&'a mut Value> {
    let mut segs = key.split('.');
    let mut v = table.get_mut(segs.next()?)?;
    for seg in segs {
        v = v.as_table_mut()?.get_mut(seg)?;
    }
    Some(v)
}

pub(crate) fn remove(table: &mut Table, key: &str) {
    match key.rsplit_once('.') {
        None => {
            table.remove(key);
        }
        Some((parent, leaf)) => {
            if let Some(Value::Table(t)) = get_mut(table, parent) {
                t.remove(leaf);
            }
        }
    }
}

/// Set a dotted key, creating (or replacing non-table) parents.
pub(crate) fn set(table: &mut Table, key: &str, value: Value) {
    let segs: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for seg in &segs[..segs.len() - 1] {
        let entry = cur
            .entry(seg.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(t) = entry else { return };
        cur = t;
    }
    cur.insert(segs[segs.len() - 1].to_string(), value);
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("a string ({s:?})"),
        Value::Integer(i) => format!("an integer ({i})"),
        // Debug switches to an exponent for tiny and huge values (`5e-45`, not 45 decimals).
        Value::Float(f) => format!("a number ({f:?})"),
        Value::Boolean(b) => format!("a boolean ({b})"),
        Value::Datetime(d) => format!("a date ({d})"),
        Value::Array(_) => "a list".into(),
        Value::Table(_) => "a table".into(),
    }
}

pub(crate) fn unknown_field_message(key: &str) -> String {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let siblings = if spec::is_table(table) {
        spec::children(table)
    } else {
        Vec::new()
    };
    if let Some(s) = nearest(leaf, &siblings) {
        return format!(
            "unknown field `{key}`; did you mean `{}`?",
            spec::join(table, s)
        );
    }
    // The right name in the wrong table (`train.crop` for `data.crop`).
    let all: Vec<&str> = SPECS.iter().map(|s| s.key).collect();
    if let Some(s) = all.iter().find(|k| k.rsplit('.').next() == Some(leaf)) {
        return format!("unknown field `{key}`; did you mean `{s}`?");
    }
    if let Some(s) = nearest(key, &all) {
        return format!("unknown field `{key}`; did you mean `{s}`?");
    }
    if spec::is_table(table) {
        format!(
            "unknown field `{key}`; valid fields of {} are: {}",
            if table.is_empty() {
                "the top level".to_string()
            } else {
                format!("[{table}]")
            },
            siblings.join(", ")
        )
    } else {
        format!("unknown field `{key}`")
    }
}
