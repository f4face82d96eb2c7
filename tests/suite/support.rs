//! Shared by the test modules: fixtures of real tiles from the bundled sample, built in temp
//! dirs, and the lock that keeps model-building tests apart.
#![allow(dead_code)]

use histoboard::data::bundled_path;
use histoboard::experiment::{BadTilePolicy, DataConfig};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// burn's CPU backend draws random weights and dropout masks from one process-wide generator, so
/// tests that seed it and expect repeatable numbers would see each other's draws: every test that
/// builds or trains a model holds this lock.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// The tests' tiny experiment (160 real tiles, 32 px crops, an 8-16 CNN, CPU, no early
/// stopping) as TOML, with extra lines for its `[data]` and `[train]` tables and any further
/// tables after them.
pub fn tiny_toml(data: &str, train: &str, tables: &str) -> String {
    format!(
        r#"
name = "tiny"
[data]
limit = 160
crop = 32
cache = false
workers = 1
{data}
[model]
filters = [8, 16]
dense = 16
[train]
batch_size = 16
device = "cpu"
{train}
[train.early_stopping]
patience = 0
{tables}
"#
    )
}

/// `n` real tiles from the bundled zip: (id, label, TIFF bytes), alternating labels.
pub fn real_tiles(n: usize) -> Vec<(String, u8, Vec<u8>)> {
    let mut z =
        zip::ZipArchive::new(std::fs::File::open(bundled_path().unwrap()).unwrap()).unwrap();
    let mut csv = String::new();
    z.by_name("train_labels.csv")
        .unwrap()
        .read_to_string(&mut csv)
        .unwrap();
    let rows: Vec<(String, u8)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let (id, lab) = l.split_once(',').unwrap();
            (id.to_string(), lab.trim().parse().unwrap())
        })
        .collect();
    let mut picked = Vec::new();
    let (mut i0, mut i1) = (
        rows.iter().filter(|r| r.1 == 0),
        rows.iter().filter(|r| r.1 == 1),
    );
    while picked.len() < n {
        let r = if picked.len() % 2 == 0 {
            i0.next()
        } else {
            i1.next()
        }
        .unwrap();
        let mut bytes = Vec::new();
        z.by_name(&format!("train/{}.tif", r.0))
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        picked.push((r.0.clone(), r.1, bytes));
    }
    picked
}

pub fn labels_csv(tiles: &[(String, u8, Vec<u8>)]) -> String {
    let mut s = String::from("id,label\n");
    for (id, l, _) in tiles {
        s.push_str(&format!("{id},{l}\n"));
    }
    s
}

/// Writes a zip with the given (member name, bytes).
pub fn write_zip(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
}

/// A Kaggle-layout zip: `train/<id>.tif` + `train_labels.csv` (with `csv` as its text).
pub fn kaggle_zip(dir: &Path, tiles: &[(String, u8, Vec<u8>)], csv: &str) -> PathBuf {
    let path = dir.join("kaggle.zip");
    let mut members = vec![("train_labels.csv".to_string(), csv.as_bytes().to_vec())];
    for (id, _, b) in tiles {
        members.push((format!("train/{id}.tif"), b.clone()));
    }
    write_zip(&path, &members);
    path
}

/// A Kaggle-layout folder: `train/<id>.tif` + `train_labels.csv`.
pub fn kaggle_folder(dir: &Path, tiles: &[(String, u8, Vec<u8>)], csv: &str) -> PathBuf {
    let root = dir.join("kaggle");
    std::fs::create_dir_all(root.join("train")).unwrap();
    std::fs::write(root.join("train_labels.csv"), csv).unwrap();
    for (id, _, b) in tiles {
        std::fs::write(root.join("train").join(format!("{id}.tif")), b).unwrap();
    }
    root
}

pub fn config(source: &Path, cache_dir: &Path) -> DataConfig {
    DataConfig {
        source: source.display().to_string().into(),
        cache: false,
        cache_dir: cache_dir.display().to_string(),
        workers: 2,
        bad_tiles: BadTilePolicy::Error,
        ..Default::default()
    }
}

/// The error chain as one string (what a user would read).
pub fn message(e: anyhow::Error) -> String {
    format!("{e:#}")
}
