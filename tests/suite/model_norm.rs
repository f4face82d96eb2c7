//! The `[N·C, H·W]` BatchNorm against burn's own, on random inputs of several shapes: outputs,
//! running statistics, and the gradients of input, gamma and beta.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use histoboard::model::norm;

type Ad = Autodiff<Flex>;

fn close(name: &str, ours: TensorData, reference: TensorData) {
    let (a, b) = (
        ours.to_vec::<f32>().unwrap(),
        reference.to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{name}: lengths");
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0f32, f32::max);
    assert!(worst < 1e-4, "{name}: relative error {worst}");
}

/// A BatchNorm with non-trivial gamma, beta and running statistics.
fn norm_with<B: Backend>(c: usize, device: &B::Device) -> BatchNorm<B> {
    let mut bn = BatchNormConfig::new(c).with_momentum(0.2).init::<B>(device);
    let r = |lo: f64, hi: f64| Tensor::<B, 1>::random([c], Distribution::Uniform(lo, hi), device);
    bn.gamma = Param::from_tensor(r(0.5, 1.5).require_grad());
    bn.beta = Param::from_tensor(r(-0.5, 0.5).require_grad());
    bn.running_mean = burn::module::RunningState::new(r(-0.2, 0.2));
    bn.running_var = burn::module::RunningState::new(r(0.5, 2.0));
    bn
}

#[test]
fn matches_burn_forward_backward_and_running_stats() {
    let _serial = crate::support::serial();
    let device = Default::default();
    for [n, c, h, w] in [
        [2, 3, 5, 7],
        [8, 16, 12, 12],
        [4, 32, 1, 1],
        [1, 4, 3, 3],
        [3, 8, 24, 2],
    ] {
        let shape = format!("{n}x{c}x{h}x{w}");
        let x0 = Tensor::<Ad, 4>::random([n, c, h, w], Distribution::Normal(0.3, 2.0), &device);
        let ours_bn = norm_with::<Ad>(c, &device);
        let burn_bn = ours_bn.clone();
        let (xa, xb) = (x0.clone().require_grad(), x0.require_grad());
        let ya = norm::forward(&ours_bn, xa.clone());
        let yb = burn_bn.forward(xb.clone());
        close(&format!("{shape} output"), ya.to_data(), yb.to_data());
        close(
            &format!("{shape} running mean"),
            ours_bn.running_mean.value().to_data(),
            burn_bn.running_mean.value().to_data(),
        );
        close(
            &format!("{shape} running var"),
            ours_bn.running_var.value().to_data(),
            burn_bn.running_var.value().to_data(),
        );
        // A loss that weighs every output differently, so no gradient is trivially zero.
        let wts = Tensor::<Ad, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let ga = ya.mul(wts.clone()).sum().backward();
        let gb = yb.mul(wts).sum().backward();
        close(
            &format!("{shape} d/dx"),
            xa.grad(&ga).unwrap().to_data(),
            xb.grad(&gb).unwrap().to_data(),
        );
        close(
            &format!("{shape} d/dgamma"),
            ours_bn.gamma.val().grad(&ga).unwrap().to_data(),
            burn_bn.gamma.val().grad(&gb).unwrap().to_data(),
        );
        close(
            &format!("{shape} d/dbeta"),
            ours_bn.beta.val().grad(&ga).unwrap().to_data(),
            burn_bn.beta.val().grad(&gb).unwrap().to_data(),
        );
    }
}

#[test]
fn inference_matches_burn() {
    let _serial = crate::support::serial();
    let device = Default::default();
    for [n, c, h, w] in [[2, 3, 5, 7], [4, 32, 1, 1]] {
        let bn = norm_with::<Ad>(c, &device);
        let inner = burn::module::AutodiffModule::valid(&bn);
        let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(0.0, 1.5), &device);
        close(
            "inference",
            norm::forward(&inner, x.clone()).to_data(),
            inner.forward(x.clone()).to_data(),
        );
        // The explicit eval path, used for frozen backbones on an autodiff backend.
        let xa = Tensor::<Ad, 4>::from_data(x.to_data(), &device);
        close(
            "eval on autodiff",
            norm::forward_eval(&bn, xa).to_data(),
            inner.forward(x).to_data(),
        );
    }
}
