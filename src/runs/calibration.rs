//! Temperature scaling (Guo et al. 2017): one temperature `T > 0` divides every logit, so a
//! probability `p` becomes `sigmoid(logit(p) / T)`. `histoboard calibrate` fits `T` on a run's
//! best-epoch validation predictions by minimising their negative log-likelihood and keeps it
//! in the run folder (`calibration.toml`); `eval` and `predict` apply it. A temperature keeps
//! every ranking and maps 0.5 to itself, so AUC, the ROC curve and every figure at the 0.5
//! threshold stay; the probabilities, ECE and the log-loss change.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::paths::{RunPaths, write_atomic};
use super::state::RunState;
use crate::metrics;

/// The range searched for `T`. A fit that ends at a bound found no finite optimum: the
/// predictions carry no signal (T runs up) or separate the classes perfectly (T runs down).
const T_MIN: f64 = 1e-2;
const T_MAX: f64 = 1e2;
/// Probabilities are read from `valid_predictions.csv` with 6 decimals: 0 and 1 there mean
/// "closer than 5e-7", not certainty (which would make the log-likelihood infinite).
const P_FLOOR: f64 = 5e-7;

/// A run's fitted temperature and what it did on the predictions it was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Above 1 softens over-confident probabilities, below 1 sharpens timid ones.
    pub temperature: f64,
    /// The predictions it was fitted on, relative to the run folder.
    pub fitted_on: String,
    /// Their epoch: the best epoch, whose checkpoint `best` holds.
    pub epoch: usize,
    /// Tiles fitted on.
    pub n: usize,
    /// Mean negative log-likelihood (binary cross-entropy) before and after.
    pub nll_before: f64,
    pub nll_after: f64,
    /// Expected calibration error ([`metrics::ece`]) before and after.
    pub ece_before: f64,
    pub ece_after: f64,
}

impl Calibration {
    /// The run's calibration, or None when it has no `calibration.toml`. A file that cannot be
    /// read, or a field that is missing or wrong, is an error naming the file and the field.
    pub fn read(run_dir: &Path) -> Result<Option<Calibration>> {
        let path = RunPaths::new(run_dir).calibration();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let c: Calibration =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if !(c.temperature.is_finite() && c.temperature > 0.0) {
            bail!(
                "{}: temperature = {}: must be a positive number",
                path.display(),
                c.temperature
            );
        }
        Ok(Some(c))
    }

    /// Saves it as the run's `calibration.toml`, atomically.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let text = toml::to_string(self).context("serialising the calibration")?;
        let text = format!(
            "# Temperature scaling, fitted by `histoboard calibrate`: eval and predict divide \
             the logits by\n# `temperature` (--no-calibration: they do not).\n{text}"
        );
        write_atomic(&RunPaths::new(run_dir).calibration(), text.as_bytes())
    }
}

/// `sigmoid(logit(p) / t)`, in f64. 0, 1 and NaN stay what they are.
pub fn scale(p: f32, t: f64) -> f32 {
    let p = f64::from(p);
    let z = (p / (1.0 - p)).ln() / t;
    (1.0 / (1.0 + (-z).exp())) as f32
}

/// Mean negative log-likelihood of the labels under `sigmoid(logit(p) / t)`, probabilities
/// held [`P_FLOOR`] away from 0 and 1.
pub fn nll(probs: &[f32], labels: &[u8], t: f64) -> f64 {
    let terms = Terms::new(probs, labels);
    terms.nll(1.0 / t)
}

/// Signed logits `s * z` (s = +1 for a positive, -1 for a negative): the log-likelihood of an
/// example at inverse temperature `w` is `-softplus(-w * s * z)`.
struct Terms(Vec<f64>);

impl Terms {
    fn new(probs: &[f32], labels: &[u8]) -> Terms {
        Terms(
            probs
                .iter()
                .zip(labels)
                .map(|(&p, &y)| {
                    let p = f64::from(p).clamp(P_FLOOR, 1.0 - P_FLOOR);
                    let z = (p / (1.0 - p)).ln();
                    if y != 0 { z } else { -z }
                })
                .collect(),
        )
    }

    fn nll(&self, w: f64) -> f64 {
        // softplus(x) = ln(1 + e^x), without overflow.
        let softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        self.0.iter().map(|sz| softplus(-w * sz)).sum::<f64>() / self.0.len() as f64
    }
}

/// The temperature minimising the negative log-likelihood of `labels` under the calibrated
/// `probs`: golden-section search on `ln T` over [`T_MIN`, `T_MAX`]. The NLL is convex in
/// `1 / T`, so it has one minimum in `ln T` and the search finds it. Needs finite
/// probabilities of both classes; a minimum at a bound of the range is an error.
pub fn fit_temperature(probs: &[f32], labels: &[u8]) -> Result<f64> {
    let n = probs.len().min(labels.len());
    let (probs, labels) = (&probs[..n], &labels[..n]);
    if n == 0 {
        bail!("no predictions to fit a temperature on");
    }
    if probs.iter().any(|p| !p.is_finite()) {
        bail!("a probability is not a number");
    }
    let pos = labels.iter().filter(|&&y| y != 0).count();
    if pos == 0 || pos == n {
        bail!("the predictions hold one class only ({n} tiles): a temperature needs both");
    }
    let terms = Terms::new(probs, labels);
    let f = |u: f64| terms.nll((-u).exp());
    let (mut a, mut b) = (T_MIN.ln(), T_MAX.ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    // 0.618^100 of a range of 9.2 in ln T: far below any digit that matters.
    for _ in 0..100 {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - g * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    let t = ((a + b) / 2.0).exp();
    if t > T_MAX * 0.99 {
        bail!(
            "the best temperature is above {T_MAX}: the predictions carry no signal to \
             calibrate (an AUC of 0.5 or below)"
        );
    }
    if t < T_MIN * 1.01 {
        bail!(
            "the best temperature is below {T_MIN}: the predictions separate the classes \
             perfectly, and any sharper one fits better"
        );
    }
    Ok(t)
}

/// Fits the run's temperature on its `valid_predictions.csv` (the best epoch's; tiles
/// skipped as unreadable left out). Writes nothing.
pub fn fit_run(run_dir: &Path) -> Result<Calibration> {
    let paths = RunPaths::new(run_dir);
    let run = RunState::read(run_dir);
    if run.records == 0 {
        bail!(
            "{} holds no run events (not a run folder?)",
            paths.events().display()
        );
    }
    let Some(epoch) = run.best_epoch else {
        bail!(
            "run {} has no best epoch yet: calibration fits the best epoch's validation \
             predictions",
            run.id
        );
    };
    let path = paths.predictions();
    let (probs, labels): (Vec<f32>, Vec<u8>) = super::predictions::read(&path)?
        .into_iter()
        .filter(|p| !p.prob.is_nan())
        .map(|p| (p.prob, p.label))
        .unzip();
    let t = fit_temperature(&probs, &labels).with_context(|| format!("{}", path.display()))?;
    let mut calibrated = probs.clone();
    for q in &mut calibrated {
        *q = scale(*q, t);
    }
    Ok(Calibration {
        temperature: t,
        fitted_on: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        epoch,
        n: probs.len(),
        nll_before: nll(&probs, &labels, 1.0),
        nll_after: nll(&probs, &labels, t),
        ece_before: metrics::ece(&probs, &labels),
        ece_after: metrics::ece(&calibrated, &labels),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiles whose true log-odds are `z`, reported as `sigmoid(k * z)` (over-confident by
    /// `k`) with the 6 decimals of `valid_predictions.csv`.
    fn overconfident(k: f64, n: usize) -> (Vec<f32>, Vec<u8>) {
        let mut rng = crate::data::Rng::from_state(7);
        (0..n)
            .map(|_| {
                let z = (rng.f64() - 0.5) * 8.0;
                let y = u8::from(rng.f64() < 1.0 / (1.0 + (-z).exp()));
                let p = 1.0 / (1.0 + (-k * z).exp());
                (((p * 1e6).round() / 1e6) as f32, y)
            })
            .unzip()
    }

    #[test]
    fn the_fit_finds_the_over_confidence_and_keeps_the_auc() {
        let (probs, labels) = overconfident(2.0, 20_000);
        let t = fit_temperature(&probs, &labels).unwrap();
        assert!((t - 2.0).abs() < 0.15, "T = {t}");
        let calibrated: Vec<f32> = probs.iter().map(|&p| scale(p, t)).collect();
        assert!(nll(&probs, &labels, t) < nll(&probs, &labels, 1.0));
        assert!(metrics::ece(&calibrated, &labels) < metrics::ece(&probs, &labels) / 3.0);
        // Exactly: distinct probabilities 1e-6 apart stay distinct in f32 after scaling.
        assert_eq!(
            metrics::auc(&calibrated, &labels),
            metrics::auc(&probs, &labels)
        );
        // The optimum: both neighbours fit worse.
        let at = |t: f64| nll(&probs, &labels, t);
        assert!(at(t) <= at(t * 1.01) && at(t) <= at(t / 1.01));
    }

    #[test]
    fn scaling_keeps_the_ends_and_nan() {
        assert_eq!(scale(0.0, 2.0), 0.0);
        assert_eq!(scale(1.0, 2.0), 1.0);
        assert_eq!(scale(0.5, 3.0), 0.5);
        assert!(scale(f32::NAN, 2.0).is_nan());
        // logit(0.8) = ln 4; halved: ln 2, so 2/3.
        assert!((scale(0.8, 2.0) - 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn degenerate_predictions_are_refused_with_the_reason() {
        let err = |p: &[f32], y: &[u8]| fit_temperature(p, y).unwrap_err().to_string();
        assert!(err(&[], &[]).contains("no predictions"));
        assert!(err(&[0.2, 0.7], &[1, 1]).contains("one class"));
        assert!(err(&[0.2, f32::NAN], &[0, 1]).contains("not a number"));
        // Perfectly separated: sharper is always better.
        assert!(err(&[0.2, 0.3, 0.7, 0.8], &[0, 0, 1, 1]).contains("separate"));
        // Backwards: no positive temperature helps.
        assert!(err(&[0.8, 0.7, 0.3, 0.2], &[0, 0, 1, 1]).contains("no signal"));
    }

    #[test]
    fn the_file_round_trips_and_bad_fields_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Calibration::read(dir.path()).unwrap(), None);
        let c = Calibration {
            temperature: 1.25,
            fitted_on: "valid_predictions.csv".into(),
            epoch: 3,
            n: 770,
            nll_before: 0.5,
            nll_after: 0.4,
            ece_before: 0.1,
            ece_after: 0.02,
        };
        c.write(dir.path()).unwrap();
        assert_eq!(Calibration::read(dir.path()).unwrap(), Some(c));
        let path = RunPaths::new(dir.path()).calibration();
        let text = std::fs::read_to_string(&path).unwrap();
        for (bad, want) in [
            (
                text.replace("temperature = 1.25", "temperature = -1.0"),
                "temperature = -1",
            ),
            (
                text.replace("temperature = 1.25", "temperature = \"x\""),
                "temperature",
            ),
            (
                text.replace("temperature = 1.25\n", ""),
                "missing field `temperature`",
            ),
            (text.replace("epoch = 3", "epoch = 3\nseed = 1"), "seed"),
        ] {
            std::fs::write(&path, bad).unwrap();
            let err = format!("{:#}", Calibration::read(dir.path()).unwrap_err());
            assert!(
                err.contains("calibration.toml") && err.contains(want),
                "{err}"
            );
        }
    }
}
