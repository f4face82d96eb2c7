//! Models, built at run time from the experiment's `[model]` table.

pub mod cnn;
pub mod effnet;
pub mod norm;
pub mod weights;

use std::path::Path;

use anyhow::{Context, Result};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

use crate::experiment::{Arch, ModelConfig};
use crate::kernels::Kernels;

pub use cnn::Cnn;
pub use effnet::EfficientNetLite0;

/// Any model histoboard trains: one logit per image.
// One model lives per run, so the variants' size difference costs nothing worth a Box
// (which burn's Module derive would not see through).
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Net<B: Backend> {
    Cnn(Cnn<B>),
    EfficientNetLite0(EfficientNetLite0<B>),
}

impl<B: Backend> Net<B> {
    /// Builds the model for square inputs of `side` pixels, loading pretrained weights if the
    /// config names them (relative paths resolve against `base_dir`, then the current folder).
    pub fn build(
        cfg: &ModelConfig,
        side: usize,
        device: &B::Device,
        base_dir: &Path,
    ) -> Result<Net<B>> {
        match cfg.arch {
            Arch::Cnn => {
                cnn::check_input_side(cfg, side).map_err(anyhow::Error::msg)?;
                Ok(Net::Cnn(Cnn::new(cfg, side, device)))
            }
            Arch::EfficientnetLite0 => {
                let mut m = EfficientNetLite0::new(device, cfg.dropout, false)?;
                if !cfg.pretrained.is_empty() {
                    let p = Path::new(&cfg.pretrained);
                    let path = if p.is_relative() && base_dir.join(p).exists() {
                        base_dir.join(p)
                    } else {
                        p.to_path_buf()
                    };
                    m = m
                        .load_imagenet(&path)
                        .with_context(|| format!("model.pretrained = {:?}", cfg.pretrained))?;
                }
                Ok(Net::EfficientNetLite0(m))
            }
        }
    }

    /// Draws every lazily initialised parameter now. burn initialises a parameter at its first
    /// use, and a clone of a module whose parameters are not drawn yet draws its own: without
    /// this, the epoch-0 checkpoint (saved from a clone) would hold other weights than the
    /// ones trained, and a run resumed from it would not repeat the original.
    pub fn materialize(&self) {
        struct Touch;
        impl<B: Backend> burn::module::ModuleVisitor<B> for Touch {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                let _ = param.val();
            }
        }
        self.visit(&mut Touch);
    }

    /// Whether the model has a pretrained-style backbone with its own learning rate.
    pub fn has_backbone(&self) -> bool {
        matches!(self, Net::EfficientNetLite0(_))
    }
}

impl<B: Kernels> Net<B> {
    /// `[N, 3, S, S]` to `[N, 1]` logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Net::Cnn(m) => m.forward(x),
            Net::EfficientNetLite0(m) => m.forward(x),
        }
    }

    /// Logits in inference mode on any backend, an autodiff one included (running BatchNorm
    /// statistics, no dropout): what input-gradient saliency differentiates.
    pub fn forward_inference(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        match self {
            Net::Cnn(m) => m.forward_inference(x),
            Net::EfficientNetLite0(m) => m.forward_inference(x),
        }
    }
}

impl<B: AutodiffBackend + Kernels> Net<B>
where
    B::InnerBackend: Kernels,
{
    /// Training forward pass. With `frozen_backbone`, the backbone runs without autodiff in
    /// inference mode (a linear probe: no backbone gradients or BatchNorm statistics updates,
    /// and no backward pass through it, which makes frozen epochs several times cheaper).
    pub fn forward_train(&self, x: Tensor<B, 4>, frozen_backbone: bool) -> Tensor<B, 2> {
        match self {
            Net::EfficientNetLite0(m) if frozen_backbone => {
                let features = m.valid().forward_features(x.inner());
                m.forward_head(Tensor::from_inner(features))
            }
            _ => self.forward(x),
        }
    }

    /// Splits gradients into (backbone, head) groups, so the backbone can have its own
    /// learning rate; models without a backbone put everything in the head group.
    pub fn split_grads(&self, grads: B::Gradients) -> (Option<GradientsParams>, GradientsParams) {
        let mut grads = grads;
        match self {
            Net::Cnn(_) => (None, GradientsParams::from_module(&mut grads, self)),
            Net::EfficientNetLite0(m) => {
                let backbone =
                    GradientsParams::from_params(&mut grads, self, &m.backbone_param_ids());
                let head = GradientsParams::from_params(&mut grads, self, &m.head_param_ids());
                (Some(backbone), head)
            }
        }
    }
}

/// Writes the weights with PyTorch-style names next to a checkpoint, so they load in PyTorch
/// (`torch_reference.py`'s models use the same names); returns the file name.
pub fn export_safetensors<B: Backend>(model: &Net<B>, path: &Path) -> Result<Option<String>> {
    match model {
        Net::Cnn(m) => weights::save_safetensors(m, path)?,
        Net::EfficientNetLite0(m) => weights::save_safetensors(m, path)?,
    }
    Ok(path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string))
}
