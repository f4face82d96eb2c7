//! A run's per-tile validation predictions at its best epoch (`valid_predictions.csv`,
//! `id,label,prob`, written by the trainer), read for cross-validation and calibration.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The rows of one `valid_predictions.csv`, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    pub ids: Vec<String>,
    pub labels: Vec<u8>,
    /// Probability of tumour; NaN for a tile skipped as unreadable.
    pub probs: Vec<f32>,
}

impl Predictions {
    /// Reads `path`; a missing file, a wrong header or a bad field is an error naming the file,
    /// the line and the column.
    pub fn read(path: &Path) -> Result<Predictions> {
        let mut rdr = csv::Reader::from_path(path).with_context(|| {
            format!(
                "reading {} (a run writes it at its best epoch)",
                path.display()
            )
        })?;
        let header = rdr
            .headers()
            .with_context(|| format!("{}: reading the header", path.display()))?;
        if header.iter().map(str::trim).collect::<Vec<_>>() != ["id", "label", "prob"] {
            bail!(
                "{}:1: the header is {:?}; expected id,label,prob",
                path.display(),
                header.iter().collect::<Vec<_>>().join(",")
            );
        }
        let mut p = Predictions::default();
        for (i, row) in rdr.records().enumerate() {
            let line = i + 2;
            let row = row.with_context(|| format!("{}:{line}", path.display()))?;
            let field = |k: usize| row.get(k).unwrap_or("").trim();
            let label = match field(1) {
                "0" => 0,
                "1" => 1,
                other => bail!("{}:{line}: label {other:?} is not 0 or 1", path.display()),
            };
            let prob: f32 = field(2)
                .parse()
                .ok()
                .filter(|p: &f32| p.is_nan() || (0.0..=1.0).contains(p))
                .with_context(|| {
                    format!(
                        "{}:{line}: prob {:?} is not a probability",
                        path.display(),
                        field(2)
                    )
                })?;
            p.ids.push(field(0).to_string());
            p.labels.push(label);
            p.probs.push(prob);
        }
        Ok(p)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_names_bad_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("valid_predictions.csv");
        std::fs::write(&path, "id,label,prob\na,1,0.9\nb,0,NaN\n").unwrap();
        let p = Predictions::read(&path).unwrap();
        assert_eq!(p.ids, ["a", "b"]);
        assert_eq!(p.labels, [1, 0]);
        assert!(p.probs[0] == 0.9 && p.probs[1].is_nan());
        for (text, want) in [
            ("id,label,prob\na,2,0.5\n", ":2: label \"2\""),
            ("id,label,prob\na,1,0.5\nb,0,1.5\n", ":3: prob \"1.5\""),
            ("id,label,prob\na,1,x\n", ":2: prob \"x\""),
            ("id,prob,label\na,0.5,1\n", ":1: the header"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", Predictions::read(&path).unwrap_err());
            assert!(
                err.contains("valid_predictions.csv") && err.contains(want),
                "{err}"
            );
        }
        let err = format!(
            "{:#}",
            Predictions::read(&dir.path().join("nope.csv")).unwrap_err()
        );
        assert!(err.contains("nope.csv"), "{err}");
    }
}
