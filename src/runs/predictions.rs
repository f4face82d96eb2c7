//! A run's per-tile validation predictions, `id,label,prob` (the best epoch's in
//! `valid_predictions.csv`, each epoch's in `predictions/epoch-NNN.csv`): the one reader and
//! the one writer of that format, for the trainer, cross-validation, calibration and the error
//! gallery.

use std::path::Path;

use anyhow::{Context, Result};

/// One tile's label and predicted probability of tumour.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub id: String,
    pub label: u8,
    /// NaN for a tile skipped as bad.
    pub prob: f32,
}

/// The CSV text of `rows`, header included.
pub fn to_csv<'a>(rows: impl IntoIterator<Item = (&'a str, u8, f32)>) -> String {
    let mut out = String::from("id,label,prob\n");
    for (id, label, p) in rows {
        out.push_str(&format!("{id},{label},{p:.6}\n"));
    }
    out
}

/// Reads a predictions file; a bad row is named by file and line.
pub fn read(path: &Path) -> Result<Vec<Prediction>> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (i, row) in rdr.records().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("{}: line {line}", path.display()))?;
        let field = |k: usize| row.get(k).unwrap_or("").trim();
        let label: u8 = field(1)
            .parse()
            .ok()
            .filter(|l| *l <= 1)
            .with_context(|| format!("{}:{line}: label {:?}", path.display(), field(1)))?;
        // NaN is a tile skipped as bad; anything else must be a probability.
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
        out.push(Prediction {
            id: field(0).to_string(),
            label,
            prob,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_rows_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(&path, to_csv([("a", 0, 0.25), ("b", 1, 0.875)])).unwrap();
        let rows = read(&path).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].id, "b");
        assert_eq!(rows[1].label, 1);
        assert_eq!(rows[1].prob, 0.875);
    }

    #[test]
    fn a_bad_label_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        std::fs::write(&path, "id,label,prob\na,0,0.1\nb,7,0.2\n").unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(e.contains("p.csv:3: label \"7\""), "{e}");
        std::fs::write(&path, "id,label,prob\na,0,NaN\nb,1,1.5\n").unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(
            e.contains("p.csv:3: prob \"1.5\" is not a probability"),
            "{e}"
        );
    }
}
