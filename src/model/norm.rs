//! BatchNorm for NCHW activations, computed on the `[N·C, H·W]` view of the tensor.
//!
//! burn's `BatchNorm::forward` broadcasts per-channel statistics as `[1, C, 1, 1]`, a pattern
//! burn's CPU backend has no fast path for: each element of every sub/div/mul/add, forward and
//! backward, went through a scalar strided walk, about 80% of a seed-cnn-3 training step
//! (profile in BENCHMARKS.md). On the `[N·C, H·W]` view the same statistics are one value per
//! row, which the backend broadcasts quickly. Same maths, same parameters and running state
//! (burn's `BatchNorm` record is kept), so checkpoints and pretrained weights load unchanged;
//! tests check it against burn's implementation, forward and every gradient.

use burn::nn::BatchNorm;
use burn::prelude::*;

/// `norm(x)`: batch statistics (and a running-statistics update) on an autodiff backend, running
/// statistics otherwise, as burn's `BatchNorm::forward` decides.
pub fn forward<B: Backend>(norm: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    if B::ad_enabled(&x.device()) {
        forward_train(norm, x)
    } else {
        forward_eval(norm, x)
    }
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
pub fn forward_eval<B: Backend>(norm: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
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
    x.reshape([n * c, h * w])
        .mul(per_row(scale, n, c))
        .add(per_row(shift, n, c))
        .reshape([n, c, h, w])
}

fn forward_train<B: Backend>(norm: &BatchNorm<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    let device = x.device();
    let rows = x.reshape([n * c, h * w]);
    let mean = channel_mean(rows.clone(), n, c);
    let centered = rows.sub(per_row(mean.clone(), n, c));
    // Biased variance, as burn (and PyTorch's normalisation) use.
    let var = channel_mean(centered.clone().square(), n, c);

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
        .add(var.clone().detach().mul_scalar(m));
    norm.running_mean.update(running_mean.detach());
    norm.running_var.update(running_var.detach());

    let scale = norm.gamma.val().div(var.add_scalar(norm.epsilon).sqrt());
    centered
        .mul(per_row(scale, n, c))
        .add(per_row(norm.beta.val(), n, c))
        .reshape([n, c, h, w])
}
