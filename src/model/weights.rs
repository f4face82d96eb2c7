//! Checkpoints of burn modules as safetensors files with PyTorch conventions.
//!
//! Tensor names are the module's field paths (`features.0.weight`, `_blocks.3._bn1.running_var`),
//! BatchNorm parameters are written as `weight`/`bias` (burn calls them `gamma`/`beta`) and
//! linear weights as `[out, in]` (burn stores `[in, out]`), so a checkpoint loads into a PyTorch
//! module with the same attribute names through `load_state_dict`, and PyTorch state dicts
//! converted to safetensors load here. The conversion is burn-store's
//! [`BurnToPyTorchAdapter`] / [`PyTorchToBurnAdapter`]; this module adds atomic writes, strict
//! checking, and error messages that name the file and the offending tensors.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter,
    SafetensorsStore,
};
use burn::tensor::backend::Backend;

/// How many names an error message lists before summarising the rest.
const MAX_LISTED: usize = 12;

/// Writes every tensor of `module` (parameters and BatchNorm running statistics) to `path`.
///
/// The file is written next to `path` under a temporary name, flushed to disk and renamed over
/// `path`, so a crash never leaves a truncated checkpoint behind (readers see the old file or the
/// new one). Missing parent directories are created.
pub fn save_safetensors<B: Backend, M: Module<B>>(module: &M, path: &Path) -> Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| anyhow!("checkpoint path {} has no file name", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)
        .with_context(|| format!("creating checkpoint directory {}", dir.display()))?;

    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    // Unique per process and call, so concurrent saves never share a temporary file.
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    tmp_name.push(format!(".tmp-{}-{n}", std::process::id()));
    let tmp = dir.join(tmp_name);

    let written = write_then_rename(module, &tmp, path);
    if written.is_err() {
        // Best effort: the temporary file is garbage whatever went wrong.
        let _ = fs::remove_file(&tmp);
    }
    written?;

    // Persist the rename itself (the directory entry); only meaningful on Unix.
    #[cfg(unix)]
    fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing directory {}", dir.display()))?;
    Ok(())
}

fn write_then_rename<B: Backend, M: Module<B>>(module: &M, tmp: &Path, path: &Path) -> Result<()> {
    let mut store = SafetensorsStore::from_file(tmp)
        .with_to_adapter(BurnToPyTorchAdapter)
        .overwrite(true);
    module
        .save_into(&mut store)
        .map_err(|e| anyhow!("writing checkpoint {}: {e}", tmp.display()))?;
    fs::File::open(tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("flushing checkpoint {}", tmp.display()))?;
    fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Loads a checkpoint written by [`save_safetensors`] (or a PyTorch state dict with the same
/// attribute names) into `module`, strictly: every tensor of the module must be in the file with
/// the same shape and dtype, and the file must hold nothing else.
pub fn load_safetensors<B: Backend, M: Module<B>>(module: M, path: &Path) -> Result<M> {
    let (module, report) = load_safetensors_partial(module, path)?;
    if !report.missing.is_empty() || !report.unused.is_empty() {
        let mut msg = format!("checkpoint {} does not match the model:", path.display());
        if !report.missing.is_empty() {
            msg.push_str(&format!(
                "\n  missing from the file: {}",
                list(&report.missing)
            ));
        }
        if !report.unused.is_empty() {
            msg.push_str(&format!(
                "\n  in the file but not in the model: {}",
                list(&report.unused)
            ));
        }
        bail!(msg);
    }
    Ok(module)
}

/// What a partial load left unmatched; names use the file's (PyTorch) convention.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Number of tensors copied into the module.
    pub applied: usize,
    /// Module tensors absent from the file (they keep their current values).
    pub missing: Vec<String>,
    /// File tensors that no module tensor asked for.
    pub unused: Vec<String>,
}

/// Loads the tensors of `path` that the module has, leaving the others as they are, and
/// reports what did not match. Shape or dtype mismatches and unreadable files are errors.
///
/// Use this for transfer learning (a pretrained backbone without the new head); check the
/// report to make sure only the expected tensors are missing.
pub fn load_safetensors_partial<B: Backend, M: Module<B>>(
    mut module: M,
    path: &Path,
) -> Result<(M, LoadReport)> {
    if !path.is_file() {
        bail!("weights file {} not found", path.display());
    }
    let mut store = SafetensorsStore::from_file(path)
        .with_from_adapter(PyTorchToBurnAdapter)
        // Missing tensors and mismatches are checked below, with better messages.
        .allow_partial(true)
        .validate(false);

    // burn-store would silently load e.g. float16 tensors into a float32 model, changing the
    // model's dtype; refuse instead.
    let module_dtypes: BTreeSet<String> = module
        .collect(None, None, false)
        .iter()
        .map(|s| format!("{:?}", s.dtype))
        .collect();
    let file_tensors = store
        .get_all_snapshots()
        .map_err(|e| anyhow!("reading safetensors file {}: {e}", path.display()))?;
    let wrong_dtype: Vec<String> = file_tensors
        .iter()
        .filter(|(_, s)| !module_dtypes.contains(&format!("{:?}", s.dtype)))
        .map(|(name, s)| format!("{name} ({:?})", s.dtype))
        .collect();
    if !wrong_dtype.is_empty() {
        bail!(
            "weights file {}: tensors of a dtype the model does not use ({}): {}",
            path.display(),
            module_dtypes.into_iter().collect::<Vec<_>>().join(", "),
            list(&wrong_dtype)
        );
    }

    let result: ApplyResult = module
        .load_from(&mut store)
        .map_err(|e| anyhow!("loading weights from {}: {e}", path.display()))?;
    if !result.errors.is_empty() {
        let errors: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
        bail!(
            "weights file {} does not fit the model: {}",
            path.display(),
            list(&errors)
        );
    }
    let mut missing: Vec<String> = result
        .missing
        .iter()
        .map(|(p, container)| to_pytorch_name(p, container))
        .collect();
    missing.sort();
    let report = LoadReport {
        applied: result.applied.len(),
        missing,
        unused: unused_in_file(&result),
    };
    Ok((module, report))
}

/// burn-store lists a file tensor as unused when it was found under its alternative PyTorch
/// name (`bn.weight` for `bn.gamma`), although it was applied; drop those.
fn unused_in_file(result: &ApplyResult) -> Vec<String> {
    let applied: HashSet<&str> = result.applied.iter().map(String::as_str).collect();
    let consumed = |name: &str| {
        let burn_name = if let Some(prefix) = name.strip_suffix(".weight") {
            format!("{prefix}.gamma")
        } else if let Some(prefix) = name.strip_suffix(".bias") {
            format!("{prefix}.beta")
        } else {
            return false;
        };
        applied.contains(burn_name.as_str())
    };
    result
        .unused
        .iter()
        .filter(|name| !consumed(name))
        .cloned()
        .collect()
}

/// burn reports missing BatchNorm parameters under their burn names; say what the file lacks.
fn to_pytorch_name(path: &str, container_stack: &str) -> String {
    let in_norm = container_stack
        .rsplit('.')
        .next()
        .is_some_and(|c| c.ends_with("Norm"));
    if in_norm {
        if let Some(prefix) = path.strip_suffix(".gamma") {
            return format!("{prefix}.weight");
        }
        if let Some(prefix) = path.strip_suffix(".beta") {
            return format!("{prefix}.bias");
        }
    }
    path.to_string()
}

/// `a, b, c ... and N more`: keeps messages readable when a whole model mismatches.
pub(crate) fn list(items: &[String]) -> String {
    let mut out = items
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LISTED {
        out.push_str(&format!(" ... and {} more", items.len() - MAX_LISTED));
    }
    out
}
