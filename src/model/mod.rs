//! Models, built at run time from the experiment's `[model]` table.

pub mod cnn;

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::experiment::{Arch, ModelConfig};

pub use cnn::Cnn;

/// Any model histoboard trains: one logit per image.
#[derive(Module, Debug)]
pub enum Net<B: Backend> {
    Cnn(Cnn<B>),
}

impl<B: Backend> Net<B> {
    /// Builds the model for square inputs of `side` pixels, loading pretrained weights if asked.
    pub fn build(
        cfg: &ModelConfig,
        side: usize,
        device: &B::Device,
        base_dir: &std::path::Path,
    ) -> Result<Net<B>> {
        let _ = base_dir;
        match cfg.arch {
            Arch::Cnn => {
                cnn::check_input_side(cfg, side).map_err(anyhow::Error::msg)?;
                Ok(Net::Cnn(Cnn::new(cfg, side, device)))
            }
            Arch::EfficientnetLite0 => anyhow::bail!("efficientnet-lite0 is not built yet"),
        }
    }

    /// `[N, 3, S, S]` to `[N, 1]` logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Net::Cnn(m) => m.forward(x),
        }
    }

    /// Whether the model has a pretrained backbone that can be frozen.
    pub fn has_backbone(&self) -> bool {
        false
    }
}

impl<B: AutodiffBackend> Net<B> {
    /// Training forward pass. With `frozen_backbone`, the backbone runs without autodiff in
    /// inference mode (a linear probe: no backbone gradients, no BatchNorm statistics updates).
    pub fn forward_train(&self, x: Tensor<B, 4>, frozen_backbone: bool) -> Tensor<B, 2> {
        let _ = frozen_backbone;
        self.forward(x)
    }

    /// Splits gradients into (backbone, head) groups; models without a backbone put everything
    /// in the head group.
    pub fn split_grads(
        &self,
        grads: B::Gradients,
    ) -> (
        Option<burn::optim::GradientsParams>,
        burn::optim::GradientsParams,
    ) {
        (None, burn::optim::GradientsParams::from_grads(grads, self))
    }
}

/// Writes the weights with PyTorch-style names next to a checkpoint; returns the file name.
pub fn export_safetensors<B: Backend>(model: &Net<B>, path: &std::path::Path) -> Result<Option<String>> {
    let _ = (model, path);
    Ok(None)
}

/// Number of trainable scalars.
pub fn param_count<B: Backend, M: Module<B>>(m: &M) -> usize {
    m.num_params()
}
