//! Inference with trained runs: evaluate on a labelled set, predict a Kaggle submission. Given
//! several runs (a cross-validation's folds, or any list), their probabilities are averaged:
//! an ensemble; TTA composes with it. A run with a fitted temperature (`calibration.toml`) has
//! its probabilities calibrated before the average, each run with its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::module::Module;

use super::checkpoint::{self, Which};
use super::device::{self, DeviceChoice};
use super::loss::bce_of_probs;
use super::trainer::{ROC_POINTS, predict_probs, scored};
use crate::data::Dataset;
use crate::experiment::Experiment;
use crate::kernels::Kernels;
use crate::metrics::{self, Metrics};
use crate::model::Net;
use crate::runs::calibration::{self, Calibration};
use crate::runs::predictions::Prediction;

/// Where the models come from and how to run them.
pub struct InferOptions<'a> {
    /// One run, or several whose probabilities are averaged.
    pub run_dirs: &'a [PathBuf],
    pub which: Which,
    pub tta: bool,
    pub device: Option<&'a str>,
    /// Overrides the run's `data.bad_tiles` for the set scored (`eval` only).
    pub bad_tiles: Option<crate::experiment::BadTilePolicy>,
    /// Applies each run's fitted temperature (see [`temperatures`]).
    pub calibrated: bool,
}

/// Each run's temperature under `opts`, in order: its `calibration.toml`'s when calibration is
/// on and the file was fitted on the epoch of the checkpoint scored, else None. The notes say
/// why a fitted temperature is not used (another epoch's). A broken file is an error.
pub fn temperatures(opts: &InferOptions) -> Result<(Vec<Option<f64>>, Vec<String>)> {
    let (mut temps, mut notes) = (Vec::new(), Vec::new());
    for dir in opts.run_dirs {
        let fitted = if opts.calibrated {
            Calibration::read(dir)?
        } else {
            None
        };
        let Some(c) = fitted else {
            temps.push(None);
            continue;
        };
        let ckpt =
            checkpoint::read_pointer(&crate::runs::RunPaths::new(dir).checkpoints(), opts.which)?;
        if ckpt.state.epoch == c.epoch {
            temps.push(Some(c.temperature));
        } else {
            // A temperature fits one model: another epoch's weights are another model.
            notes.push(format!(
                "{} was fitted on epoch {}; checkpoint {} is epoch {}: not applied (run \
                 `histoboard calibrate {}` again)",
                crate::runs::RunPaths::new(dir).calibration().display(),
                c.epoch,
                opts.which.name(),
                ckpt.state.epoch,
                dir.display()
            ));
            temps.push(None);
        }
    }
    Ok((temps, notes))
}

/// The labelled set `data` (Kaggle layout, folder or zip, or `bundled`) as the first run reads
/// its inputs: every tile (no limit), with the run's bad-tile policy unless overridden.
pub fn labelled_data(opts: &InferOptions, data: &str) -> Result<crate::experiment::DataConfig> {
    let first = opts.run_dirs.first().context("no run to evaluate")?;
    let mut exp = super::load_run_config(first)?;
    exp.data.source = data.into();
    exp.data.labels = None;
    exp.data.limit = 0;
    // Every tile is scored, none split: the set needs no group column.
    exp.data.split.group.clear();
    if let Some(policy) = opts.bad_tiles {
        exp.data.bad_tiles = policy;
    }
    Ok(exp.data)
}

/// Scores every tile of a labelled set.
pub fn evaluate(opts: &InferOptions, data: &str) -> Result<Metrics> {
    let cfg = labelled_data(opts, data)?;
    let ds = Arc::new(Dataset::open(&cfg).with_context(|| format!("opening {data}"))?);
    let probs = ensemble(opts, &ds)?;
    let (probs, labels) = scored(&probs, ds.labels());
    Ok(metrics::compute(
        &probs,
        &labels,
        bce_of_probs(&probs, &labels),
        ROC_POINTS,
    ))
}

/// Every tile of the labelled set `cfg` (from [`labelled_data`]) with its label and
/// probability: what the error gallery ranks. A tile skipped as bad has a NaN probability.
pub fn score(opts: &InferOptions, cfg: &crate::experiment::DataConfig) -> Result<Vec<Prediction>> {
    let ds = Arc::new(Dataset::open(cfg).with_context(|| format!("opening {}", cfg.source))?);
    let probs = ensemble(opts, &ds)?;
    Ok(ds
        .ids()
        .iter()
        .zip(ds.labels())
        .zip(probs)
        .map(|((id, &label), prob)| Prediction {
            id: id.clone(),
            label,
            prob,
        })
        .collect())
}

/// A run's own validation split scored again by its checkpoint (`which`, with TTA when asked),
/// tile by tile: what `histoboard cv --tta` pools into an out-of-fold figure. The tiles come from
/// the run's saved `split.csv`, so a fold is scored on exactly the tiles it never trained on.
pub fn validation(opts: &InferOptions, run_dir: &Path) -> Result<Vec<Prediction>> {
    let exp = super::load_run_config(run_dir)?;
    let ds = Arc::new(
        Dataset::open(&exp.data)
            .with_context(|| format!("opening the data of {}", run_dir.display()))?,
    );
    let split_path = crate::runs::RunPaths::new(run_dir).split();
    let split = crate::data::Split::load_csv(&ds, &split_path)?;
    if split.valid.is_empty() {
        anyhow::bail!("{} has no validation tiles", split_path.display());
    }
    let probs = with_model(opts, run_dir, &exp, |run| run(&ds, &split.valid))
        .with_context(|| format!("scoring the validation split of {}", run_dir.display()))?;
    Ok(split
        .valid
        .iter()
        .zip(probs)
        .map(|(&i, prob)| Prediction {
            id: ds.ids()[i].clone(),
            label: ds.labels()[i],
            prob,
        })
        .collect())
}

/// Writes a Kaggle submission (`id,label` with label = probability of tumour) for an
/// unlabelled set; returns the number of rows.
pub fn predict(opts: &InferOptions, data: &Path, out: &Path) -> Result<usize> {
    let ds = Arc::new(
        Dataset::open_unlabelled(data).with_context(|| format!("opening {}", data.display()))?,
    );
    let probs = ensemble(opts, &ds)?;
    let mut text = String::with_capacity(probs.len() * 52 + 9);
    text.push_str("id,label\n");
    for (id, p) in ds.ids().iter().zip(&probs) {
        text.push_str(&format!("{id},{p:.6}\n"));
    }
    checkpoint::write_atomic(out, text.as_bytes())?;
    Ok(probs.len())
}

/// Every tile's probability, averaged over the runs; each run reads the tiles with its own
/// input settings (crop, resize, normalisation) and its own checkpoint.
fn ensemble(opts: &InferOptions, ds: &Arc<Dataset>) -> Result<Vec<f32>> {
    if opts.run_dirs.is_empty() {
        anyhow::bail!("no run given");
    }
    let indices: Vec<usize> = (0..ds.len()).collect();
    let mut sum = vec![0f32; indices.len()];
    let (temps, _) = temperatures(opts)?;
    for (dir, temp) in opts.run_dirs.iter().zip(temps) {
        let exp = super::load_run_config(dir)?;
        let mut probs = with_model(opts, dir, &exp, |run| run(ds, &indices))
            .with_context(|| format!("scoring with {}", dir.display()))?;
        if let Some(t) = temp {
            for p in &mut probs {
                *p = calibration::scale(*p, t);
            }
        }
        // A tile skipped as bad is NaN in every run, and stays NaN in the mean.
        for (s, p) in sum.iter_mut().zip(probs) {
            *s += p;
        }
    }
    let k = opts.run_dirs.len() as f32;
    Ok(sum.into_iter().map(|s| s / k).collect())
}

type Runner<'r> = &'r dyn Fn(&Arc<Dataset>, &[usize]) -> Result<Vec<f32>>;

/// Loads the checkpoint on the chosen device and hands a prediction function to `body`.
fn with_model<T>(
    opts: &InferOptions,
    run_dir: &Path,
    exp: &Experiment,
    body: impl FnOnce(Runner) -> Result<T>,
) -> Result<T> {
    let spec = opts.device.unwrap_or(&exp.train.device);
    let resolved = device::resolve(spec)?;
    match resolved.choice {
        DeviceChoice::Cpu => {
            run_on::<burn::backend::Flex, T>(opts, run_dir, exp, Default::default(), body)
        }
        DeviceChoice::Cuda(i) => run_on::<burn::backend::Cuda, T>(
            opts,
            run_dir,
            exp,
            burn::backend::cuda::CudaDevice::new(i),
            body,
        ),
    }
}

fn run_on<B: Kernels, T>(
    opts: &InferOptions,
    run_dir: &Path,
    exp: &Experiment,
    device: B::Device,
    body: impl FnOnce(Runner) -> Result<T>,
) -> Result<T> {
    let ckpt_dir = crate::runs::RunPaths::new(run_dir).checkpoints();
    let ptr = checkpoint::read_pointer(&ckpt_dir, opts.which)?;
    let mut model_cfg = exp.model.clone();
    // The checkpoint holds every weight; do not read the ImageNet file again.
    model_cfg.pretrained.clear();
    let model: Net<B> = Net::build(&model_cfg, ptr.state.side, &device, run_dir)?;
    let path = ckpt_dir.join(&ptr.model);
    let model = model.load_record(checkpoint::load_record::<B, _>(&path, &device)?);
    let (mean, std, tta) = (ptr.state.mean, ptr.state.std, opts.tta);
    body(&|ds, idx| predict_probs(&model, ds, idx, exp, mean, std, tta, &device))
}
