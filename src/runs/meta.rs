//! What a user says about a run: a note and tags, kept in the run folder (`meta.toml`) so
//! every dashboard and `histoboard runs ls` sees them, and they travel with the run.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::paths::{RunPaths, write_atomic};

/// A run's note and tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunMeta {
    /// Free text, e.g. "lr too high, diverged in epoch 3".
    pub note: String,
    /// Short labels to filter by, e.g. `baseline`, `paper`.
    pub tags: Vec<String>,
}

impl RunMeta {
    /// The run's meta (empty when it has none yet).
    pub fn read(run_dir: &Path) -> Result<RunMeta> {
        let path = RunPaths::new(run_dir).meta();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunMeta::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Saves the meta atomically.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        for t in &self.tags {
            check_tag(t)?;
        }
        let text = toml::to_string(self).context("serialising the run's note and tags")?;
        write_atomic(&RunPaths::new(run_dir).meta(), text.as_bytes())
    }

    /// Parses tags as typed: separated by commas or spaces, `#` prefixes dropped, duplicates
    /// removed, order kept.
    pub fn parse_tags(text: &str) -> Result<Vec<String>> {
        let mut tags: Vec<String> = Vec::new();
        for t in text
            .split([',', ' '])
            .map(|t| t.trim().trim_start_matches('#'))
        {
            if t.is_empty() || tags.iter().any(|x| x == t) {
                continue;
            }
            check_tag(t)?;
            tags.push(t.to_string());
        }
        Ok(tags)
    }
}

fn check_tag(t: &str) -> Result<()> {
    if t.is_empty() || t.len() > 32 || !t.chars().all(|c| c.is_alphanumeric() || "-_.:".contains(c))
    {
        bail!("tag `{t}`: use up to 32 letters, digits or - _ . :");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_empty_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunMeta::read(dir.path()).unwrap(), RunMeta::default());
        let m = RunMeta {
            note: "diverged at \"epoch 3\"\nsecond line".into(),
            tags: vec!["baseline".into(), "lr:1e-3".into()],
        };
        m.write(dir.path()).unwrap();
        assert_eq!(RunMeta::read(dir.path()).unwrap(), m);
    }

    #[test]
    fn tags_are_parsed_and_checked() {
        assert_eq!(
            RunMeta::parse_tags("#paper, baseline  paper").unwrap(),
            ["paper", "baseline"]
        );
        let err = RunMeta::parse_tags("good, bad/tag").unwrap_err();
        assert!(format!("{err}").contains("bad/tag"), "{err}");
    }

    #[test]
    fn a_broken_meta_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(RunPaths::new(dir.path()).meta(), "note = ").unwrap();
        let err = RunMeta::read(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("meta.toml"), "{err:#}");
    }
}
