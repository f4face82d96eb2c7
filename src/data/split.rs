//! Stratified, seeded splits (train/valid/test or k-fold) and their CSV form.

use super::{Dataset, Rng};
use crate::experiment::SplitConfig;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Tile indices of each part, each sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// Indices of each label (0, 1), shuffled by `seed` (independently per label).
fn shuffled_by_label(labels: &[u8], seed: u64) -> [Vec<usize>; 2] {
    let mut by = [Vec::new(), Vec::new()];
    for (i, &l) in labels.iter().enumerate() {
        by[(l & 1) as usize].push(i);
    }
    for (c, v) in by.iter_mut().enumerate() {
        Rng::new(&[seed, c as u64, 0x5117]).shuffle(v);
    }
    by
}

/// A stratified, seeded subset of `limit` indices (ascending).
pub(crate) fn stratified_subset(labels: &[u8], limit: usize, seed: u64) -> Vec<usize> {
    let by = shuffled_by_label(labels, seed ^ 0x11_41_17);
    let n = labels.len().max(1);
    let take0 = ((by[0].len() * limit) as f64 / n as f64).round() as usize;
    let take0 = take0.min(by[0].len()).min(limit);
    let take1 = (limit - take0).min(by[1].len());
    let mut out: Vec<usize> = by[0][..take0]
        .iter()
        .chain(&by[1][..take1])
        .copied()
        .collect();
    out.sort_unstable();
    out
}

const SPLIT_SALT: u64 = 0x5_9117;

impl Split {
    /// Splits per label so every part keeps the class balance. With `folds > 0`, the tiles
    /// left after the test split are dealt into `folds` folds and fold `fold` is `valid`.
    pub fn stratified(labels: &[u8], cfg: &SplitConfig) -> Result<Split> {
        let frac_ok = |f: f64| (0.0..1.0).contains(&f);
        if !frac_ok(cfg.valid) || !frac_ok(cfg.test) || cfg.valid + cfg.test >= 1.0 {
            bail!(
                "split fractions must be in [0, 1) and valid + test < 1 (valid = {}, test = {})",
                cfg.valid,
                cfg.test
            );
        }
        if cfg.folds == 1 || (cfg.folds > 0 && cfg.fold >= cfg.folds) {
            bail!(
                "split.folds must be 0 (off) or at least 2, and split.fold below it (folds = {}, fold = {})",
                cfg.folds,
                cfg.fold
            );
        }
        let mut s = Split::default();
        for class in shuffled_by_label(labels, cfg.seed ^ SPLIT_SALT) {
            let n = class.len();
            let n_test = (n as f64 * cfg.test).round() as usize;
            let (test, rest) = class.split_at(n_test.min(n));
            s.test.extend_from_slice(test);
            if cfg.folds > 0 {
                for (k, &i) in rest.iter().enumerate() {
                    if k % cfg.folds == cfg.fold {
                        s.valid.push(i);
                    } else {
                        s.train.push(i);
                    }
                }
            } else {
                let n_valid = ((n as f64 * cfg.valid).round() as usize).min(rest.len());
                s.valid.extend_from_slice(&rest[..n_valid]);
                s.train.extend_from_slice(&rest[n_valid..]);
            }
        }
        s.train.sort_unstable();
        s.valid.sort_unstable();
        s.test.sort_unstable();
        if s.train.is_empty() {
            bail!(
                "the split leaves no training tiles ({} tiles, valid = {}, test = {})",
                labels.len(),
                cfg.valid,
                cfg.test
            );
        }
        Ok(s)
    }

    /// Writes `id,label,split` (split = train/valid/test), one row per tile in the split.
    pub fn save_csv(&self, ds: &Dataset, path: &Path) -> Result<()> {
        let mut rows: Vec<(usize, &str)> = Vec::new();
        for (part, name) in [
            (&self.train, "train"),
            (&self.valid, "valid"),
            (&self.test, "test"),
        ] {
            rows.extend(part.iter().map(|&i| (i, name)));
        }
        rows.sort_unstable();
        let mut out = String::from("id,label,split\n");
        for (i, name) in rows {
            let id = ds
                .ids()
                .get(i)
                .with_context(|| format!("split index {i} out of range ({} tiles)", ds.len()))?;
            let label = ds.label(i).map_or(String::new(), |l| l.to_string());
            out.push_str(&format!("{id},{label},{name}\n"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let tmp = path.with_extension("csv.tmp");
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(out.as_bytes())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Reads a split written by [`Split::save_csv`] against `ds`, checking every id exists
    /// and its label still matches (so resume/eval use the very same tiles).
    pub fn load_csv(ds: &Dataset, path: &Path) -> Result<Split> {
        let name = path.display().to_string();
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(path)
            .with_context(|| format!("cannot read split file {name}"))?;
        let header = rdr
            .headers()
            .with_context(|| format!("{name} line 1: cannot read the header"))?;
        if header.iter().collect::<Vec<_>>() != ["id", "label", "split"] {
            bail!(
                "{name} line 1: bad header \"{}\" (expected \"id,label,split\")",
                header.iter().collect::<Vec<_>>().join(",")
            );
        }
        let index: HashMap<&str, usize> = ds
            .ids()
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut seen: HashMap<usize, u64> = HashMap::new();
        let mut s = Split::default();
        for rec in rdr.records() {
            let rec = rec.with_context(|| format!("{name}: malformed CSV"))?;
            let line = rec.position().map_or(0, |p| p.line());
            let (id, label, part) = (&rec[0], &rec[1], &rec[2]);
            let &i = index.get(id).with_context(|| {
                format!("{name} line {line}: id {id} is not in the data set (did the data change?)")
            })?;
            if let Some(l) = ds.label(i)
                && label != l.to_string()
            {
                bail!("{name} line {line}: id {id} has label {label} here but {l} in the data");
            }
            if let Some(first) = seen.insert(i, line) {
                bail!("{name} line {line}: duplicate id {id} (first on line {first})");
            }
            match part {
                "train" => s.train.push(i),
                "valid" => s.valid.push(i),
                "test" => s.test.push(i),
                other => bail!(
                    "{name} line {line}: bad split \"{other}\" (expected train, valid or test)"
                ),
            }
        }
        s.train.sort_unstable();
        s.valid.sort_unstable();
        s.test.sort_unstable();
        if s.train.is_empty() {
            bail!("{name} has no training tiles");
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n0: usize, n1: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..n0 + n1)
            .map(|i| u8::from(i % (n0 + n1) >= n0))
            .collect();
        Rng::new(&[9]).shuffle(&mut v);
        v
    }

    #[test]
    fn stratified_split_is_seeded_balanced_and_disjoint() {
        let l = labels(600, 400);
        let cfg = SplitConfig {
            valid: 0.2,
            test: 0.1,
            ..Default::default()
        };
        let a = Split::stratified(&l, &cfg).unwrap();
        assert_eq!(a, Split::stratified(&l, &cfg).unwrap());
        let other = Split::stratified(
            &l,
            &SplitConfig {
                seed: 7,
                ..cfg.clone()
            },
        )
        .unwrap();
        assert_ne!(a.valid, other.valid);
        assert_eq!(
            (a.train.len(), a.valid.len(), a.test.len()),
            (700, 200, 100)
        );
        let pos = |v: &[usize]| v.iter().filter(|&&i| l[i] == 1).count();
        assert_eq!((pos(&a.valid), pos(&a.test)), (80, 40));
        let mut all: Vec<usize> = a
            .train
            .iter()
            .chain(&a.valid)
            .chain(&a.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn k_fold_valid_parts_cover_everything_once() {
        let l = labels(60, 40);
        let mut seen = vec![0; 100];
        for fold in 0..5 {
            let cfg = SplitConfig {
                folds: 5,
                fold,
                ..Default::default()
            };
            let s = Split::stratified(&l, &cfg).unwrap();
            assert_eq!(s.valid.len(), 20);
            assert_eq!(s.valid.iter().filter(|&&i| l[i] == 1).count(), 8);
            for &i in &s.valid {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        let bad = SplitConfig {
            folds: 5,
            fold: 5,
            ..Default::default()
        };
        assert!(Split::stratified(&l, &bad).is_err());
    }

    #[test]
    fn subset_keeps_balance() {
        let l = labels(600, 400);
        let s = stratified_subset(&l, 100, 1);
        assert_eq!(s.len(), 100);
        assert_eq!(s.iter().filter(|&&i| l[i] == 1).count(), 40);
        assert_eq!(s, stratified_subset(&l, 100, 1));
    }
}
