//! Stratified, seeded splits (train/valid/test or k-fold) and their CSV form; with a group
//! column (a slide or patient id), stratified group splits that keep every group whole.

use super::{Dataset, Rng};
use crate::experiment::SplitConfig;
use anyhow::{Context, Result, bail};
use std::collections::{HashMap, HashSet};
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
    /// With `groups` (each tile's group), whole groups are dealt instead: see [`deal_groups`].
    pub fn stratified(
        labels: &[u8],
        groups: Option<&[String]>,
        cfg: &SplitConfig,
    ) -> Result<Split> {
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
        if let Some(groups) = groups {
            return Split::by_group(labels, groups, cfg);
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

    /// The parts of a grouped split: test, then the K folds (k-fold) or valid and train, each
    /// dealt whole groups in proportion to its share of the tiles.
    fn by_group(labels: &[u8], groups: &[String], cfg: &SplitConfig) -> Result<Split> {
        if groups.len() != labels.len() {
            bail!(
                "{} groups for {} tiles: every tile needs its group",
                groups.len(),
                labels.len()
            );
        }
        let rest = 1.0 - cfg.test;
        let mut fracs = vec![cfg.test];
        if cfg.folds > 0 {
            fracs.extend(std::iter::repeat_n(rest / cfg.folds as f64, cfg.folds));
        } else {
            fracs.extend([cfg.valid, rest - cfg.valid]);
        }
        let part = deal_groups(labels, groups, &fracs, cfg.seed ^ SPLIT_SALT);
        let mut s = Split::default();
        for (i, &p) in part.iter().enumerate() {
            let to = match p {
                0 => &mut s.test,
                p if cfg.folds > 0 && p - 1 == cfg.fold => &mut s.valid,
                1 if cfg.folds == 0 => &mut s.valid,
                _ => &mut s.train,
            };
            to.push(i);
        }
        let n_groups = groups.iter().collect::<HashSet<_>>().len();
        if s.valid.is_empty() || s.train.is_empty() {
            bail!(
                "the split by data.split.group = \"{}\" leaves {} training and {} validation \
                 tiles: {n_groups} groups are too few for {}",
                cfg.group,
                s.train.len(),
                s.valid.len(),
                if cfg.folds > 0 {
                    format!("{} folds", cfg.folds)
                } else {
                    format!("valid = {}", cfg.valid)
                }
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
        let index = ds.index_by_id();
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

/// Stratified group dealing: every tile of a group goes to the same part, and each part gets
/// close to its fraction of each label. Largest groups first (equal sizes in a seeded order),
/// each to the part where it most reduces the squared shortfall of the per-label counts from
/// their targets. Deterministic in `seed`. Returns each tile's part (an index into `fracs`);
/// parts with a fraction of 0 get nothing.
fn deal_groups(labels: &[u8], groups: &[String], fracs: &[f64], seed: u64) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut counts: Vec<[usize; 2]> = Vec::new();
    let mut group_of = Vec::with_capacity(labels.len());
    for (&l, g) in labels.iter().zip(groups) {
        let k = *index.entry(g.as_str()).or_insert_with(|| {
            counts.push([0, 0]);
            counts.len() - 1
        });
        counts[k][(l & 1) as usize] += 1;
        group_of.push(k);
    }
    let total = counts
        .iter()
        .fold([0usize; 2], |t, c| [t[0] + c[0], t[1] + c[1]]);
    let target: Vec<[f64; 2]> = fracs
        .iter()
        .map(|f| [f * total[0] as f64, f * total[1] as f64])
        .collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    Rng::new(&[seed, 0x6_7a0b]).shuffle(&mut order);
    order.sort_by_key(|&g| std::cmp::Reverse(counts[g][0] + counts[g][1]));
    let mut have = vec![[0f64; 2]; fracs.len()];
    let mut part_of = vec![0; counts.len()];
    for g in order {
        let c = counts[g].map(|n| n as f64);
        // The growth of the part's squared shortfall, summed over labels.
        let cost = |p: usize| -> f64 {
            (0..2)
                .map(|l| c[l] * (2.0 * (have[p][l] - target[p][l]) + c[l]))
                .sum()
        };
        let p = (0..fracs.len())
            .filter(|&p| fracs[p] > 0.0)
            .min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)))
            .unwrap_or(0);
        have[p][0] += c[0];
        have[p][1] += c[1];
        part_of[g] = p;
    }
    group_of.into_iter().map(|g| part_of[g]).collect()
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
        let a = Split::stratified(&l, None, &cfg).unwrap();
        assert_eq!(a, Split::stratified(&l, None, &cfg).unwrap());
        let other = Split::stratified(
            &l,
            None,
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
            let s = Split::stratified(&l, None, &cfg).unwrap();
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
        assert!(Split::stratified(&l, None, &bad).is_err());
    }

    #[test]
    fn subset_keeps_balance() {
        let l = labels(600, 400);
        let s = stratified_subset(&l, 100, 1);
        assert_eq!(s.len(), 100);
        assert_eq!(s.iter().filter(|&&i| l[i] == 1).count(), 40);
        assert_eq!(s, stratified_subset(&l, 100, 1));
    }

    /// 1,000 tiles in 90 groups of 1 to 21 tiles; a group's tiles lean to one label, as a
    /// slide's do.
    fn grouped() -> (Vec<u8>, Vec<String>) {
        let mut rng = Rng::new(&[3]);
        let (mut labels, mut groups) = (Vec::new(), Vec::new());
        let mut g = 0;
        while labels.len() < 1000 {
            let size = 1 + rng.below(21);
            let p = if rng.coin() { 0.8 } else { 0.15 };
            for _ in 0..size.min(1000 - labels.len()) {
                labels.push(u8::from(rng.f64() < p));
                groups.push(format!("slide-{g}"));
            }
            g += 1;
        }
        (labels, groups)
    }

    fn folds_cfg(fold: usize, seed: u64) -> SplitConfig {
        SplitConfig {
            folds: 5,
            fold,
            test: 0.1,
            seed,
            group: "slide".into(),
            ..Default::default()
        }
    }

    #[test]
    fn group_folds_keep_every_group_whole_and_cover_everything_once() {
        let (l, g) = grouped();
        let mut valid_times = vec![0; l.len()];
        let mut test: Option<Vec<usize>> = None;
        for fold in 0..5 {
            let s = Split::stratified(&l, Some(&g), &folds_cfg(fold, 1)).unwrap();
            for &i in &s.valid {
                valid_times[i] += 1;
            }
            // The test part does not depend on the fold.
            assert_eq!(test.get_or_insert_with(|| s.test.clone()), &s.test);
            // No group straddles two parts.
            let mut side: HashMap<&str, &str> = HashMap::new();
            for (part, name) in [(&s.train, "train"), (&s.valid, "valid"), (&s.test, "test")] {
                for &i in part {
                    let was = side.insert(&g[i], name);
                    assert!(
                        was.is_none_or(|w| w == name),
                        "{} in {was:?} and {name}",
                        g[i]
                    );
                }
            }
        }
        let test = test.unwrap();
        for (i, &n) in valid_times.iter().enumerate() {
            assert_eq!(n, usize::from(!test.contains(&i)), "tile {i}");
        }
    }

    #[test]
    fn group_folds_are_close_to_stratified_and_deterministic() {
        let (l, g) = grouped();
        let rate = l.iter().filter(|&&x| x == 1).count() as f64 / l.len() as f64;
        for fold in 0..5 {
            let s = Split::stratified(&l, Some(&g), &folds_cfg(fold, 1)).unwrap();
            let pos = s.valid.iter().filter(|&&i| l[i] == 1).count() as f64;
            let n = s.valid.len() as f64;
            // 900 tiles in five folds of whole groups of up to 21: within a few percent.
            assert!((n - 180.0).abs() <= 12.0, "fold {fold}: {n} tiles");
            assert!(
                (pos / n - rate).abs() < 0.04,
                "fold {fold}: {} vs {rate}",
                pos / n
            );
            assert_eq!(
                s,
                Split::stratified(&l, Some(&g), &folds_cfg(fold, 1)).unwrap()
            );
        }
        let a = Split::stratified(&l, Some(&g), &folds_cfg(0, 1)).unwrap();
        let b = Split::stratified(&l, Some(&g), &folds_cfg(0, 2)).unwrap();
        assert_ne!(a.valid, b.valid, "the seed moves groups");
    }

    #[test]
    fn one_tile_per_group_deals_like_the_plain_stratified_split() {
        let l = labels(600, 400);
        let g: Vec<String> = (0..l.len()).map(|i| format!("tile-{i}")).collect();
        let pos = |v: &[usize]| v.iter().filter(|&&i| l[i] == 1).count();
        for fold in 0..5 {
            let cfg = SplitConfig {
                folds: 5,
                fold,
                ..Default::default()
            };
            let plain = Split::stratified(&l, None, &cfg).unwrap();
            let grouped = Split::stratified(&l, Some(&g), &cfg).unwrap();
            assert_eq!(grouped.valid.len(), plain.valid.len());
            assert_eq!(pos(&grouped.valid), pos(&plain.valid));
        }
        let cfg = SplitConfig {
            valid: 0.2,
            test: 0.1,
            ..Default::default()
        };
        let plain = Split::stratified(&l, None, &cfg).unwrap();
        let grouped = Split::stratified(&l, Some(&g), &cfg).unwrap();
        for (a, b) in [(&plain.valid, &grouped.valid), (&plain.test, &grouped.test)] {
            assert_eq!((a.len(), pos(a)), (b.len(), pos(b)));
        }
    }

    #[test]
    fn too_few_groups_for_the_folds_is_an_error_naming_the_column() {
        let l = labels(60, 40);
        let g: Vec<String> = (0..l.len()).map(|i| format!("s{}", i % 3)).collect();
        let e = Split::stratified(&l, Some(&g), &folds_cfg(4, 1)).unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains("\"slide\"") && e.contains("3 groups"), "{e}");
    }
}
