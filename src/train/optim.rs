//! The optimizer chosen in the experiment, behind one type so the loop stays generic.

use std::path::Path;

use anyhow::{Context, Result};
use burn::grad_clipping::GradientClippingConfig;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig,
};
use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::{load_record, save_record};
use crate::experiment::{Optimizer as Kind, TrainConfig};

pub enum AnyOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    Adam(OptimizerAdaptor<Adam, M, B>),
    AdamW(OptimizerAdaptor<AdamW, M, B>),
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> AnyOptimizer<M, B> {
    pub fn new(cfg: &TrainConfig) -> Self {
        let clip =
            (cfg.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(cfg.grad_clip as f32));
        let decay =
            (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
        match cfg.optimizer {
            Kind::Adam => AnyOptimizer::Adam(
                AdamConfig::new()
                    .with_beta_1(cfg.momentum as f32)
                    .with_epsilon(1e-7)
                    .with_weight_decay(decay)
                    .with_grad_clipping(clip)
                    .init(),
            ),
            Kind::Adamw => AnyOptimizer::AdamW(
                AdamWConfig::new()
                    .with_beta_1(cfg.momentum as f32)
                    .with_weight_decay(cfg.weight_decay as f32)
                    .with_grad_clipping(clip)
                    .init(),
            ),
            Kind::Sgd => AnyOptimizer::Sgd(
                SgdConfig::new()
                    .with_momentum(Some(
                        MomentumConfig::new()
                            .with_momentum(cfg.momentum)
                            .with_dampening(0.0),
                    ))
                    .with_weight_decay(decay)
                    .with_gradient_clipping(clip)
                    .init(),
            ),
        }
    }

    pub fn step(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        match self {
            AnyOptimizer::Adam(o) => o.step(lr, module, grads),
            AnyOptimizer::AdamW(o) => o.step(lr, module, grads),
            AnyOptimizer::Sgd(o) => o.step(lr, module, grads),
        }
    }

    /// Saves the optimizer state (moments, step counts) to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            AnyOptimizer::Adam(o) => save_record::<B, _>(o.to_record(), path),
            AnyOptimizer::AdamW(o) => save_record::<B, _>(o.to_record(), path),
            AnyOptimizer::Sgd(o) => save_record::<B, _>(o.to_record(), path),
        }
        .context("saving the optimizer state")
    }

    pub fn load(self, path: &Path, device: &B::Device) -> Result<Self> {
        let ctx = "loading the optimizer state";
        Ok(match self {
            AnyOptimizer::Adam(o) => {
                AnyOptimizer::Adam(o.load_record(load_record::<B, _>(path, device).context(ctx)?))
            }
            AnyOptimizer::AdamW(o) => {
                AnyOptimizer::AdamW(o.load_record(load_record::<B, _>(path, device).context(ctx)?))
            }
            AnyOptimizer::Sgd(o) => {
                AnyOptimizer::Sgd(o.load_record(load_record::<B, _>(path, device).context(ctx)?))
            }
        })
    }
}
