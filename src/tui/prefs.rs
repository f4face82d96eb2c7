//! What the dashboard remembers between sessions, per project: `<dir>/.histoboard/ui.toml`.
//! Written by the shell (an `Effect`), read at start; a missing or broken file means defaults.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::panes::runs::{RunSort, SortKey};
use crate::runs::write_atomic;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UiPrefs {
    pub runs: RunsPrefs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunsPrefs {
    pub sort: SortKey,
    pub reverse: bool,
}

impl UiPrefs {
    pub fn run_sort(&self) -> RunSort {
        RunSort {
            key: self.runs.sort,
            reverse: self.runs.reverse,
        }
    }

    pub fn with_run_sort(sort: RunSort) -> UiPrefs {
        UiPrefs {
            runs: RunsPrefs {
                sort: sort.key,
                reverse: sort.reverse,
            },
        }
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(".histoboard").join("ui.toml")
}

/// The project's settings; defaults when there are none, and also when the file cannot be
/// read, with a line saying so (a broken file must not keep the dashboard from opening).
pub fn load(dir: &Path) -> (UiPrefs, Option<String>) {
    let p = path(dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (UiPrefs::default(), None),
        Err(e) => return (UiPrefs::default(), Some(ignored(&p, &e))),
    };
    match toml::from_str(&text) {
        Ok(prefs) => (prefs, None),
        Err(e) => (UiPrefs::default(), Some(ignored(&p, &e))),
    }
}

fn ignored(p: &Path, e: &dyn std::fmt::Display) -> String {
    let first = e.to_string();
    let first = first.lines().next().unwrap_or("").trim();
    format!("ignored {} (defaults used): {first}", p.display())
}

pub fn save(dir: &Path, prefs: &UiPrefs) -> Result<()> {
    let p = path(dir);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = toml::to_string(prefs).context("serialising the dashboard's settings")?;
    write_atomic(&p, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_falls_back_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), (UiPrefs::default(), None), "missing");
        let prefs = UiPrefs::with_run_sort(RunSort {
            key: SortKey::Auc,
            reverse: true,
        });
        save(dir.path(), &prefs).unwrap();
        assert_eq!(load(dir.path()), (prefs, None));

        std::fs::write(path(dir.path()), "[runs]\nsort = \"colour\"\n").unwrap();
        let (got, warning) = load(dir.path());
        assert_eq!(got, UiPrefs::default());
        assert!(warning.unwrap().contains("ui.toml"));
    }
}
