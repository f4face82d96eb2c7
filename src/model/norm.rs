//! BatchNorm for NCHW activations, computed on the `[N·C, H·W]` view of the tensor.
//!
//! burn's `BatchNorm::forward` broadcasts per-channel statistics as `[1, C, 1, 1]`, a pattern
//! burn's CPU backend has no fast path for: each element of every sub/div/mul/add, forward and
//! backward, went through a scalar strided walk, about 80% of a seed-cnn-3 training step
//! (profile in BENCHMARKS.md). On the `[N·C, H·W]` view the same statistics are one value per
//! row, which the backend broadcasts quickly. Same maths, same parameters and running state
//! (burn's `BatchNorm` record is kept), so checkpoints and pretrained weights load unchanged;
//! tests check it against burn's implementation, forward and every gradient.
//!
//! Where the backend has a fused kernel ([`Kernels::batch_norm_act`], the CPU backend's) the
//! normalisation and the activation after it run as one operation instead; the composed path
//! below serves every other backend.

use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::activation::relu;

pub use crate::kernels::Activation;
use crate::kernels::Kernels;

/// `act(norm(x))`: batch statistics (and a running-statistics update) on an autodiff backend,
/// running statistics otherwise, as burn's `BatchNorm::forward` decides.
pub fn forward<B: Kernels>(norm: &BatchNorm<B>, x: Tensor<B, 4>, act: Activation) -> Tensor<B, 4> {
    if B::ad_enabled(&x.device()) {
        forward_train(norm, x, act)
    } else {
        forward_eval(norm, x, act)
    }
}

/// `act(x)` in burn's operations.
pub fn activate<B: Backend, const D: usize>(x: Tensor<B, D>, act: Activation) -> Tensor<B, D> {
    match act {
        Activation::Identity => x,
        Activation::Relu => relu(x),
        Activation::Relu6 => x.clamp(0.0, 6.0),
    }
}

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> burn::tensor::ops::FloatTensor<B> {
    t.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(t: burn::tensor::ops::FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// One value per channel, repeated for each of the `n` images: `[N·C, 1]`, row `i·C + c`.
fn per_row<B: Backend>(v: Tensor<B, 1>, n: usize, c: usize) -> Tensor<B, 2> {
    v.reshape([1, c]).expand([n, c]).reshape([n * c, 1])
}

/// Per-channel mean of `[N·C, K]` rows (each row holds K values of one image and channel).
fn channel_mean<B: Backend>(rows: Tensor<B, 2>, n: usize, c: usize) -> Tensor<B, 1> {
    rows.mean_dim(1).reshape([n, c]).mean_dim(0).reshape([c])
}

/// With the running statistics, folded into one scale and shift per channel.
pub fn forward_eval<B: Kernels>(
    norm: &BatchNorm<B>,
    x: Tensor<B, 4>,
    act: Activation,
) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let scale = norm.gamma.val().div(
        norm.running_var
            .value()
            .to_device(&device)
            .add_scalar(norm.epsilon)
            .sqrt(),
    );
    let shift = norm.beta.val().sub(
        norm.running_mean
            .value()
            .to_device(&device)
            .mul(scale.clone()),
    );
    if let Some(y) = B::scale_shift_act(
        primitive(x.clone()),
        primitive(scale.clone()),
        primitive(shift.clone()),
        act,
    ) {
        return tensor(y);
    }
    let y = x
        .reshape([n * c, h * w])
        .mul(per_row(scale, n, c))
        .add(per_row(shift, n, c))
        .reshape([n, c, h, w]);
    activate(y, act)
}

/// The running averages after a batch with these (detached) statistics.
fn update_running<B: Backend>(norm: &BatchNorm<B>, mean: Tensor<B, 1>, var: Tensor<B, 1>) {
    let device = mean.device();
    let m = norm.momentum;
    let running_mean = norm
        .running_mean
        .value_sync()
        .to_device(&device)
        .mul_scalar(1.0 - m)
        .add(mean.detach().mul_scalar(m));
    let running_var = norm
        .running_var
        .value_sync()
        .to_device(&device)
        .mul_scalar(1.0 - m)
        .add(var.detach().mul_scalar(m));
    norm.running_mean.update(running_mean.detach());
    norm.running_var.update(running_var.detach());
}

fn forward_train<B: Kernels>(
    norm: &BatchNorm<B>,
    x: Tensor<B, 4>,
    act: Activation,
) -> Tensor<B, 4> {
    if let Some(out) = B::batch_norm_act(
        primitive(x.clone()),
        primitive(norm.gamma.val()),
        primitive(norm.beta.val()),
        norm.epsilon,
        act,
    ) {
        update_running(norm, tensor(out.mean), tensor(out.var));
        return tensor(out.output);
    }
    let [n, c, h, w] = x.dims();
    let rows = x.reshape([n * c, h * w]);
    let mean = channel_mean(rows.clone(), n, c);
    let centered = rows.sub(per_row(mean.clone(), n, c));
    // Biased variance, as burn (and PyTorch's normalisation) use.
    let var = channel_mean(centered.clone().square(), n, c);
    update_running(norm, mean, var.clone());

    let scale = norm.gamma.val().div(var.add_scalar(norm.epsilon).sqrt());
    let y = centered
        .mul(per_row(scale, n, c))
        .add(per_row(norm.beta.val(), n, c))
        .reshape([n, c, h, w]);
    activate(y, act)
}
