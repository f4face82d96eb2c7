//! EfficientNet-Lite0 (Tan & Le; the TensorFlow "lite" variant: no squeeze-excite, ReLU6,
//! fixed 32-channel stem and 1280-channel head) with a 1-logit transfer head.
//!
//! Field names follow the PyTorch state dict of the ImageNet weights in `data/weights/`
//! (`_conv_stem`, `_bn0`, `_blocks.N._depthwise_conv`, ...), so [`EfficientNetLite0::load_imagenet`]
//! needs no renaming and a checkpoint written with [`super::weights::save_safetensors`] loads into
//! the PyTorch definition in `shared/bench/torch_reference.py` (`head.weight`, `head.bias`).
//!
//! Input: `[N, 3, H, W]` RGB scaled as `(pixel - 127) / 128`; any size, 96x96 tiles give a 3x3
//! map before pooling.
//!
//! # Freezing and learning rates
//! [`EfficientNetLite0::freeze_backbone`] marks every backbone parameter as not requiring a
//! gradient (burn's `Param::set_require_grad`), so the autodiff graph skips the backbone,
//! `GradientsParams` has no entry for it and no optimizer step touches it. It also switches the
//! backbone's BatchNorms to their running statistics, because in burn a BatchNorm on an autodiff
//! backend otherwise normalises with batch statistics and updates its running averages, which
//! would make the "frozen" features drift. Freezing only means something on an autodiff backend
//! (on a plain backend `require_grad` is not tracked); burn 0.21 keeps the flag across
//! `valid()` / `from_inner`.
//!
//! burn 0.21 optimizers have no parameter groups. For a smaller backbone learning rate, split
//! the gradients with [`EfficientNetLite0::backbone_param_ids`] /
//! [`EfficientNetLite0::head_param_ids`] and
//! `GradientsParams::from_params(&mut grads, &model, &ids)`, then call `optim.step` once per group
//! with its own learning rate (optimizer state is keyed by `ParamId`, so one optimizer serves
//! both groups).

use std::path::Path;

use anyhow::{Result, bail};
use burn::module::{Module, ParamId};
use burn::nn::conv::{Conv2d, Conv2dConfig};

use crate::kernels::{self, Activation, Kernels};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::weights::{list, load_safetensors_partial};

/// Width of the pooled feature vector.
pub const FEATURES: usize = 1280;
/// Number of ImageNet classes of the optional `_fc` classifier.
pub const IMAGENET_CLASSES: usize = 1000;
/// BatchNorm epsilon of the TensorFlow checkpoint (PyTorch's default 1e-5 would be wrong).
const BN_EPS: f64 = 1e-3;
const STEM_CHANNELS: usize = 32;
const HEAD_IN: usize = 320;

/// One MBConv block: (kernel, stride, expand ratio, in channels, out channels).
struct BlockSpec {
    kernel: usize,
    stride: usize,
    expand: usize,
    input: usize,
    output: usize,
}

const fn spec(
    kernel: usize,
    stride: usize,
    expand: usize,
    input: usize,
    output: usize,
) -> BlockSpec {
    BlockSpec {
        kernel,
        stride,
        expand,
        input,
        output,
    }
}

/// The 16 blocks of EfficientNet-Lite0 (the block table of `efficientnet_lite0-imagenet.json`).
const BLOCKS: [BlockSpec; 16] = [
    spec(3, 1, 1, 32, 16),
    spec(3, 2, 6, 16, 24),
    spec(3, 1, 6, 24, 24),
    spec(5, 2, 6, 24, 40),
    spec(5, 1, 6, 40, 40),
    spec(3, 2, 6, 40, 80),
    spec(3, 1, 6, 80, 80),
    spec(3, 1, 6, 80, 80),
    spec(5, 1, 6, 80, 112),
    spec(5, 1, 6, 112, 112),
    spec(5, 1, 6, 112, 112),
    spec(5, 2, 6, 112, 192),
    spec(5, 1, 6, 192, 192),
    spec(5, 1, 6, 192, 192),
    spec(5, 1, 6, 192, 192),
    spec(3, 1, 6, 192, 320),
];

/// Inverted-residual block without squeeze-excite.
#[derive(Module, Debug)]
pub struct MbConvBlock<B: Backend> {
    /// 1x1 expansion (absent when the expand ratio is 1).
    _expand_conv: Option<Conv2d<B>>,
    _bn0: Option<BatchNorm<B>>,
    /// kxk depthwise conv (groups = channels).
    _depthwise_conv: Conv2d<B>,
    _bn1: BatchNorm<B>,
    /// 1x1 projection, no activation after its BatchNorm.
    _project_conv: Conv2d<B>,
    _bn2: BatchNorm<B>,
    /// Stride 1 and same width in and out.
    residual: bool,
}

/// EfficientNet-Lite0 backbone, optional ImageNet classifier, and a 1-logit transfer head.
#[derive(Module, Debug)]
pub struct EfficientNetLite0<B: Backend> {
    _conv_stem: Conv2d<B>,
    _bn0: BatchNorm<B>,
    _blocks: Vec<MbConvBlock<B>>,
    _conv_head: Conv2d<B>,
    _bn1: BatchNorm<B>,
    /// ImageNet classifier (1280 -> 1000), kept only to check against reference logits.
    _fc: Option<Linear<B>>,
    dropout: Dropout,
    /// Transfer head: 1280 -> 1 logit.
    head: Linear<B>,
    /// Backbone BatchNorms use running statistics even when training (set while frozen).
    backbone_bn_eval: bool,
}

fn conv<B: Backend>(
    device: &B::Device,
    input: usize,
    output: usize,
    kernel: usize,
    stride: usize,
    groups: usize,
) -> Conv2d<B> {
    // Symmetric k/2 padding, as in PyTorch and the reference vectors.
    let pad = kernel / 2;
    Conv2dConfig::new([input, output], [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_groups(groups)
        .with_bias(false)
        .init(device)
}

fn batch_norm<B: Backend>(device: &B::Device, channels: usize) -> BatchNorm<B> {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPS)
        .init(device)
}

/// `act(BatchNorm(x))`, with an override: `eval` forces running statistics even on an
/// autodiff backend.
fn bn<B: Kernels>(
    norm: &BatchNorm<B>,
    x: Tensor<B, 4>,
    eval: bool,
    act: Activation,
) -> Tensor<B, 4> {
    if eval {
        super::norm::forward_eval(norm, x, act)
    } else {
        super::norm::forward(norm, x, act)
    }
}

fn conv_require_grad<B: Backend>(c: Conv2d<B>, require_grad: bool) -> Conv2d<B> {
    Conv2d {
        weight: c.weight.set_require_grad(require_grad),
        bias: c.bias.map(|b| b.set_require_grad(require_grad)),
        ..c
    }
}

/// Only gamma and beta: running statistics are state, never trained.
fn bn_require_grad<B: Backend>(n: BatchNorm<B>, require_grad: bool) -> BatchNorm<B> {
    BatchNorm {
        gamma: n.gamma.set_require_grad(require_grad),
        beta: n.beta.set_require_grad(require_grad),
        ..n
    }
}

fn linear_require_grad<B: Backend>(l: Linear<B>, require_grad: bool) -> Linear<B> {
    Linear {
        weight: l.weight.set_require_grad(require_grad),
        bias: l.bias.map(|b| b.set_require_grad(require_grad)),
    }
}

fn conv_ids<B: Backend>(c: &Conv2d<B>, ids: &mut Vec<ParamId>) {
    ids.push(c.weight.id);
    ids.extend(c.bias.as_ref().map(|b| b.id));
}

fn bn_ids<B: Backend>(n: &BatchNorm<B>, ids: &mut Vec<ParamId>) {
    ids.push(n.gamma.id);
    ids.push(n.beta.id);
}

fn linear_ids<B: Backend>(l: &Linear<B>, ids: &mut Vec<ParamId>) {
    ids.push(l.weight.id);
    ids.extend(l.bias.as_ref().map(|b| b.id));
}

impl<B: Kernels> MbConvBlock<B> {
    fn forward(&self, x: Tensor<B, 4>, bn_eval: bool) -> Tensor<B, 4> {
        let mut h = x.clone();
        if let (Some(expand), Some(norm)) = (&self._expand_conv, &self._bn0) {
            h = bn(norm, kernels::conv2d(expand, h), bn_eval, Activation::Relu6);
        }
        h = bn(
            &self._bn1,
            kernels::conv2d(&self._depthwise_conv, h),
            bn_eval,
            Activation::Relu6,
        );
        h = bn(
            &self._bn2,
            kernels::conv2d(&self._project_conv, h),
            bn_eval,
            Activation::Identity,
        );
        if self.residual { h + x } else { h }
    }
}

impl<B: Backend> MbConvBlock<B> {
    fn new(device: &B::Device, s: &BlockSpec) -> Self {
        let mid = s.input * s.expand;
        let (expand_conv, bn0) = if s.expand == 1 {
            (None, None)
        } else {
            (
                Some(conv(device, s.input, mid, 1, 1, 1)),
                Some(batch_norm(device, mid)),
            )
        };
        Self {
            _expand_conv: expand_conv,
            _bn0: bn0,
            _depthwise_conv: conv(device, mid, mid, s.kernel, s.stride, mid),
            _bn1: batch_norm(device, mid),
            _project_conv: conv(device, mid, s.output, 1, 1, 1),
            _bn2: batch_norm(device, s.output),
            residual: s.stride == 1 && s.input == s.output,
        }
    }

    fn set_require_grad(self, require_grad: bool) -> Self {
        Self {
            _expand_conv: self
                ._expand_conv
                .map(|c| conv_require_grad(c, require_grad)),
            _bn0: self._bn0.map(|n| bn_require_grad(n, require_grad)),
            _depthwise_conv: conv_require_grad(self._depthwise_conv, require_grad),
            _bn1: bn_require_grad(self._bn1, require_grad),
            _project_conv: conv_require_grad(self._project_conv, require_grad),
            _bn2: bn_require_grad(self._bn2, require_grad),
            residual: self.residual,
        }
    }

    fn param_ids(&self, ids: &mut Vec<ParamId>) {
        if let Some(c) = &self._expand_conv {
            conv_ids(c, ids);
        }
        if let Some(n) = &self._bn0 {
            bn_ids(n, ids);
        }
        conv_ids(&self._depthwise_conv, ids);
        bn_ids(&self._bn1, ids);
        conv_ids(&self._project_conv, ids);
        bn_ids(&self._bn2, ids);
    }
}

impl<B: Backend> EfficientNetLite0<B> {
    /// A randomly initialised model. `dropout` (0 <= p < 1) applies before the transfer head
    /// while training; `with_imagenet_fc` adds the 1000-class classifier (only useful with
    /// [`Self::load_imagenet`], to compare against reference logits).
    pub fn new(device: &B::Device, dropout: f64, with_imagenet_fc: bool) -> Result<Self> {
        if !(0.0..1.0).contains(&dropout) {
            bail!("EfficientNet dropout must be in [0, 1), got {dropout}");
        }
        Ok(Self {
            _conv_stem: conv(device, 3, STEM_CHANNELS, 3, 2, 1),
            _bn0: batch_norm(device, STEM_CHANNELS),
            _blocks: BLOCKS.iter().map(|s| MbConvBlock::new(device, s)).collect(),
            _conv_head: conv(device, HEAD_IN, FEATURES, 1, 1, 1),
            _bn1: batch_norm(device, FEATURES),
            _fc: with_imagenet_fc
                .then(|| LinearConfig::new(FEATURES, IMAGENET_CLASSES).init(device)),
            dropout: DropoutConfig::new(dropout).init(),
            head: LinearConfig::new(FEATURES, 1).init(device),
            backbone_bn_eval: false,
        })
    }

    /// Loads the ImageNet weights (safetensors, PyTorch names, see `data/weights/`) into the
    /// backbone, and into `_fc` when the model has it. The transfer head keeps its
    /// initialisation. Fails, naming the tensors, on any missing tensor, shape or dtype mismatch.
    pub fn load_imagenet(self, path: &Path) -> Result<Self> {
        let has_fc = self._fc.is_some();
        let (model, report) = load_safetensors_partial(self, path)?;
        let missing: Vec<String> = report
            .missing
            .into_iter()
            .filter(|name| !name.starts_with("head."))
            .collect();
        // Without `_fc` the classifier's tensors are expected leftovers; anything else means the
        // file is not EfficientNet-Lite0.
        let unused: Vec<String> = report
            .unused
            .into_iter()
            .filter(|name| has_fc || !name.starts_with("_fc."))
            .collect();
        if !missing.is_empty() || !unused.is_empty() {
            let mut msg = format!(
                "{} is not an EfficientNet-Lite0 ImageNet checkpoint:",
                path.display()
            );
            if !missing.is_empty() {
                msg.push_str(&format!("\n  missing: {}", list(&missing)));
            }
            if !unused.is_empty() {
                msg.push_str(&format!("\n  unexpected: {}", list(&unused)));
            }
            bail!(msg);
        }
        Ok(model)
    }
}

impl<B: Kernels> EfficientNetLite0<B> {
    /// Pooled backbone features: `[N, 3, H, W]` -> `[N, 1280]`.
    pub fn forward_features(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.features(x, self.backbone_bn_eval)
    }

    fn features(&self, x: Tensor<B, 4>, eval: bool) -> Tensor<B, 2> {
        let stem = kernels::conv2d(&self._conv_stem, x);
        let mut x = bn(&self._bn0, stem, eval, Activation::Relu6);
        for block in &self._blocks {
            x = block.forward(x, eval);
        }
        let head = kernels::conv2d(&self._conv_head, x);
        let x = bn(&self._bn1, head, eval, Activation::Relu6);
        let [n, c, h, w] = x.dims();
        x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
    }

    /// ImageNet logits `[N, 1000]`, or `None` when built without the classifier.
    pub fn forward_imagenet(&self, x: Tensor<B, 4>) -> Option<Tensor<B, 2>> {
        let fc = self._fc.as_ref()?;
        Some(fc.forward(self.forward_features(x)))
    }

    /// Transfer head on precomputed features: `[N, 1280]` -> `[N, 1]` logit (dropout while
    /// training on an autodiff backend).
    pub fn forward_head(&self, features: Tensor<B, 2>) -> Tensor<B, 2> {
        self.head.forward(self.dropout.forward(features))
    }

    /// Tumour logit: `[N, 3, H, W]` -> `[N, 1]`.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_head(self.forward_features(x))
    }

    /// As [`EfficientNetLite0::forward`] in inference mode on any backend (running BatchNorm
    /// statistics, no dropout), for gradients with respect to the input.
    pub fn forward_inference(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.features(x, true))
    }
}

impl<B: Backend> EfficientNetLite0<B> {
    /// Linear probe: the backbone (and `_fc`) stop requiring gradients and its BatchNorms use
    /// running statistics; only `head` trains.
    pub fn freeze_backbone(self) -> Self {
        let mut model = self.set_backbone_require_grad(false);
        model.backbone_bn_eval = true;
        model
    }

    /// Undoes [`Self::freeze_backbone`]: everything trains, BatchNorms use batch statistics.
    pub fn unfreeze_backbone(self) -> Self {
        let mut model = self.set_backbone_require_grad(true);
        model.backbone_bn_eval = false;
        model
    }

    /// Whether [`Self::freeze_backbone`] is in effect.
    pub fn is_backbone_frozen(&self) -> bool {
        self.backbone_bn_eval
    }

    fn set_backbone_require_grad(self, require_grad: bool) -> Self {
        Self {
            _conv_stem: conv_require_grad(self._conv_stem, require_grad),
            _bn0: bn_require_grad(self._bn0, require_grad),
            _blocks: self
                ._blocks
                .into_iter()
                .map(|b| b.set_require_grad(require_grad))
                .collect(),
            _conv_head: conv_require_grad(self._conv_head, require_grad),
            _bn1: bn_require_grad(self._bn1, require_grad),
            _fc: self._fc.map(|l| linear_require_grad(l, require_grad)),
            ..self
        }
    }

    /// Ids of the trainable backbone parameters (conv weights, BatchNorm gamma/beta; not the
    /// running statistics, not `_fc`), for a separate backbone learning rate.
    pub fn backbone_param_ids(&self) -> Vec<ParamId> {
        let mut ids = Vec::new();
        conv_ids(&self._conv_stem, &mut ids);
        bn_ids(&self._bn0, &mut ids);
        for block in &self._blocks {
            block.param_ids(&mut ids);
        }
        conv_ids(&self._conv_head, &mut ids);
        bn_ids(&self._bn1, &mut ids);
        ids
    }

    /// Ids of the transfer head's parameters.
    pub fn head_param_ids(&self) -> Vec<ParamId> {
        let mut ids = Vec::new();
        linear_ids(&self.head, &mut ids);
        ids
    }
}

/// Whether a checkpoint tensor name (as written by `save_safetensors`) belongs to the
/// pretrained part of the model rather than the transfer head.
pub fn is_backbone_param(name: &str) -> bool {
    !name.starts_with("head.")
}
