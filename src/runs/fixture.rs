//! Deterministic, realistic run histories and epochs for tests, screenshots and benchmarks:
//! the one generator of synthetic metrics (the fake launcher's epochs come from here too).
//!
//! Curves follow a saturating learning curve with seeded noise; ROC curves come from a
//! binormal model with the epoch's AUC, and confusion matrices are consistent with them.
//! All times are fixed, so renders are reproducible.

use std::path::Path;

use anyhow::Context;

use crate::experiment::Experiment;
use crate::metrics::{Confusion, Metrics, ReliabilityBin};
use crate::runs::{
    DataSummary, EpochSummary, Event, EventWriter, LogLevel, Record, SCHEMA_VERSION,
};

/// 2023-11-14 22:13:20 UTC: fixture runs start here.
pub const T0: f64 = 1_700_000_000.0;
const EPOCH_S: f64 = 42.0;
const VALID_N: u64 = 770;
const VALID_POS: u64 = 314;

/// The data engine's deterministic generator, so fixtures need no RNG crate state.
struct Mix(crate::data::Rng);

impl Mix {
    fn next(&mut self) -> f64 {
        self.0.f64()
    }
}

/// Learning rates the fixture runs cycle through (a typical sweep).
const LRS: [f64; 3] = [1e-3, 5e-4, 2e-3];

/// The resolved experiment of fixture run `index`.
pub fn fixture_experiment(index: usize, epochs: usize) -> Experiment {
    let mut e = Experiment {
        name: if index.is_multiple_of(3) {
            "baseline".into()
        } else {
            "lr-sweep".into()
        },
        ..Experiment::default()
    };
    e.train.lr = LRS[index % LRS.len()];
    e.train.epochs = epochs;
    if index % 4 == 3 {
        e.train.batch_size = 128;
    }
    e
}

pub fn fixture_run_id(index: usize) -> String {
    format!("{}-{:03}", fixture_experiment(index, 1).name, index)
}

/// Standard normal CDF (Abramowitz-Stegun 7.1.26 erf approximation; display only).
fn phi(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs() / std::f64::consts::SQRT_2);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-(x * x) / 2.0).exp();
    if x >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// Metrics of a classifier whose scores are binormal with separation giving `auc`.
pub fn fixture_metrics(auc: f64, loss: f64, n: u64, pos: u64) -> Metrics {
    let auc = auc.clamp(0.5, 0.999);
    // AUC = Phi(d / sqrt 2): invert by bisection.
    let (mut lo, mut hi) = (0.0, 6.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if phi(mid / std::f64::consts::SQRT_2) < auc {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let d = lo;
    let neg = n - pos;
    // Threshold 0.5 sits half-way between the class means.
    let at = |thr: f64| -> Confusion {
        let tpr = 1.0 - phi(thr - d);
        let fpr = 1.0 - phi(thr);
        let tp = (tpr * pos as f64).round() as u64;
        let fp = (fpr * neg as f64).round() as u64;
        Confusion {
            tp,
            fp,
            tn: neg - fp,
            fn_: pos - tp,
        }
    };
    let c = at(d / 2.0);
    let roc: Vec<[f32; 2]> = std::iter::once([0.0, 0.0])
        .chain((0..=40).rev().map(|i| {
            let thr = -4.0 + (d + 8.0) * i as f64 / 40.0;
            [(1.0 - phi(thr)) as f32, (1.0 - phi(thr - d)) as f32]
        }))
        .chain([[1.0, 1.0]])
        .collect();
    let reliability = fixture_reliability(d, loss, n);
    let tp = c.tp as f64;
    let precision = tp / (c.tp + c.fp).max(1) as f64;
    let recall = tp / pos.max(1) as f64;
    Metrics {
        n,
        loss,
        accuracy: (c.tp + c.tn) as f64 / n as f64,
        precision,
        recall,
        specificity: c.tn as f64 / neg.max(1) as f64,
        f1: 2.0 * precision * recall / (precision + recall).max(1e-12),
        auc,
        average_precision: (auc - 0.05).max(0.4),
        confusion: c,
        youden_threshold: 0.45,
        youden_confusion: at(d / 2.0 - 0.05),
        roc,
        ece: reliability
            .iter()
            .map(|b| b.count as f64 / n as f64 * (b.observed - b.mean_prob).abs())
            .sum(),
        reliability,
    }
}

/// Epoch `epoch` of `epochs` of synthetic run `seed` (the fake launcher's and
/// `write_synthetic_run`'s): AUC and loss on a straight learning curve with a little seeded
/// noise, metrics from [`fixture_metrics`] for the fake launcher's 2,560 training and 640
/// validation tiles.
pub fn synthetic_epoch(epoch: usize, epochs: usize, seed: u64) -> EpochSummary {
    let progress = epoch as f64 / epochs.max(1) as f64;
    let mut rng = Mix(crate::data::Rng::from_state(
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9),
    ));
    let valid_auc = 0.6 + 0.33 * progress + 0.01 * (rng.next() - 0.5);
    let valid_loss = 0.69 - 0.4 * progress;
    EpochSummary {
        epoch,
        epochs,
        lr: 1e-3 * (1.0 - 0.9 * progress),
        duration_s: 30.0 + rng.next() * 5.0,
        images_per_sec: 480.0 + rng.next() * 40.0,
        train: fixture_metrics(valid_auc + 0.02, valid_loss - 0.03, 2560, 1024),
        valid: fixture_metrics(valid_auc, valid_loss, 640, 256),
        is_best: false,
    }
}

/// Reliability bins of an over-confident model: its tiles pile up at the extremes as the
/// classes separate (`d`), and the truth lies nearer 0.5 than it says by the temperature
/// `1 + loss`. Counts add up to `n`.
fn fixture_reliability(d: f64, loss: f64, n: u64) -> Vec<ReliabilityBin> {
    let bins = crate::metrics::CALIBRATION_BINS;
    let centre = |k: usize| (k as f64 + 0.5) / bins as f64;
    let weights: Vec<f64> = (0..bins)
        .map(|k| ((centre(k) - 0.5).abs() * d * 2.0).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut left = n;
    (0..bins)
        .map(|k| {
            let count = if k + 1 == bins {
                left
            } else {
                ((weights[k] / total * n as f64).round() as u64).min(left)
            };
            left -= count;
            let p = centre(k);
            let logit = (p / (1.0 - p)).ln() / (1.0 + loss);
            ReliabilityBin {
                lo: k as f64 / bins as f64,
                hi: (k + 1) as f64 / bins as f64,
                count,
                mean_prob: p,
                observed: 1.0 / (1.0 + (-logit).exp()),
            }
        })
        .filter(|b| b.count > 0)
        .collect()
}

/// Events of fixture run `index`: `done` of `epochs` epochs completed; finished when
/// `done == epochs`, otherwise running mid-way through epoch `done + 1`.
pub fn fixture_records(index: usize, epochs: usize, done: usize) -> Vec<Record> {
    let mut rng = Mix(crate::data::Rng::from_state(index as u64 * 7919 + 17));
    let exp = fixture_experiment(index, epochs);
    let start = T0 + index as f64 * 10_000.0;
    let rec = |t: f64, event: Event| Record {
        v: SCHEMA_VERSION,
        t,
        event,
    };
    let id = fixture_run_id(index);
    let batches = 48;
    let mut out = vec![
        rec(
            start,
            Event::Started {
                run_id: id,
                experiment: exp.name.clone(),
                config: crate::experiment::to_toml(&exp),
                device: "CPU (16 threads)".into(),
                epochs,
                batches,
                data: DataSummary {
                    source: "bundled".into(),
                    train: 3080,
                    valid: VALID_N as usize,
                    test: 0,
                    train_pos: 1254,
                    valid_pos: VALID_POS as usize,
                    skipped: 0,
                },
                start_epoch: 0,
                // A running run needs a live trainer or the watcher calls it lost: the
                // current process stands in for it.
                pid: if done < epochs {
                    std::process::id()
                } else {
                    40_000 + index as u32
                },
                host: crate::runs::paths::host_name().to_string(),
                metric: "valid_auc".into(),
            },
        ),
        rec(
            start,
            Event::Log {
                level: LogLevel::Info,
                message: format!("data: 3080 train / {VALID_N} valid tiles"),
            },
        ),
    ];
    // Each run has its own ceiling and speed; the lr sweep makes 2e-3 noisier.
    let ceiling = 0.90 + 0.06 * rng.next();
    let speed = 0.15 + 0.2 * rng.next();
    let noise = if exp.train.lr > 1e-3 { 0.02 } else { 0.008 };
    let mut best = (0, 0.0);
    for ep in 1..=done.min(epochs) {
        let x = 1.0 - (-speed * ep as f64).exp();
        let valid_auc = (0.6 + (ceiling - 0.6) * x + noise * (rng.next() - 0.5)).min(0.995);
        let train_auc = (valid_auc + 0.01 + 0.02 * x).min(0.999);
        let valid_loss = 0.69 - 0.45 * x + 0.03 * (rng.next() - 0.5);
        let train_loss = valid_loss - 0.03 * x;
        let is_best = valid_auc > best.1;
        if is_best {
            best = (ep, valid_auc);
        }
        let t = start + ep as f64 * EPOCH_S;
        for b in (8..=batches).step_by(8) {
            out.push(rec(
                t - EPOCH_S * (1.0 - b as f64 / batches as f64),
                Event::Batch {
                    epoch: ep,
                    batch: b,
                    batches,
                    loss: train_loss + 0.08 * (rng.next() - 0.5),
                    lr: exp.train.lr,
                    images_per_sec: 73.0 + 5.0 * rng.next(),
                },
            ));
        }
        out.push(rec(
            t,
            Event::Epoch(EpochSummary {
                epoch: ep,
                epochs,
                lr: exp.train.lr,
                duration_s: EPOCH_S,
                images_per_sec: 73.3,
                train: fixture_metrics(train_auc, train_loss, 3080, 1254),
                valid: fixture_metrics(valid_auc, valid_loss, VALID_N, VALID_POS),
                is_best,
            }),
        ));
        if is_best {
            out.push(rec(
                t,
                Event::Checkpoint {
                    epoch: ep,
                    kind: "best".into(),
                    path: format!("checkpoints/best-{ep}"),
                },
            ));
        }
    }
    let end = start + done as f64 * EPOCH_S;
    if done >= epochs {
        out.push(rec(
            end + 1.0,
            Event::Finished {
                best_epoch: best.0,
                metric: "valid_auc".into(),
                best_value: best.1,
                reason: "completed".into(),
            },
        ));
    } else {
        out.push(rec(
            end + EPOCH_S / 2.0,
            Event::Batch {
                epoch: done + 1,
                batch: batches / 2,
                batches,
                loss: 0.3,
                lr: exp.train.lr,
                images_per_sec: 74.0,
            },
        ));
    }
    out
}

/// Events of fold `fold` of a `folds`-fold cross-validation of the `cv` experiment, launched
/// from one file (`cv.fold-k`), as fixture run `10 + fold` with `done` of `epochs` epochs.
/// Returns its run id and records.
pub fn fixture_cv_records(
    fold: usize,
    folds: usize,
    epochs: usize,
    done: usize,
) -> (String, Vec<Record>) {
    let id = format!("cv.fold-{fold}-{:03}", 10 + fold);
    let mut records = fixture_records(10 + fold, epochs, done);
    let mut exp = fixture_experiment(0, epochs);
    exp.name = format!("cv.fold-{fold}");
    exp.data.split.folds = folds;
    exp.data.split.fold = fold;
    if let Event::Started {
        run_id,
        experiment,
        config,
        ..
    } = &mut records[0].event
    {
        *run_id = id.clone();
        *experiment = exp.name.clone();
        *config = crate::experiment::to_toml(&exp);
    }
    (id, records)
}

/// Writes `n_runs` finished runs of `n_epochs` epochs under `dir/runs/<id>/events.jsonl`.
pub fn write_fixture_runs(dir: &Path, n_runs: usize, n_epochs: usize) -> anyhow::Result<()> {
    for i in 0..n_runs {
        write_run(
            dir,
            &fixture_run_id(i),
            &fixture_records(i, n_epochs, n_epochs),
        )?;
    }
    Ok(())
}

/// Writes one run's events to `dir/runs/<id>/` through the trainer's `EventWriter`.
pub fn write_run(dir: &Path, id: &str, records: &[Record]) -> anyhow::Result<()> {
    let run_dir = dir.join("runs").join(id);
    let mut w = EventWriter::create(&run_dir)?;
    // As the trainer does: the resolved experiment beside the stream.
    if let Some(Event::Started { config, .. }) = records.first().map(|r| &r.event) {
        crate::runs::write_atomic(&w.paths().config(), config.as_bytes())?;
    }
    for r in records {
        w.emit_at(r.t, r.event.clone())
            .with_context(|| format!("writing run {id}"))?;
    }
    Ok(())
}

/// Experiment files for tests and demos: a baseline, a learning-rate sweep and one
/// with a typo (an invalid file the dashboard must explain).
pub fn write_fixture_experiments(dir: &Path) -> anyhow::Result<()> {
    let exp_dir = dir.join("experiments");
    std::fs::create_dir_all(&exp_dir).with_context(|| format!("creating {}", exp_dir.display()))?;
    let files = [
        (
            "baseline.toml",
            "# The seed notebook's CNN on the bundled sample.\n\
             name = \"baseline\"\n\
             description = \"seed CNN, Adam 1e-3\"\n\n\
             [train]\n\
             epochs = 10\n\
             lr = 0.001 # the notebook's value\n",
        ),
        (
            "broken.toml",
            "name = \"broken\"\n\n[train]\nepochs = 10\nlr = \"fast\"\n",
        ),
        (
            "small.toml",
            "name = \"small\"\n\n[model]\nfilters = [16, 32]\n\n[train]\nepochs = 3\nmax_batches = 4\n",
        ),
    ];
    for (name, text) in files {
        let p = exp_dir.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::{RunState, RunStatus};

    #[test]
    fn fixture_metrics_are_consistent() {
        let m = fixture_metrics(0.9, 0.3, 770, 314);
        let c = m.confusion;
        assert_eq!(c.tp + c.fp + c.tn + c.fn_, 770);
        assert_eq!(c.tp + c.fn_, 314);
        assert_eq!(m.roc.first(), Some(&[0.0, 0.0]));
        assert_eq!(m.roc.last(), Some(&[1.0, 1.0]));
        // The ROC curve is monotone.
        assert!(
            m.roc
                .windows(2)
                .all(|w| w[1][0] >= w[0][0] && w[1][1] >= w[0][1])
        );
        assert!(m.accuracy > 0.7 && m.accuracy < 0.95, "{}", m.accuracy);
        assert_eq!(m.reliability.iter().map(|b| b.count).sum::<u64>(), 770);
        assert!(m.ece > 0.01 && m.ece < 0.2, "{}", m.ece);
    }

    #[test]
    fn fixture_runs_fold_into_finished_and_running_views() {
        let done = RunState::folded(fixture_run_id(1), "", &fixture_records(1, 6, 6));
        assert_eq!(done.status, RunStatus::Finished);
        assert_eq!(done.completed.len(), 6);
        assert_eq!(done.id, fixture_run_id(1));
        let running = RunState::folded("x", "", &fixture_records(2, 6, 3));
        assert_eq!(running.status, RunStatus::Running);
        assert_eq!(running.epochs_completed(), 3);
        assert!(running.progress.is_some());
        assert_eq!(
            fixture_records(4, 5, 5),
            fixture_records(4, 5, 5),
            "deterministic"
        );
    }
}
