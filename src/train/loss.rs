//! The training loss, the validation loss, and the watch for a diverging optimiser.

use anyhow::{Result, bail};
use burn::prelude::*;

/// Numerically stable binary cross-entropy on logits, per example, with the positive class
/// weighted by `pos_weight` (1 = unweighted).
pub fn bce_with_logits<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 2>,
    pos_weight: f64,
) -> Tensor<B, 2> {
    // softplus(-x) = -log(sigmoid(x)), computed without overflow.
    let softplus_neg =
        (logits.clone().abs().neg().exp() + 1.0).log() + logits.clone().neg().clamp_min(0.0);
    let neg_term = (targets.clone().neg() + 1.0) * logits;
    let weight = targets * (pos_weight - 1.0) + 1.0;
    neg_term + weight * softplus_neg
}

/// Mean BCE of probabilities against labels (for validation metrics).
pub fn bce_of_probs(probs: &[f32], labels: &[u8]) -> f64 {
    if probs.is_empty() {
        return f64::NAN;
    }
    let eps = 1e-7f64;
    let sum: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(eps, 1.0 - eps);
            if y == 1 { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    sum / probs.len() as f64
}

/// Batches whose mean loss is checked for divergence.
const DIVERGENCE_WINDOW: usize = 20;
/// A mean loss this many times the chance level (ln 2 per example, scaled by the positive
/// weight) over the window means the optimiser has diverged: no healthy run comes near it,
/// and Adam's normalised steps keep a diverged loss finite (1e12 and more), so the NaN check
/// alone never fires.
const DIVERGENCE_FACTOR: f64 = 100.0;

/// Watches the recent training losses for divergence.
pub(crate) struct DivergenceGuard {
    recent: std::collections::VecDeque<f64>,
    window: usize,
    limit: f64,
}

impl DivergenceGuard {
    pub(crate) fn new(batches_per_epoch: usize, pos_weight: f64) -> DivergenceGuard {
        let window = DIVERGENCE_WINDOW.min(batches_per_epoch).max(1);
        DivergenceGuard {
            recent: std::collections::VecDeque::with_capacity(window),
            window,
            limit: DIVERGENCE_FACTOR * std::f64::consts::LN_2 * pos_weight.max(1.0),
        }
    }

    /// Records a batch loss; an error once the loss is not finite or the window's mean is over
    /// the limit.
    pub(crate) fn check(&mut self, loss: f64, epoch: usize, batch: usize, lr: f64) -> Result<()> {
        if !loss.is_finite() {
            bail!(
                "the training loss became {loss} at epoch {epoch}, batch {batch}; \
                 try a lower train.lr (now {lr:e}) or set train.grad_clip"
            );
        }
        if self.recent.len() == self.window {
            self.recent.pop_front();
        }
        self.recent.push_back(loss);
        let mean = self.recent.iter().sum::<f64>() / self.recent.len() as f64;
        if self.recent.len() == self.window && mean > self.limit {
            bail!(
                "training diverged: the loss averaged {mean:.3e} over the {} batches up to \
                 epoch {epoch}, batch {batch} (chance level is {:.2}); try a lower train.lr \
                 (now {lr:e}) or set train.grad_clip",
                self.window,
                self.limit / DIVERGENCE_FACTOR
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn bce_matches_the_textbook_formula() {
        let device = Default::default();
        let x = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![-3.0f32, 0.0, 2.5, 40.0], [4, 1]),
            &device,
        );
        let y = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 1.0, 0.0], [4, 1]),
            &device,
        );
        let got = bce_with_logits(x, y, 1.0)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        // -[y ln s(x) + (1-y) ln(1 - s(x))], written so that f64 does not round s(40) to 1.
        let want = |x: f64, y: f64| y * (1.0 + (-x).exp()).ln() + (1.0 - y) * (1.0 + x.exp()).ln();
        for (g, (x, y)) in got
            .iter()
            .zip([(-3.0, 0.0), (0.0, 1.0), (2.5, 1.0), (40.0, 0.0)])
        {
            assert!((*g as f64 - want(x, y)).abs() < 1e-4, "x={x} y={y}: {g}");
        }
    }

    #[test]
    fn positive_weight_scales_only_positive_terms() {
        let device = Default::default();
        let x = Tensor::<Flex, 2>::from_data(TensorData::new(vec![0.3f32, 0.3], [2, 1]), &device);
        let y = Tensor::<Flex, 2>::from_data(TensorData::new(vec![1.0f32, 0.0], [2, 1]), &device);
        let w1 = bce_with_logits(x.clone(), y.clone(), 1.0)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let w2 = bce_with_logits(x, y, 2.0)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert!((w2[0] - 2.0 * w1[0]).abs() < 1e-6);
        assert!((w2[1] - w1[1]).abs() < 1e-6);
    }

    #[test]
    fn divergence_is_caught_and_healthy_losses_pass() {
        let mut g = DivergenceGuard::new(3, 1.0);
        for b in 1..=30 {
            g.check(0.7 + (b % 3) as f64, 1, b, 1e-3).unwrap();
        }
        let mut g = DivergenceGuard::new(3, 1.0);
        g.check(1e3, 1, 1, 1e3).unwrap();
        g.check(1e6, 1, 2, 1e3).unwrap();
        let err = g.check(1e9, 1, 3, 1e3).unwrap_err();
        assert!(format!("{err}").contains("diverged"), "{err}");
        let err = DivergenceGuard::new(3, 1.0)
            .check(f64::NAN, 2, 1, 1e-3)
            .unwrap_err();
        assert!(format!("{err}").contains("NaN"), "{err}");
    }
}
