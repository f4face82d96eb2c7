//! The project's convolution path (`kernels::conv2d`, with its own gradients on the CPU)
//! against burn's `Conv2d::forward` on random inputs of several shapes (dense, depthwise, and a
//! grouped one it leaves to burn): output and the gradients of input, weight and bias.

use burn::backend::{Autodiff, Flex};
use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Distribution, Tensor, TensorData};
use histoboard::kernels;

type Ad = Autodiff<Flex>;

fn close(name: &str, ours: TensorData, reference: TensorData) {
    let (a, b) = (
        ours.to_vec::<f32>().unwrap(),
        reference.to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{name}: lengths");
    let d: f64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum();
    let n: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    let rel = (d / n.max(1e-30)).sqrt();
    assert!(
        n > 0.0,
        "{name}: the reference is all zeros, nothing is checked"
    );
    assert!(rel < 1e-5, "{name}: relative error {rel:e}");
}

#[test]
fn matches_burn_forward_and_every_gradient() {
    let _serial = crate::support::serial();
    let device = Default::default();
    // (n, c_in, c_out, h, w, kernel, stride, padding, dilation, groups, bias)
    let cases = [
        (4, 3, 8, 24, 24, 5, 1, 2, 1, 1, false), // the seed CNN's first block
        (3, 8, 16, 12, 12, 3, 1, 1, 1, 1, true),
        (2, 6, 10, 13, 11, 3, 2, 1, 1, 1, true), // EfficientNet's stem: stride 2
        (5, 16, 24, 7, 7, 1, 1, 0, 1, 1, false), // 1x1 expand / project
        (2, 4, 6, 10, 9, 3, 1, 2, 2, 1, true),   // dilation
        (2, 8, 8, 9, 9, 3, 1, 1, 1, 8, false),   // depthwise, as in EfficientNet
        (3, 6, 6, 12, 12, 5, 2, 2, 1, 6, true),  // depthwise 5x5, stride 2, bias
        (2, 24, 24, 7, 7, 5, 1, 2, 1, 24, false), // depthwise channels-last (16+ channels)
        (3, 32, 32, 12, 12, 3, 2, 1, 1, 32, true), // ... stride 2, bias
        (2, 4, 8, 9, 9, 3, 1, 1, 1, 4, false),   // grouped, two outputs a group: burn's path
    ];
    for (n, ci, co, h, w, k, s, p, d, g, bias) in cases {
        let name = format!("{n}x{ci}x{h}x{w} -> {co}, k{k} s{s} p{p} d{d} g{g} bias {bias}");
        let mut conv: Conv2d<Ad> = Conv2dConfig::new([ci, co], [k, k])
            .with_stride([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_dilation([d, d])
            .with_groups(g)
            .with_bias(bias)
            .init(&device);
        // Real values now, so both paths share them (burn initialises parameters lazily).
        conv.weight = Param::from_tensor(conv.weight.val().require_grad());
        if conv.bias.is_some() {
            let b = Tensor::random([co], Distribution::Uniform(-0.5, 0.5), &device);
            conv.bias = Some(Param::from_tensor(b.require_grad()));
        }
        let x0 = Tensor::<Ad, 4>::random([n, ci, h, w], Distribution::Normal(0.0, 1.0), &device);
        let (xa, xb) = (x0.clone().require_grad(), x0.require_grad());
        let ya = kernels::conv2d(&conv, xa.clone());
        let yb = conv.forward(xb.clone());
        close(&format!("{name}: output"), ya.to_data(), yb.to_data());
        // A loss weighing every output differently, so no gradient is trivially zero.
        let wts = Tensor::<Ad, 4>::random(yb.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ga = ya.mul(wts.clone()).sum().backward();
        let gb = yb.mul(wts).sum().backward();
        close(
            &format!("{name}: d/dx"),
            xa.grad(&ga).unwrap().to_data(),
            xb.grad(&gb).unwrap().to_data(),
        );
        close(
            &format!("{name}: d/dweight"),
            conv.weight.val().grad(&ga).unwrap().to_data(),
            conv.weight.val().grad(&gb).unwrap().to_data(),
        );
        if let Some(b) = &conv.bias {
            close(
                &format!("{name}: d/dbias"),
                b.val().grad(&ga).unwrap().to_data(),
                b.val().grad(&gb).unwrap().to_data(),
            );
        }
    }
}
