//! The seed notebook's CNN family: conv blocks (conv, BatchNorm, ReLU, 2x2 max-pool), then
//! flatten or global pooling, dropout, dense, dropout and one logit.

use burn::nn::conv::{Conv2d, Conv2dConfig};

use crate::kernels::{self, Activation, Kernels};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::experiment::{Head, ModelConfig};

#[derive(Module, Debug)]
pub struct ConvBlock<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: Option<BatchNorm<B>>,
    pub pool: MaxPool2d,
}

impl<B: Kernels> ConvBlock<B> {
    fn forward(&self, x: Tensor<B, 4>, inference: bool) -> Tensor<B, 4> {
        let x = kernels::conv2d(&self.conv, x);
        let x = match &self.bn {
            Some(bn) if inference => super::norm::forward_eval(bn, x, Activation::Relu),
            Some(bn) => super::norm::forward(bn, x, Activation::Relu),
            None => relu(x),
        };
        kernels::max_pool2d(&self.pool, x)
    }
}

#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    pub blocks: Vec<ConvBlock<B>>,
    pub gap: Option<AdaptiveAvgPool2d>,
    pub dropout: Dropout,
    pub dense: Option<Linear<B>>,
    pub dense_dropout: Dropout,
    pub out: Linear<B>,
}

impl<B: Backend> Cnn<B> {
    /// Builds the network for square inputs of `side` pixels.
    pub fn new(cfg: &ModelConfig, side: usize, device: &B::Device) -> Cnn<B> {
        let mut blocks = Vec::with_capacity(cfg.filters.len());
        let mut channels = 3;
        let mut spatial = side;
        for (i, &filters) in cfg.filters.iter().enumerate() {
            let k = if i == 0 { cfg.first_kernel } else { cfg.kernel };
            let conv = Conv2dConfig::new([channels, filters], [k, k])
                .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
                // A bias before BatchNorm is cancelled by its mean subtraction.
                .with_bias(!cfg.batchnorm)
                .init(device);
            let bn = cfg
                .batchnorm
                .then(|| BatchNormConfig::new(filters).init(device));
            let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
            blocks.push(ConvBlock { conv, bn, pool });
            channels = filters;
            spatial /= 2;
        }
        let (gap, features) = match cfg.head {
            Head::Flatten => (None, channels * spatial * spatial),
            Head::Gap => (Some(AdaptiveAvgPool2dConfig::new([1, 1]).init()), channels),
        };
        let (dense, out_in) = if cfg.dense > 0 {
            (
                Some(LinearConfig::new(features, cfg.dense).init(device)),
                cfg.dense,
            )
        } else {
            (None, features)
        };
        Cnn {
            blocks,
            gap,
            dropout: DropoutConfig::new(cfg.dropout).init(),
            dense,
            dense_dropout: DropoutConfig::new(cfg.dense_dropout).init(),
            out: LinearConfig::new(out_in, 1).init(device),
        }
    }
}

impl<B: Kernels> Cnn<B> {
    /// `[N, 3, S, S]` normalised images to `[N, 1]` logits.
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.run(x, false)
    }

    /// As [`Cnn::forward`] in inference mode on any backend (running BatchNorm statistics, no
    /// dropout): gradients with respect to the input (saliency) are taken through it.
    pub fn forward_inference(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        self.run(x, true)
    }

    fn run(&self, x: Tensor<B, 4>, inference: bool) -> Tensor<B, 2> {
        let mut x = x;
        for block in &self.blocks {
            x = block.forward(x, inference);
        }
        if let Some(gap) = &self.gap {
            x = gap.forward(x);
        }
        let x: Tensor<B, 2> = x.flatten(1, 3);
        let drop = |d: &Dropout, x| if inference { x } else { d.forward(x) };
        let mut x = drop(&self.dropout, x);
        if let Some(dense) = &self.dense {
            x = drop(&self.dense_dropout, relu(dense.forward(x)));
        }
        self.out.forward(x)
    }
}

/// Spatial side of the last feature map, or an error when the input is too small for the
/// number of pooling stages.
pub fn check_input_side(cfg: &ModelConfig, side: usize) -> Result<(), String> {
    let blocks = cfg.filters.len() as u32;
    if side >> blocks == 0 {
        return Err(format!(
            "model.filters has {blocks} pooling blocks, too many for {side}x{side} inputs \
             (each halves the side); use fewer blocks or a larger crop"
        ));
    }
    Ok(())
}
