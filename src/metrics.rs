//! Binary-classification metrics: pure functions of (probability, label) pairs.
//!
//! Knows nothing of burn or the terminal; the trainer computes a [`Metrics`] per split and
//! epoch and the dashboard draws it.

use serde::{Deserialize, Deserializer, Serialize};

/// Reads a number that JSON may hold as `null`: serde_json writes a non-finite `f64` (a NaN AUC
/// of a one-class split, the best value of a run with no epoch yet) as `null`, and would refuse
/// to read it back. Every float of the event stream and the checkpoint pointers uses this.
pub fn nan_from_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<f64>::deserialize(d).map(|v| v.unwrap_or(f64::NAN))
}

/// Counts at one decision threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

/// Everything the dashboard and the CLI show for one split at one epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of examples.
    pub n: u64,
    /// Mean binary cross-entropy (NaN when no loss was recorded).
    #[serde(deserialize_with = "nan_from_null")]
    pub loss: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub accuracy: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub precision: f64,
    /// Sensitivity / true positive rate.
    #[serde(deserialize_with = "nan_from_null")]
    pub recall: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub specificity: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub f1: f64,
    /// ROC AUC, exact (Mann-Whitney with ties counted half).
    #[serde(deserialize_with = "nan_from_null")]
    pub auc: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub average_precision: f64,
    /// Confusion matrix at threshold 0.5.
    pub confusion: Confusion,
    /// The Youden-optimal threshold (max TPR - FPR) and its confusion matrix.
    #[serde(deserialize_with = "nan_from_null")]
    pub youden_threshold: f64,
    pub youden_confusion: Confusion,
    /// ROC curve points `[fpr, tpr]`, down-sampled for display, from (0,0) to (1,1).
    pub roc: Vec<[f32; 2]>,
    /// Expected calibration error over [`CALIBRATION_BINS`] equal-width bins (see [`ece`]).
    /// NaN in streams written before it existed: unknown, not perfect.
    #[serde(default = "unknown", deserialize_with = "nan_from_null")]
    pub ece: f64,
    /// The reliability diagram: the bins of [`reliability`] that hold examples.
    #[serde(default)]
    pub reliability: Vec<ReliabilityBin>,
}

/// Equal-width probability bins of the expected calibration error and reliability diagram
/// (15, as in Guo et al. 2017, "On Calibration of Modern Neural Networks").
pub const CALIBRATION_BINS: usize = 15;

fn unknown() -> f64 {
    f64::NAN
}

/// One bin of a reliability diagram: the examples whose predicted probability of tumour lies
/// in `(lo, hi]` (the first bin holds 0 too).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub count: u64,
    /// Mean predicted probability of the bin's examples.
    pub mean_prob: f64,
    /// Fraction of the bin's examples that are positive: a calibrated model's equals
    /// `mean_prob`.
    pub observed: f64,
}

/// Which split a metric is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Valid,
}

/// One of the figures of [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    Loss,
    Accuracy,
    Precision,
    Recall,
    Specificity,
    F1,
    Auc,
    AveragePrecision,
}

impl Measure {
    pub const ALL: [Measure; 8] = [
        Measure::Auc,
        Measure::Loss,
        Measure::Accuracy,
        Measure::F1,
        Measure::Precision,
        Measure::Recall,
        Measure::Specificity,
        Measure::AveragePrecision,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Measure::Loss => "loss",
            Measure::Accuracy => "accuracy",
            Measure::Precision => "precision",
            Measure::Recall => "recall",
            Measure::Specificity => "specificity",
            Measure::F1 => "f1",
            Measure::Auc => "auc",
            Measure::AveragePrecision => "average_precision",
        }
    }

    pub fn of(self, m: &Metrics) -> f64 {
        match self {
            Measure::Loss => m.loss,
            Measure::Accuracy => m.accuracy,
            Measure::Precision => m.precision,
            Measure::Recall => m.recall,
            Measure::Specificity => m.specificity,
            Measure::F1 => m.f1,
            Measure::Auc => m.auc,
            Measure::AveragePrecision => m.average_precision,
        }
    }
}

/// A metric named as experiments name them (`valid_auc`, `train_loss`): parsed once, here,
/// for the trainer's early stopping and checkpoints, the run state and the dashboard alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct MetricName {
    pub split: Split,
    pub measure: Measure,
}

impl MetricName {
    pub const VALID_AUC: MetricName = MetricName {
        split: Split::Valid,
        measure: Measure::Auc,
    };

    /// Lower is better for losses only.
    pub fn lower_is_better(self) -> bool {
        self.measure == Measure::Loss
    }

    /// The value of this metric given both splits' figures.
    pub fn of(self, train: &Metrics, valid: &Metrics) -> f64 {
        self.measure.of(match self.split {
            Split::Train => train,
            Split::Valid => valid,
        })
    }

    /// Whether `value` beats `best` by more than `min_delta` (any finite value beats NaN).
    pub fn improves(self, value: f64, best: f64, min_delta: f64) -> bool {
        value.is_finite()
            && (best.is_nan()
                || if self.lower_is_better() {
                    value < best - min_delta
                } else {
                    value > best + min_delta
                })
    }
}

impl std::str::FromStr for MetricName {
    type Err = String;

    fn from_str(s: &str) -> Result<MetricName, String> {
        let bad = || {
            let names: Vec<String> = Measure::ALL
                .iter()
                .map(|m| format!("valid_{}", m.name()))
                .collect();
            format!(
                "`{s}` is not a metric; use one of {} (or train_ for the training split)",
                names.join(", ")
            )
        };
        let (split, measure) = s.split_once('_').ok_or_else(bad)?;
        let split = match split {
            "train" => Split::Train,
            "valid" => Split::Valid,
            _ => return Err(bad()),
        };
        let measure = Measure::ALL
            .into_iter()
            .find(|m| m.name() == measure)
            .ok_or_else(bad)?;
        Ok(MetricName { split, measure })
    }
}

impl std::fmt::Display for MetricName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let split = match self.split {
            Split::Train => "train",
            Split::Valid => "valid",
        };
        write!(f, "{split}_{}", self.measure.name())
    }
}

impl From<MetricName> for String {
    fn from(m: MetricName) -> String {
        m.to_string()
    }
}

/// Every metric for one split. `loss` is passed through (NaN when not recorded); `roc_points`
/// caps the stored ROC curve (0 stores none, 1 is raised to 2: both endpoints are always kept).
///
/// O(n log n) in the number of examples (one sort).
///
/// # Degenerate inputs
///
/// Defined once so the trainer, the CLI and the dashboard agree:
/// - `probs` and `labels` of different lengths: only the common prefix is used (never a panic).
/// - label values: 0 is negative, anything else is positive.
/// - NaN scores rank below every number (as if -inf) and are never predicted positive, so a model
///   emitting NaN shows poor metrics instead of poisoning the sort.
/// - Empty input: accuracy, AUC and average precision are NaN, the other ratios 0 (below), counts
///   are 0, the ROC curve is empty.
/// - One class only: ROC AUC is NaN (no positive/negative pair exists), the ROC curve is empty and
///   the Youden threshold falls back to 0.5 (with the 0.5 confusion matrix). Average precision is NaN without positives (sklearn
///   returns 0 with a warning) and 1 when every example is positive.
/// - Ratios with a zero denominator at a fixed threshold (precision with no predicted positives,
///   recall without positives, specificity without negatives, F1 when tp + fp + fn = 0) are 0, as
///   sklearn's `zero_division` default does.
pub fn compute(probs: &[f32], labels: &[u8], loss: f64, roc_points: usize) -> Metrics {
    let n = probs.len().min(labels.len());
    let (probs, labels) = (&probs[..n], &labels[..n]);
    let confusion = confusion_at(probs, labels, 0.5);
    let curve = Curve::new(probs, labels);
    let (youden_threshold, youden_confusion) = match curve.youden() {
        Some(best) => best,
        None => (0.5, confusion),
    };
    let roc = if roc_points == 0 {
        Vec::new()
    } else {
        downsample(&curve.roc(), roc_points.max(2))
            .into_iter()
            .map(|(fpr, tpr, _)| [fpr as f32, tpr as f32])
            .collect()
    };
    let c = confusion;
    Metrics {
        n: n as u64,
        loss,
        accuracy: if n == 0 {
            f64::NAN
        } else {
            (c.tp + c.tn) as f64 / n as f64
        },
        precision: ratio_or_zero(c.tp, c.tp + c.fp),
        recall: ratio_or_zero(c.tp, c.tp + c.fn_),
        specificity: ratio_or_zero(c.tn, c.tn + c.fp),
        f1: ratio_or_zero(2 * c.tp, 2 * c.tp + c.fp + c.fn_),
        auc: curve.auc(),
        average_precision: curve.average_precision(),
        confusion,
        youden_threshold,
        youden_confusion,
        roc,
        ece: ece(probs, labels),
        reliability: reliability(probs, labels, CALIBRATION_BINS),
    }
}

/// The reliability diagram of positive-class probabilities in `bins` equal-width bins: bin
/// `k` holds `p` in `(k/bins, (k+1)/bins]`, bin 0 holds 0 too (the convention of Guo et al.).
/// Only bins that hold examples are returned, lowest first.
///
/// Degenerate inputs: lengths differ, only the common prefix is used; labels other than 0 are
/// positive; NaN probabilities are left out (they belong to no bin: [`ece`] says NaN for
/// them); probabilities outside [0, 1] are clamped into it; `bins` 0 is taken as 1; empty
/// input gives no bins. One class only is no special case: every observed fraction is 0 or 1.
pub fn reliability(probs: &[f32], labels: &[u8], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    // (count, sum of p, positives) per bin.
    let mut acc = vec![(0u64, 0f64, 0u64); bins];
    for (&p, &y) in probs.iter().zip(labels) {
        if p.is_nan() {
            continue;
        }
        let p = f64::from(p).clamp(0.0, 1.0);
        // Upper edges belong to their bin: ceil(p * bins) - 1, and 0 goes to bin 0.
        let k = ((p * bins as f64).ceil() as usize).clamp(1, bins) - 1;
        let a = &mut acc[k];
        a.0 += 1;
        a.1 += p;
        a.2 += u64::from(y != 0);
    }
    acc.into_iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(k, (count, sum, pos))| ReliabilityBin {
            lo: k as f64 / bins as f64,
            hi: (k + 1) as f64 / bins as f64,
            count,
            mean_prob: sum / count as f64,
            observed: pos as f64 / count as f64,
        })
        .collect()
}

/// Expected calibration error of positive-class probabilities over [`CALIBRATION_BINS`]
/// equal-width bins: `sum over bins of (count / n) * |observed - mean_prob|`, 0 for a
/// perfectly calibrated model, at most 1.
///
/// NaN for empty input, and when any probability is NaN (a model that emits NaN has no
/// calibration to measure; leaving those out would flatter it). One class only is well
/// defined (the observed fractions are all 0 or all 1). See [`reliability`] for the bins.
pub fn ece(probs: &[f32], labels: &[u8]) -> f64 {
    let n = probs.len().min(labels.len());
    if n == 0 || probs[..n].iter().any(|p| p.is_nan()) {
        return f64::NAN;
    }
    reliability(&probs[..n], &labels[..n], CALIBRATION_BINS)
        .iter()
        .map(|b| b.count as f64 / n as f64 * (b.observed - b.mean_prob).abs())
        .sum()
}

/// The ROC curve over every distinct score, from `(0, 0, +inf)` to `(1, 1, lowest score)`:
/// `(fpr, tpr, threshold)` where a point predicts positive when `p >= threshold` (like sklearn's
/// `roc_curve(drop_intermediate=False)`). Empty for empty or one-class input.
pub fn roc_curve(probs: &[f32], labels: &[u8]) -> Vec<(f64, f64, f64)> {
    let n = probs.len().min(labels.len());
    Curve::new(&probs[..n], &labels[..n]).roc()
}

/// Exact ROC AUC: the probability that a random positive scores above a random negative, ties
/// counted half (equal to sklearn's `roc_auc_score`). NaN for empty or one-class input.
pub fn auc(probs: &[f32], labels: &[u8]) -> f64 {
    let n = probs.len().min(labels.len());
    Curve::new(&probs[..n], &labels[..n]).auc()
}

/// Confusion matrix predicting positive when `p >= threshold` (NaN scores are never positive).
pub fn confusion_at(probs: &[f32], labels: &[u8], threshold: f64) -> Confusion {
    let mut c = Confusion::default();
    for (&p, &y) in probs.iter().zip(labels) {
        match (f64::from(p) >= threshold, y != 0) {
            (true, true) => c.tp += 1,
            (true, false) => c.fp += 1,
            (false, false) => c.tn += 1,
            (false, true) => c.fn_ += 1,
        }
    }
    c
}

fn ratio_or_zero(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Cumulative counts at each distinct score, highest score first.
struct Curve {
    /// `(score, tp, fp)`: counts of examples with score >= `score`.
    steps: Vec<(f32, u64, u64)>,
    pos: u64,
    neg: u64,
}

impl Curve {
    fn new(probs: &[f32], labels: &[u8]) -> Curve {
        let mut pairs: Vec<(f32, bool)> = probs
            .iter()
            .zip(labels)
            .map(|(&p, &y)| (if p.is_nan() { f32::NEG_INFINITY } else { p }, y != 0))
            .collect();
        // Descending; total_cmp never panics and NaN is gone, so ties are exact equality.
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut steps: Vec<(f32, u64, u64)> = Vec::new();
        let (mut tp, mut fp) = (0u64, 0u64);
        for (i, &(score, positive)) in pairs.iter().enumerate() {
            if positive {
                tp += 1;
            } else {
                fp += 1;
            }
            // Close a step at the last example of each run of equal scores (-0.0 == 0.0 too).
            if pairs.get(i + 1).is_none_or(|next| next.0 != score) {
                steps.push((score, tp, fp));
            }
        }
        Curve {
            steps,
            pos: tp,
            neg: fp,
        }
    }

    fn two_classes(&self) -> bool {
        self.pos > 0 && self.neg > 0
    }

    fn auc(&self) -> f64 {
        if !self.two_classes() {
            return f64::NAN;
        }
        // Trapezoids between consecutive steps, in integer units of 1/(2 * pos * neg): a tied
        // group of dfp negatives and dtp positives contributes dfp * (2 * tp_before + dtp).
        let (mut sum, mut tp_prev, mut fp_prev) = (0u128, 0u64, 0u64);
        for &(_, tp, fp) in &self.steps {
            let (dtp, dfp) = (tp - tp_prev, fp - fp_prev);
            sum += u128::from(dfp) * u128::from(2 * tp_prev + dtp);
            (tp_prev, fp_prev) = (tp, fp);
        }
        sum as f64 / (2.0 * self.pos as f64 * self.neg as f64)
    }

    fn average_precision(&self) -> f64 {
        if self.pos == 0 {
            return f64::NAN;
        }
        let (mut ap, mut tp_prev) = (0.0, 0u64);
        for &(_, tp, fp) in &self.steps {
            let precision = tp as f64 / (tp + fp) as f64;
            ap += (tp - tp_prev) as f64 / self.pos as f64 * precision;
            tp_prev = tp;
        }
        ap
    }

    fn roc(&self) -> Vec<(f64, f64, f64)> {
        if !self.two_classes() {
            return Vec::new();
        }
        let (pos, neg) = (self.pos as f64, self.neg as f64);
        std::iter::once((0.0, 0.0, f64::INFINITY))
            .chain(
                self.steps
                    .iter()
                    .map(|&(s, tp, fp)| (fp as f64 / neg, tp as f64 / pos, f64::from(s))),
            )
            .collect()
    }

    /// Threshold maximising TPR - FPR (the highest such score on ties) and its confusion.
    fn youden(&self) -> Option<(f64, Confusion)> {
        if !self.two_classes() {
            return None;
        }
        // Compare J * pos * neg = tp * neg - fp * pos exactly in integers.
        let j = |tp: u64, fp: u64| {
            i128::from(tp) * i128::from(self.neg) - i128::from(fp) * i128::from(self.pos)
        };
        let mut best: Option<(i128, f32, u64, u64)> = None;
        for &(s, tp, fp) in &self.steps {
            let value = j(tp, fp);
            if best.is_none_or(|b| value > b.0) {
                best = Some((value, s, tp, fp));
            }
        }
        best.map(|(_, s, tp, fp)| {
            let confusion = Confusion {
                tp,
                fp,
                tn: self.neg - fp,
                fn_: self.pos - tp,
            };
            (f64::from(s), confusion)
        })
    }
}

/// Keeps at most `max` points of a monotone curve, including both endpoints, spaced evenly
/// along its L1 arc length (`fpr + tpr` grows from 0 to 2), so long flat or steep stretches keep
/// their few points and dense regions are thinned.
fn downsample(curve: &[(f64, f64, f64)], max: usize) -> Vec<(f64, f64, f64)> {
    if curve.len() <= max {
        return curve.to_vec();
    }
    let total = {
        let (first, last) = (curve[0], curve[curve.len() - 1]);
        (last.0 + last.1) - (first.0 + first.1)
    };
    let mut out = Vec::with_capacity(max);
    let mut i = 0;
    for k in 0..max {
        let target = total * k as f64 / (max - 1) as f64;
        // The last point is taken exactly, whatever rounding does to `target`.
        if k == max - 1 {
            i = curve.len() - 1;
        } else {
            while i < curve.len() - 1
                && curve[i].0 + curve[i].1 - (curve[0].0 + curve[0].1) < target
            {
                i += 1;
            }
        }
        if out.last() != Some(&curve[i]) {
            out.push(curve[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn reliability_bins_by_hand() {
        // Bins of width 1/15 = 0.0667: 0.05 and 0 -> bin 0; 0.1 -> bin 1 (0.0667, 0.1333];
        // 0.19 -> bin 2 (0.1333, 0.2]; 0.9 -> bin 13 (0.8667, 0.9333]; 0.95 -> bin 14.
        let probs = [0.05, 0.1, 0.19, 0.9, 0.9, 0.95, 0.0];
        let labels = [0, 0, 1, 1, 0, 1, 0];
        let bins = reliability(&probs, &labels, CALIBRATION_BINS);
        let got: Vec<(usize, u64)> = bins
            .iter()
            .map(|b| ((b.lo * 15.0).round() as usize, b.count))
            .collect();
        assert_eq!(got, [(0, 2), (1, 1), (2, 1), (13, 2), (14, 1)]);
        assert!(close(bins[0].mean_prob, 0.025) && bins[0].observed == 0.0);
        assert!(close(bins[3].mean_prob, 0.9) && bins[3].observed == 0.5);
        assert!(close(bins[4].hi, 1.0) && bins[4].observed == 1.0);
        // ECE = (2 * 0.025 + 1 * 0.1 + 1 * 0.81 + 2 * 0.4 + 1 * 0.05) / 7 = 1.81 / 7.
        assert!(
            close(ece(&probs, &labels), 1.81 / 7.0),
            "{}",
            ece(&probs, &labels)
        );
    }

    #[test]
    fn a_bin_holds_its_upper_edge_and_the_first_holds_zero() {
        // Quarters are exact in binary: 0.25 is the top of bin 0, 0.5 of bin 1.
        let b = reliability(&[0.25, 0.5, 0.0, 1.0], &[0, 1, 0, 1], 4);
        let got: Vec<(f64, f64, u64)> = b.iter().map(|b| (b.lo, b.hi, b.count)).collect();
        assert_eq!(got, [(0.0, 0.25, 2), (0.25, 0.5, 1), (0.75, 1.0, 1)]);
    }

    #[test]
    fn ece_of_a_calibrated_and_a_confidently_wrong_model() {
        // Half the tiles at 0.5, half of them positive: calibrated.
        assert!(close(ece(&[0.5, 0.5, 0.5, 0.5], &[0, 1, 0, 1]), 0.0));
        // Certain and always wrong: the worst there is.
        assert!(close(ece(&[1.0, 0.0], &[0, 1]), 1.0));
    }

    #[test]
    fn ece_of_degenerate_input_is_explicit() {
        assert!(ece(&[], &[]).is_nan());
        assert!(reliability(&[], &[], CALIBRATION_BINS).is_empty());
        // One class: defined. Every tile negative at 0.3: |0 - 0.3|.
        assert!(close(ece(&[0.3, 0.3], &[0, 0]), 0.3));
        // A NaN probability: no honest figure; the bins keep the others.
        assert!(ece(&[0.3, f32::NAN], &[0, 1]).is_nan());
        assert_eq!(reliability(&[0.3, f32::NAN], &[0, 1], 15).len(), 1);
        // Out of range: clamped into the end bins.
        let b = reliability(&[-0.5, 1.5], &[0, 1], 15);
        assert_eq!((b[0].lo, b[0].mean_prob), (0.0, 0.0));
        assert_eq!((b[1].hi, b[1].mean_prob), (1.0, 1.0));
        // Different lengths: the common prefix.
        assert!(close(ece(&[0.3, 0.3, 0.9], &[0, 0]), 0.3));
        // Zero bins: one.
        assert_eq!(reliability(&[0.2, 0.8], &[0, 1], 0).len(), 1);
    }

    #[test]
    fn metrics_carry_calibration_and_old_streams_read_without_it() {
        let m = compute(&[0.1, 0.8, 0.9], &[0, 1, 1], 0.2, 8);
        assert_eq!(m.ece, ece(&[0.1, 0.8, 0.9], &[0, 1, 1]));
        assert_eq!(m.reliability.len(), 3);
        let mut json = serde_json::to_value(&m).unwrap();
        let obj = json.as_object_mut().unwrap();
        obj.remove("ece");
        obj.remove("reliability");
        let old: Metrics = serde_json::from_value(json).unwrap();
        assert!(old.ece.is_nan() && old.reliability.is_empty());
    }

    #[test]
    fn metric_names_parse_print_and_compare() {
        for m in Measure::ALL {
            for split in ["train", "valid"] {
                let name = format!("{split}_{}", m.name());
                let parsed: MetricName = name.parse().unwrap();
                assert_eq!(parsed.to_string(), name);
            }
        }
        let loss: MetricName = "valid_loss".parse().unwrap();
        assert!(loss.lower_is_better());
        assert!(loss.improves(0.3, 0.4, 0.05));
        assert!(!loss.improves(0.38, 0.4, 0.05));
        assert!(MetricName::VALID_AUC.improves(0.5, f64::NAN, 0.0));
        assert!(!MetricName::VALID_AUC.improves(f64::NAN, 0.5, 0.0));
        for bad in ["auc", "test_auc", "valid_nope", ""] {
            let err = bad.parse::<MetricName>().unwrap_err();
            assert!(err.contains("valid_auc"), "{err}");
        }
    }
}
