//! The epoch loop: data in, events out. Generic over the burn backend, so the same code trains
//! on the CPU and on CUDA.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, TensorData};

use super::checkpoint::{self, Pointer, TrainerState, Which};
use super::loss::{DivergenceGuard, bce_of_probs, bce_with_logits};
use super::optim::AnyOptimizer;
use super::schedule::lr_at;
use super::{Emitter, Outcome, RunContext};
use crate::data::{self, Batch, Dataset, LoaderOptions, Split};
use crate::experiment::{Experiment, Freeze};
use crate::kernels::Kernels;
use crate::metrics::{self, MetricName};
use crate::model::Net;
use crate::runs::{DataSummary, EpochSummary, Event, LogLevel};

/// Points on the ROC curve kept in each epoch event (enough for a terminal chart).
pub(crate) const ROC_POINTS: usize = 64;
/// Minimum time between two batch-progress events.
const BATCH_EVENT_INTERVAL_S: f64 = 0.5;
/// Images as a `[N, 3, S, S]` tensor and labels as `[N, 1]`.
pub(crate) fn to_tensors<B: Backend>(
    batch: Batch,
    device: &B::Device,
) -> (Tensor<B, 4>, Tensor<B, 2>) {
    let n = batch.labels.len();
    let s = batch.side;
    let images = Tensor::from_data(TensorData::new(batch.images, [n, 3, s, s]), device);
    let labels = Tensor::from_data(TensorData::new(batch.labels, [n, 1]), device);
    (images, labels)
}

/// Derives a per-epoch seed so that every epoch's randomness (dropout, shuffling, augmentation)
/// depends only on (seed, epoch): a resumed run repeats an uninterrupted one exactly.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    data::splitmix(seed ^ (epoch as u64).wrapping_mul(data::GOLDEN))
}

/// Probabilities for `indices`, averaged over the 8 dihedral transforms when `tta`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn predict_probs<B: Kernels>(
    model: &Net<B>,
    ds: &Arc<Dataset>,
    indices: &[usize],
    exp: &Experiment,
    mean: [f32; 3],
    std: [f32; 3],
    tta: bool,
    device: &B::Device,
) -> Result<Vec<f32>> {
    let transforms: Vec<Option<u8>> = if tta {
        (0..8).map(Some).collect()
    } else {
        vec![None]
    };
    // Batches say which tiles they hold: a bad tile skipped under `bad_tiles = "skip"` leaves
    // its batch one shorter, and must not shift the probabilities of the tiles after it.
    let slot: std::collections::HashMap<usize, usize> =
        indices.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let mut sums = vec![0f32; indices.len()];
    let mut seen = vec![0u32; indices.len()];
    for t in &transforms {
        let opts = LoaderOptions {
            batch_size: exp.train.batch_size.max(1),
            shuffle: false,
            augment: None,
            seed: exp.train.seed,
            epoch: 0,
            workers: exp.data.workers,
            prefetch: exp.data.prefetch,
            crop: exp.data.crop,
            resize: exp.data.resize,
            mean,
            std,
            drop_last: false,
            transform: *t,
        };
        for batch in data::loader(ds.clone(), indices.to_vec(), opts) {
            let batch = batch?;
            let tiles = batch.indices.clone();
            let (x, _) = to_tensors::<B>(batch, device);
            let probs = burn::tensor::activation::sigmoid(model.forward(x));
            let probs = probs
                .into_data()
                .to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading predictions: {e}"))?;
            for (i, p) in tiles.into_iter().zip(probs) {
                if let Some(&k) = slot.get(&i) {
                    sums[k] += p;
                    seen[k] += 1;
                }
            }
        }
    }
    // NaN for a tile no batch held (skipped as bad): callers drop it with its label.
    Ok(sums
        .into_iter()
        .zip(seen)
        .map(|(s, n)| if n == 0 { f32::NAN } else { s / n as f32 })
        .collect())
}

/// The scored tiles only: probabilities and labels without the tiles skipped as bad.
pub(crate) fn scored(probs: &[f32], labels: &[u8]) -> (Vec<f32>, Vec<u8>) {
    probs
        .iter()
        .zip(labels)
        .filter(|(p, _)| !p.is_nan())
        .map(|(&p, &y)| (p, y))
        .unzip()
}

struct Saver<'a> {
    dir: std::path::PathBuf,
    emitter: &'a Emitter,
}

impl Saver<'_> {
    /// Writes the model and optimizer files for `state.epoch`, then flips the given pointers.
    fn save<B: AutodiffBackend>(
        &self,
        model: &Net<B>,
        head_opt: &AnyOptimizer<Net<B>, B>,
        backbone_opt: &Option<AnyOptimizer<Net<B>, B>>,
        state: &TrainerState,
        which: &[Which],
    ) -> Result<()> {
        let stem = checkpoint::stem(&self.dir, state.epoch);
        let name = |suffix: &str| {
            format!(
                "{}{suffix}",
                stem.file_name().and_then(|s| s.to_str()).unwrap_or("e")
            )
        };
        // Each file is written whole and synced before the pointer names it.
        let model_path = self.dir.join(name("-model.mpk"));
        checkpoint::save_record::<B, _>(model.clone().into_record(), &model_path)
            .context("saving the model")?;
        super::failpoint("model-saved");
        head_opt.save(&self.dir.join(name("-optim.mpk")))?;
        if let Some(bb) = backbone_opt {
            bb.save(&self.dir.join(name("-optim-backbone.mpk")))?;
        }
        let safetensors =
            crate::model::export_safetensors(model, &self.dir.join(name(".safetensors")))?;
        let pointer = Pointer {
            model: name("-model.mpk"),
            optimizer: Some(name("-optim.mpk")),
            safetensors,
            state: state.clone(),
        };
        super::failpoint("before-pointer");
        for w in which {
            checkpoint::write_pointer(&self.dir, *w, &pointer)?;
            super::failpoint(&format!("{}-pointer-written", w.name()));
            self.emitter.emit(Event::Checkpoint {
                epoch: state.epoch,
                kind: w.name().into(),
                path: self.dir.join(&pointer.model).display().to_string(),
            })?;
        }
        checkpoint::collect_garbage(&self.dir)
    }
}

fn load_optim<B: AutodiffBackend>(
    opt: AnyOptimizer<Net<B>, B>,
    path: &std::path::Path,
    device: &B::Device,
) -> Result<AnyOptimizer<Net<B>, B>> {
    if path.exists() {
        opt.load(path, device)
    } else {
        Ok(opt)
    }
}

/// Trains `ctx.exp` on backend `B`. Returns when finished, stopped early or cancelled.
pub(crate) fn train_on<B: AutodiffBackend + Kernels>(
    ctx: &RunContext,
    emitter: &Emitter,
    device: B::Device,
    device_name: &str,
) -> Result<Outcome>
where
    B::InnerBackend: Kernels,
{
    let exp = &ctx.exp;
    let paths = &ctx.paths;
    emitter.log(LogLevel::Info, format!("opening data: {}", exp.data.source))?;
    let ds = Arc::new(Dataset::open(&exp.data).context("opening the data set")?);
    let report = ds.report();
    if !report.skipped.is_empty() {
        emitter.log(
            LogLevel::Warn,
            format!(
                "skipped {} bad tile(s), e.g. {}: {}",
                report.skipped.len(),
                report.skipped[0].0,
                report.skipped[0].1
            ),
        )?;
    }

    let mut split = if ctx.resuming && paths.split().exists() {
        Split::load_csv(&ds, &paths.split()).context("loading the run's split")?
    } else {
        let split = Split::stratified(ds.labels(), ds.groups(), &exp.data.split)?;
        split.save_csv(&ds, &paths.split())?;
        split
    };
    // One canonical order, so that a split loaded back from split.csv shuffles exactly like
    // the freshly drawn one (resume must repeat an uninterrupted run).
    for part in [&mut split.train, &mut split.valid, &mut split.test] {
        part.sort_unstable();
    }
    if split.train.is_empty() || split.valid.is_empty() {
        bail!(
            "the split has {} training and {} validation tiles; both must be non-empty",
            split.train.len(),
            split.valid.len()
        );
    }
    let labels = ds.labels();
    let count_pos = |idx: &[usize]| idx.iter().filter(|&&i| labels[i] == 1).count();
    let train_pos = count_pos(&split.train);

    let side = data::output_side(&exp.data);
    let ckpt_dir = paths.checkpoints();
    std::fs::create_dir_all(&ckpt_dir)
        .with_context(|| format!("creating {}", ckpt_dir.display()))?;

    // Same seed, same initial weights: runs are reproducible and sweeps compare fairly.
    B::seed(&device, exp.train.seed);
    // A run stopped before its first checkpoint was complete has trained nothing: resuming it
    // starts it from the beginning, in the same folder and stream.
    let from_checkpoint = ctx.resuming && checkpoint::pointer_path(&ckpt_dir, Which::Last).exists();
    let mut model_cfg = exp.model.clone();
    if from_checkpoint {
        // The checkpoint holds every weight: the ImageNet file may have moved since.
        model_cfg.pretrained.clear();
    }
    let mut model: Net<B> = Net::build(&model_cfg, side, &device, &ctx.base_dir)?;
    model.materialize();
    let mut head_opt = AnyOptimizer::<Net<B>, B>::new(&exp.train);
    let mut backbone_opt = model
        .has_backbone()
        .then(|| AnyOptimizer::<Net<B>, B>::new(&exp.train));

    let saver = Saver {
        dir: ckpt_dir.clone(),
        emitter,
    };
    if ctx.resuming && !from_checkpoint {
        emitter.log(
            LogLevel::Info,
            "no checkpoint yet (stopped while starting): training from the beginning".into(),
        )?;
    }
    let mut state = if from_checkpoint {
        let ptr = checkpoint::read_pointer(&ckpt_dir, Which::Last)?;
        let model_path = ckpt_dir.join(&ptr.model);
        model = model.load_record(checkpoint::load_record::<B, _>(&model_path, &device)?);
        let stem = checkpoint::stem(&ckpt_dir, ptr.state.epoch);
        let stem_name = stem.file_name().and_then(|s| s.to_str()).unwrap_or("e");
        head_opt = load_optim(
            head_opt,
            &ckpt_dir.join(format!("{stem_name}-optim.mpk")),
            &device,
        )?;
        if let Some(bb) = backbone_opt.take() {
            backbone_opt = Some(load_optim(
                bb,
                &ckpt_dir.join(format!("{stem_name}-optim-backbone.mpk")),
                &device,
            )?);
        }
        emitter.log(
            LogLevel::Info,
            format!("resuming after epoch {}", ptr.state.epoch),
        )?;
        ptr.state
    } else {
        let (mean, std) = data::normalization(&exp.data, &ds, &split.train)?;
        let state = TrainerState {
            epoch: 0,
            step: 0,
            best_epoch: 0,
            best_value: f64::NAN,
            bad_epochs: 0,
            mean,
            std,
            side,
        };
        // An epoch-0 checkpoint, so a run cancelled in its first epoch can still be resumed.
        saver.save(&model, &head_opt, &backbone_opt, &state, &[Which::Last])?;
        state
    };

    let bs = exp.train.batch_size;
    let full_batches = split.train.len() / bs;
    if full_batches == 0 {
        bail!(
            "train.batch_size = {bs} is larger than the training split ({} tiles)",
            split.train.len()
        );
    }
    let batches = match exp.train.max_batches {
        0 => full_batches,
        m => m.min(full_batches),
    };
    let epochs = exp.train.epochs;
    let total_steps = batches * epochs;
    let pos_weight = if exp.train.class_weight && train_pos > 0 {
        (split.train.len() - train_pos) as f64 / train_pos as f64
    } else {
        1.0
    };

    let metric: MetricName = exp
        .train
        .early_stopping
        .metric
        .parse()
        .map_err(anyhow::Error::msg)
        .context("train.early_stopping.metric")?;
    emitter.emit(Event::Started {
        run_id: ctx.run_id.clone(),
        experiment: exp.name.clone(),
        config: crate::experiment::to_toml(exp),
        device: device_name.to_string(),
        epochs,
        batches,
        data: DataSummary {
            source: exp.data.source.clone(),
            train: split.train.len(),
            valid: split.valid.len(),
            test: split.test.len(),
            train_pos,
            valid_pos: count_pos(&split.valid),
            skipped: report.skipped.len(),
        },
        start_epoch: state.epoch,
        pid: std::process::id(),
        host: crate::runs::paths::host_name().to_string(),
        metric: metric.to_string(),
    })?;
    emitter.log(
        LogLevel::Info,
        format!(
            "{} parameters, input {side}x{side}, {batches} batches of {bs} per epoch",
            model.num_params()
        ),
    )?;

    let valid_labels: Vec<u8> = split.valid.iter().map(|&i| labels[i]).collect();
    let mut divergence = DivergenceGuard::new(batches, pos_weight);

    while state.epoch < epochs {
        let epoch = state.epoch + 1;
        let started = Instant::now();
        B::seed(&device, epoch_seed(exp.train.seed, epoch));
        let frozen = exp.model.freeze == Freeze::Backbone
            && (exp.model.unfreeze_after == 0 || epoch <= exp.model.unfreeze_after);
        let opts = LoaderOptions {
            batch_size: bs,
            shuffle: true,
            augment: exp.data.augment.enabled.then(|| exp.data.augment.clone()),
            seed: exp.train.seed,
            epoch: epoch as u64,
            workers: exp.data.workers,
            prefetch: exp.data.prefetch,
            crop: exp.data.crop,
            resize: exp.data.resize,
            mean: state.mean,
            std: state.std,
            drop_last: true,
            transform: None,
        };
        let mut train_probs = Vec::with_capacity(batches * bs);
        let mut train_labels = Vec::with_capacity(batches * bs);
        let mut loss_sum = 0.0;
        let mut last_event = Instant::now();
        let mut lr = lr_at(&exp.train, state.step, batches, total_steps);
        for (b, batch) in data::loader(ds.clone(), split.train.clone(), opts)
            .take(batches)
            .enumerate()
        {
            if ctx.cancel.is_cancelled() {
                emitter.emit(Event::Cancelled { epoch: state.epoch })?;
                return Ok(Outcome::cancelled(paths.dir.clone(), &state));
            }
            let batch = batch?;
            train_labels.extend(batch.labels.iter().map(|&y| y as u8));
            let (x, y) = to_tensors::<B>(batch, &device);
            let logits = model.forward_train(x, frozen);
            let loss = bce_with_logits(logits.clone(), y, pos_weight).mean();
            let probs = burn::tensor::activation::sigmoid(logits.detach())
                .into_data()
                .to_vec::<f32>()
                .map_err(|e| anyhow::anyhow!("reading predictions: {e}"))?;
            train_probs.extend(probs);
            let loss_value: f64 = loss.clone().into_scalar().elem();
            lr = lr_at(&exp.train, state.step, batches, total_steps);
            divergence.check(loss_value, epoch, b + 1, lr)?;
            super::failpoint("batch");
            loss_sum += loss_value;
            let grads = loss.backward();
            let (backbone_grads, head_grads) = model.split_grads(grads);
            model = head_opt.step(lr, model, head_grads);
            if let (Some(opt), Some(g)) = (backbone_opt.as_mut(), backbone_grads)
                && !frozen
            {
                model = opt.step(lr * exp.model.backbone_lr_scale, model, g);
            }
            state.step += 1;
            let elapsed = started.elapsed().as_secs_f64();
            if last_event.elapsed().as_secs_f64() >= BATCH_EVENT_INTERVAL_S || b + 1 == batches {
                last_event = Instant::now();
                emitter.emit(Event::Batch {
                    epoch,
                    batch: b + 1,
                    batches,
                    loss: loss_value,
                    lr,
                    images_per_sec: ((b + 1) * bs) as f64 / elapsed.max(1e-9),
                })?;
            }
        }
        let train_secs = started.elapsed().as_secs_f64();
        let train_metrics = metrics::compute(
            &train_probs,
            &train_labels,
            loss_sum / batches as f64,
            ROC_POINTS,
        );

        let eval_model = model.valid();
        let valid_probs = predict_probs(
            &eval_model,
            &ds,
            &split.valid,
            exp,
            state.mean,
            state.std,
            false,
            &device,
        )?;
        if valid_probs.windows(2).all(|w| w[0] == w[1]) {
            emitter.log(
                LogLevel::Warn,
                format!(
                    "epoch {epoch}: every validation tile got the same probability ({:.4}); \
                     the model has collapsed (a too-high train.lr is the usual cause)",
                    valid_probs.first().copied().unwrap_or(f32::NAN)
                ),
            )?;
        }
        let (vp, vl) = scored(&valid_probs, &valid_labels);
        let valid_metrics = metrics::compute(&vp, &vl, bce_of_probs(&vp, &vl), ROC_POINTS);

        let value = metric.of(&train_metrics, &valid_metrics);
        let improved = metric.improves(value, state.best_value, exp.train.early_stopping.min_delta);
        state.epoch = epoch;
        // Every epoch's predictions (about 20 bytes a tile), so the error gallery can follow
        // any epoch; on disk before the epoch's event, like the best epoch's copy.
        write_predictions(
            &paths.epoch_predictions(epoch),
            &ds,
            &split.valid,
            &valid_probs,
        )?;
        if improved {
            state.best_value = value;
            state.best_epoch = epoch;
            state.bad_epochs = 0;
            write_predictions(&paths.predictions(), &ds, &split.valid, &valid_probs)?;
        } else {
            state.bad_epochs += 1;
        }
        // `best` before `last`: a kill between the two repeats this epoch on resume, which
        // rewrites both; the other order could leave `best` behind for good.
        let which: &[Which] = if improved {
            &[Which::Best, Which::Last]
        } else {
            &[Which::Last]
        };
        // The summary goes to disk before the checkpoint that covers it: a kill between the
        // two repeats the epoch on resume (its summary then replaced), never loses it.
        emitter.emit(Event::Epoch(EpochSummary {
            epoch,
            epochs,
            lr,
            duration_s: started.elapsed().as_secs_f64(),
            images_per_sec: (batches * bs) as f64 / train_secs.max(1e-9),
            train: train_metrics,
            valid: valid_metrics,
            is_best: improved,
        }))?;
        super::failpoint("epoch-event-written");
        saver.save(&model, &head_opt, &backbone_opt, &state, which)?;
        let patience = exp.train.early_stopping.patience;
        if patience > 0 && state.bad_epochs >= patience && epoch < epochs {
            emitter.log(
                LogLevel::Info,
                format!("early stopping: no {metric} improvement in {patience} epochs"),
            )?;
            return finish(emitter, paths, &state, metric, "early stopping");
        }
    }
    finish(emitter, paths, &state, metric, "completed")
}

fn finish(
    emitter: &Emitter,
    paths: &crate::runs::RunPaths,
    state: &TrainerState,
    metric: MetricName,
    reason: &str,
) -> Result<Outcome> {
    emitter.emit(Event::Finished {
        best_epoch: state.best_epoch,
        metric: metric.to_string(),
        best_value: state.best_value,
        reason: reason.to_string(),
    })?;
    Ok(Outcome::finished(paths.dir.clone(), state))
}

/// `id,label,prob` for the validation split, for error analysis (`runs::predictions`).
fn write_predictions(
    path: &std::path::Path,
    ds: &Dataset,
    indices: &[usize],
    probs: &[f32],
) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let rows = indices
        .iter()
        .zip(probs)
        .map(|(&i, &p)| (ds.ids()[i].as_str(), ds.labels()[i], p));
    checkpoint::write_atomic(path, crate::runs::predictions::to_csv(rows).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seeds_differ_and_repeat() {
        assert_eq!(epoch_seed(42, 3), epoch_seed(42, 3));
        assert_ne!(epoch_seed(42, 3), epoch_seed(42, 4));
        assert_ne!(epoch_seed(42, 3), epoch_seed(43, 3));
    }
}
