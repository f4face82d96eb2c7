//! The project's BatchNorm (fused with the activation after it on the CPU backend) against
//! burn's own followed by burn's activation, on random inputs of several shapes: outputs,
//! running statistics, and the gradients of input, gamma and beta.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use histoboard::model::norm::{self, Activation};

const ACTIVATIONS: [Activation; 3] = [Activation::Identity, Activation::Relu, Activation::Relu6];

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

/// A BatchNorm with non-trivial gamma, beta and running statistics; for ReLU6 gamma is
/// large enough that outputs clip at 6 as well as at 0.
fn norm_with<B: Backend>(c: usize, act: Activation, device: &B::Device) -> BatchNorm<B> {
    let mut bn = BatchNormConfig::new(c).with_momentum(0.2).init::<B>(device);
    let r = |lo: f64, hi: f64| Tensor::<B, 1>::random([c], Distribution::Uniform(lo, hi), device);
    let spread = if act == Activation::Relu6 { 5.0 } else { 1.0 };
    bn.gamma = Param::from_tensor(r(0.5, 1.5).mul_scalar(spread).require_grad());
    bn.beta = Param::from_tensor(r(-0.5, 0.5).require_grad());
    bn.running_mean = burn::module::RunningState::new(r(-0.2, 0.2));
    bn.running_var = burn::module::RunningState::new(r(0.5, 2.0));
    bn
}

#[test]
fn matches_burn_forward_backward_and_running_stats() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let shapes = [
        [2, 3, 5, 7],
        [8, 16, 12, 12],
        [4, 32, 1, 1],
        [1, 4, 3, 3],
        [3, 8, 24, 2],
    ];
    for ([n, c, h, w], act) in shapes.into_iter().flat_map(|s| ACTIVATIONS.map(|a| (s, a))) {
        let shape = format!("{n}x{c}x{h}x{w} {act:?}");
        let x0 = Tensor::<Ad, 4>::random([n, c, h, w], Distribution::Normal(0.3, 2.0), &device);
        let ours_bn = norm_with::<Ad>(c, act, &device);
        let burn_bn = ours_bn.clone();
        let (xa, xb) = (x0.clone().require_grad(), x0.require_grad());
        let ya = norm::forward(&ours_bn, xa.clone(), act);
        let yb = norm::activate(burn_bn.forward(xb.clone()), act);
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
    let shapes = [[2, 3, 5, 7], [4, 32, 1, 1]];
    for ([n, c, h, w], act) in shapes.into_iter().flat_map(|s| ACTIVATIONS.map(|a| (s, a))) {
        let bn = norm_with::<Ad>(c, act, &device);
        let inner = burn::module::AutodiffModule::valid(&bn);
        let x = Tensor::<Flex, 4>::random([n, c, h, w], Distribution::Normal(0.0, 4.0), &device);
        let reference = norm::activate(inner.forward(x.clone()), act);
        close(
            &format!("inference {act:?}"),
            norm::forward(&inner, x.clone(), act).to_data(),
            reference.to_data(),
        );
        // The explicit eval path, used for frozen backbones on an autodiff backend.
        let xa = Tensor::<Ad, 4>::from_data(x.to_data(), &device);
        close(
            &format!("eval on autodiff {act:?}"),
            norm::forward_eval(&bn, xa, act).to_data(),
            reference.to_data(),
        );
    }
}

/// The CPU kernel's backward pass against the trait's default formula in burn's tensor
/// operations (what a backend without its own kernel would run), on the same saved tensors.
#[test]
fn fused_backward_matches_default_formula() {
    use burn::tensor::TensorPrimitive;
    use histoboard::kernels::Kernels;
    let _serial = crate::support::serial();
    let device = Default::default();
    for ([n, c, h, w], act) in [[4, 6, 9, 9], [2, 16, 3, 3]]
        .into_iter()
        .flat_map(|s| ACTIVATIONS.map(|a| (s, a)))
    {
        let normal = |mean, sd| Distribution::Normal(mean, sd);
        let x = Tensor::<Flex, 4>::random([n, c, h, w], normal(0.3, 2.0), &device);
        let dy = Tensor::<Flex, 4>::random([n, c, h, w], normal(0.0, 1.0), &device);
        let gamma = Tensor::<Flex, 1>::random([c], normal(3.0, 1.0), &device);
        let beta = Tensor::<Flex, 1>::random([c], normal(1.0, 1.0), &device);
        let p = |t: Tensor<Flex, 4>| t.into_primitive().tensor();
        let p1 = |t: Tensor<Flex, 1>| t.into_primitive().tensor();
        let out = Flex::batch_norm_act(p(x.clone()), p1(gamma.clone()), p1(beta), 1e-3, act)
            .expect("the CPU backend fuses 4-d f32 batch norms");
        let saved = [p(x), out.output, p(dy), out.mean, out.var, p1(gamma)];
        let [x, y, dy, mean, var, gamma] = saved.clone();
        let fused = Flex::batch_norm_act_backward(x, y, dy, mean, var, gamma, 1e-3, act);
        // The same tensors on a backend that keeps the trait's default.
        let [x, y, dy, mean, var, gamma] =
            saved.map(<Ad as burn::tensor::backend::AutodiffBackend>::from_inner);
        let default = Ad::batch_norm_act_backward(x, y, dy, mean, var, gamma, 1e-3, act);
        let data = |rank4: bool, t| match rank4 {
            true => Tensor::<Ad, 4>::from_primitive(TensorPrimitive::Float(t)).to_data(),
            false => Tensor::<Ad, 1>::from_primitive(TensorPrimitive::Float(t)).to_data(),
        };
        let names = ["dx", "dgamma", "dbeta"];
        for (i, (ours, reference)) in fused.into_iter().zip(default).enumerate() {
            let ours = <Ad as burn::tensor::backend::AutodiffBackend>::from_inner(ours);
            close(
                &format!("{n}x{c}x{h}x{w} {act:?} {}", names[i]),
                data(i == 0, ours),
                data(i == 0, reference),
            );
        }
    }
}
