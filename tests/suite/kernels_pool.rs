//! The project's max pooling (`kernels::max_pool2d`, its own kernels on the CPU) against
//! burn's `MaxPool2d::forward`, forward and input gradient, on random inputs of several shapes,
//! and the shapes it leaves to burn.

use burn::backend::{Autodiff, Flex};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2dConfig;
use burn::tensor::{Distribution, Tensor};
use histoboard::kernels::{self, Kernels};

type Ad = Autodiff<Flex>;

#[test]
fn matches_burn_forward_and_gradient() {
    let _serial = crate::support::serial();
    let device = Default::default();
    // (n, c, h, w, kernel, stride, padding)
    let cases = [
        (4, 8, 24, 24, [2, 2], [2, 2], 0), // the seed CNNs' pooling
        (2, 3, 7, 9, [2, 2], [2, 2], 0),   // odd sides: the last row and column are dropped
        (2, 5, 9, 8, [3, 3], [2, 2], 0),   // overlapping windows
        (1, 4, 6, 10, [1, 3], [1, 2], 0),  // rectangular
        (2, 3, 8, 8, [3, 3], [1, 1], 1),   // padded: burn's path
    ];
    for (n, c, h, w, k, s, p) in cases {
        let name = format!("{n}x{c}x{h}x{w} k{k:?} s{s:?} p{p}");
        let pool = MaxPool2dConfig::new(k)
            .with_strides(s)
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .init();
        // Few distinct values, so windows hold ties and the first-largest rule is exercised.
        let x0 =
            Tensor::<Ad, 4>::random([n, c, h, w], Distribution::Uniform(0.0, 6.0), &device).floor();
        let (xa, xb) = (x0.clone().require_grad(), x0.require_grad());
        let ya = kernels::max_pool2d(&pool, xa.clone());
        let yb = pool.forward(xb.clone());
        assert_eq!(ya.dims(), yb.dims(), "{name}: output shape");
        assert_eq!(
            ya.to_data().to_vec::<f32>().unwrap(),
            yb.to_data().to_vec::<f32>().unwrap(),
            "{name}: output"
        );
        let wts = Tensor::<Ad, 4>::random(ya.dims(), Distribution::Normal(0.0, 1.0), &device);
        let ga = ya.mul(wts.clone()).sum().backward();
        let gb = yb.mul(wts).sum().backward();
        let (da, db) = (
            xa.grad(&ga).unwrap().to_data().to_vec::<f32>().unwrap(),
            xb.grad(&gb).unwrap().to_data().to_vec::<f32>().unwrap(),
        );
        assert!(
            db.iter().any(|&v| v != 0.0),
            "{name}: zero reference gradient"
        );
        for (i, (a, b)) in da.iter().zip(&db).enumerate() {
            assert!(
                (a - b).abs() <= 1e-6 * (1.0 + b.abs()),
                "{name}: d/dx[{i}] {a} vs {b}"
            );
        }
    }
}

/// The CPU backend handles unpadded pooling itself and declines what it cannot do.
#[test]
fn cpu_kernel_takes_unpadded_pooling_only() {
    let device = Default::default();
    let x = Tensor::<Flex, 4>::random([1, 2, 4, 4], Distribution::Default, &device);
    let p = |t: Tensor<Flex, 4>| t.into_primitive().tensor();
    assert!(Flex::max_pool2d_op(p(x.clone()), [2, 2], [2, 2]).is_some());
    assert!(
        Flex::max_pool2d_op(p(x.clone()), [5, 5], [1, 1]).is_none(),
        "window larger than the input"
    );
    assert!(
        Flex::max_pool2d_op(p(x), [2, 2], [0, 2]).is_none(),
        "zero stride"
    );
}
