//! Checkpoints: `best` and `last`, each committed atomically.
//!
//! The files of a checkpoint carry its epoch in their names (`e0007-model.mpk`, ...); the small
//! pointer file `last.json` / `best.json` is written to a temporary file, fsynced and renamed
//! last. A run killed mid-save therefore still has the previous, complete checkpoint.
//! `*.safetensors` copies use PyTorch-style names so the weights load in PyTorch too.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::prelude::Backend;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use serde::{Deserialize, Serialize};

/// The model and optimizer files' format: burn's named MessagePack, full precision. Encoded in
/// memory and written by [`write_atomic`], so a full disk reads "No space left on device" with
/// the path, and a torn file is never left under the final name.
type Bytes = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// What the trainer needs, besides weights and optimizer moments, to continue a run exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Completed epochs (1-based count; 0 = before the first epoch).
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: usize,
    pub best_epoch: usize,
    /// NaN (`null` on disk) until an epoch has been scored.
    #[serde(deserialize_with = "crate::metrics::nan_from_null")]
    pub best_value: f64,
    /// Epochs since the last improvement (early stopping).
    pub bad_epochs: usize,
    /// Input normalisation the model was trained with (0..255 units).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Input side in pixels.
    pub side: usize,
}

/// The pointer file: which files make up the checkpoint, and the trainer state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pointer {
    pub model: String,
    pub optimizer: Option<String>,
    pub safetensors: Option<String>,
    pub state: TrainerState,
}

/// `best` or `last`; also the `--checkpoint` value of `histoboard eval` and `predict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    Best,
    Last,
}

impl Which {
    pub fn name(self) -> &'static str {
        match self {
            Which::Best => "best",
            Which::Last => "last",
        }
    }
}

pub use crate::runs::write_atomic;

/// Stem for a checkpoint's files, e.g. `dir/e0007`.
pub fn stem(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("e{epoch:04}"))
}

/// `dir/best.json` or `dir/last.json`.
pub fn pointer_path(dir: &Path, which: Which) -> PathBuf {
    dir.join(format!("{}.json", which.name()))
}

pub fn write_pointer(dir: &Path, which: Which, pointer: &Pointer) -> Result<()> {
    let json = serde_json::to_vec_pretty(pointer)?;
    write_atomic(&pointer_path(dir, which), &json)
}

pub fn read_pointer(dir: &Path, which: Which) -> Result<Pointer> {
    let path = pointer_path(dir, which);
    let text = fs::read_to_string(&path).with_context(|| {
        if which == Which::Best && pointer_path(dir, Which::Last).exists() {
            format!(
                "no `best` checkpoint yet: no epoch has been scored ({} is missing); \
                 `--checkpoint last` uses the latest weights",
                path.display()
            )
        } else {
            format!(
                "no `{}` checkpoint: cannot read {}",
                which.name(),
                path.display()
            )
        }
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("corrupt checkpoint pointer {}", path.display()))
}

/// Writes a model or optimizer record to `path` (the whole file, or nothing).
pub fn save_record<B: Backend, R: Record<B>>(record: R, path: &Path) -> Result<()> {
    let bytes = Recorder::<B>::record(&Bytes::new(), record, ())
        .map_err(|e| anyhow!("encoding {}: {e}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Reads a record written by [`save_record`] (or by burn's `NamedMpkFileRecorder`: the same
/// bytes). A file that does not decode is named as truncated or corrupt, with its size.
pub fn load_record<B: Backend, R: Record<B>>(path: &Path, device: &B::Device) -> Result<R> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let size = bytes.len();
    Recorder::<B>::load(&Bytes::new(), bytes, device).map_err(|_| {
        anyhow!(
            "{} is truncated or corrupt ({size} bytes that do not decode as a checkpoint); \
             was the disk full or the run killed while it was written?",
            path.display()
        )
    })
}

/// Deletes checkpoint files that neither pointer names (older epochs, interrupted saves).
pub fn collect_garbage(dir: &Path) -> Result<()> {
    let mut keep: Vec<String> = Vec::new();
    for which in [Which::Best, Which::Last] {
        if let Ok(p) = read_pointer(dir, which) {
            keep.push(p.model);
            keep.extend(p.optimizer);
            keep.extend(p.safetensors);
        }
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_ckpt_file =
            name.starts_with('e') && name.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
        if is_ckpt_file && !keep.contains(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epoch: usize) -> TrainerState {
        TrainerState {
            epoch,
            step: epoch * 10,
            best_epoch: epoch,
            best_value: 0.9,
            bad_epochs: 0,
            mean: [1.0, 2.0, 3.0],
            std: [4.0, 5.0, 6.0],
            side: 96,
        }
    }

    #[test]
    fn pointer_round_trip_and_garbage_collection() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "e0001-model.mpk",
            "e0002-model.mpk",
            "e0002-optim.mpk",
            "notes.txt",
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        let p = Pointer {
            model: "e0002-model.mpk".into(),
            optimizer: Some("e0002-optim.mpk".into()),
            safetensors: None,
            state: state(2),
        };
        write_pointer(dir.path(), Which::Last, &p).unwrap();
        let back = read_pointer(dir.path(), Which::Last).unwrap();
        assert_eq!(back.state, state(2));
        collect_garbage(dir.path()).unwrap();
        assert!(!dir.path().join("e0001-model.mpk").exists());
        assert!(dir.path().join("e0002-model.mpk").exists());
        assert!(dir.path().join("e0002-optim.mpk").exists());
        assert!(
            dir.path().join("notes.txt").exists(),
            "foreign files are left alone"
        );
    }

    #[test]
    fn missing_and_corrupt_pointers_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_pointer(dir.path(), Which::Best).unwrap_err();
        assert!(format!("{err:#}").contains("best.json"), "{err:#}");
        fs::write(dir.path().join("last.json"), b"{not json").unwrap();
        let err = read_pointer(dir.path(), Which::Last).unwrap_err();
        assert!(
            format!("{err:#}").contains("corrupt checkpoint pointer"),
            "{err:#}"
        );
    }
}
