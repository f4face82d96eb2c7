//! The project's own compute kernels, brought into burn through its extension points.
//!
//! [`Kernels`] is a backend trait whose methods default to burn's own operations (or, for the
//! fused ones, return None so the caller composes burn's); a backend overrides what it does
//! faster. The CPU backend (burn-flex) overrides the convolution and its gradients ([`conv`],
//! ungrouped and depthwise f32), BatchNorm with the activation after it ([`norm`]) and
//! unpadded max pooling ([`pool`]); CUDA keeps burn's. The convolutions' products go through
//! [`gemm`], which picks the GEMM micro-kernels (AVX2 or AVX-512) that run faster on this host. Under autodiff each records its own
//! graph node whose backward pass calls the matching gradient method, so a model calls
//! [`conv2d`], [`max_pool2d`] or `model::norm::forward` where it would call burn's layer and
//! nothing else changes.

/// Defines `fn $name(..) $body` so that it runs compiled for AVX2 and FMA where the CPU has
/// them, and as built elsewhere. The build targets baseline x86-64, whose 4-wide SSE2 code left
/// the kernels' loops at half speed and some (masked sums) not vectorised at all. The body is
/// an `#[inline(always)]` function called from a feature-enabled copy, so its loops are
/// compiled inside that copy; closures it receives would not be, so kernels take slices.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident $(<$g:ident: $bound:path>)?
        ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide $(<$g: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
                    body $(::<$g>)? ($($arg),*)
                }
                if $crate::kernels::has_avx2_fma() {
                    // SAFETY: this CPU has the features `wide` is compiled for.
                    return unsafe { wide $(::<$g>)? ($($arg),*) };
                }
            }
            body $(::<$g>)? ($($arg),*)
        }
    };
}

/// Whether this CPU runs the AVX2 + FMA copies of the kernels (std caches the answer).
#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// `len` floats computed in parallel: `fill(state, i, out)` writes chunk `i` (`chunk` values,
/// the last one shorter), tasks taking at least `min_chunks` chunks and each starting from
/// `init()`'s state. A chunk arrives zeroed, as with `vec![0.0; len]`, but zeroed by the thread
/// about to write it and while it is in cache: zeroing the whole output up front was one serial
/// pass over memory (glibc's calloc clears recycled blocks), 3-6% of a training step.
fn par_output<S>(
    len: usize,
    chunk: usize,
    min_chunks: usize,
    init: impl Fn() -> S + Sync + Send,
    fill: impl Fn(&mut S, usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;
    let mut out: Vec<MaybeUninit<f32>> = Vec::with_capacity(len);
    // SAFETY: `MaybeUninit` needs no initialisation; every value is written below before
    // the vector is read as floats.
    unsafe { out.set_len(len) };
    out.par_chunks_mut(chunk.max(1))
        .enumerate()
        .with_min_len(min_chunks.max(1))
        .for_each_init(init, |state, (i, part)| {
            part.fill(MaybeUninit::new(0.0));
            // SAFETY: every value of `part` was just initialised; `MaybeUninit<f32>` has the
            // layout of `f32`.
            let part = unsafe {
                std::slice::from_raw_parts_mut(part.as_mut_ptr().cast::<f32>(), part.len())
            };
            fill(state, i, part);
        });
    // `for_each_init` has visited every chunk (a panic in `fill` would not get here), so every
    // value is initialised.
    let mut out = std::mem::ManuallyDrop::new(out);
    // SAFETY: same allocation, length and capacity, an identical layout, all values written.
    unsafe { Vec::from_raw_parts(out.as_mut_ptr().cast::<f32>(), out.len(), out.capacity()) }
}

/// Deterministic values in `[lo, hi)` for the kernels' unit tests: variety, not quality.
#[cfg(test)]
fn test_values(len: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            lo + (state as f32 / u32::MAX as f32) * (hi - lo)
        })
        .collect()
}

mod autodiff;
mod bench;
pub mod conv;
mod flex;
pub mod gemm;
pub mod norm;
pub mod pool;

pub use bench::bench;

pub use norm::Activation;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::{ConvOptions, FloatTensor, ModuleOps};
use burn::tensor::{DType, TensorPrimitive};

/// Backend operations the project may implement itself; each defaults to burn's.
pub trait Kernels: Backend {
    fn conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options)
    }

    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, grad, options)
    }

    /// The forward convolution; under autodiff it records a node that calls the two
    /// gradients above.
    fn conv2d_op(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, bias, options)
    }

    /// Training BatchNorm (batch statistics) of an NCHW tensor followed by `act`, as one
    /// operation; under autodiff it records a node whose backward calls
    /// [`Kernels::batch_norm_act_backward`]. None where the backend has no such kernel: the
    /// caller then composes burn's operations.
    fn batch_norm_act(
        _x: FloatTensor<Self>,
        _gamma: FloatTensor<Self>,
        _beta: FloatTensor<Self>,
        _epsilon: f64,
        _act: Activation,
    ) -> Option<BatchNormOutput<Self>> {
        None
    }

    /// Gradients of [`Kernels::batch_norm_act`] with respect to `(x, gamma, beta)`, from the
    /// saved input, output and batch statistics. The default is the textbook formula in
    /// burn's tensor operations (see [`norm::train_backward`]).
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_act_backward(
        x: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        epsilon: f64,
        act: Activation,
    ) -> [FloatTensor<Self>; 3] {
        let t4 = |t| Tensor::<Self, 4>::from_primitive(TensorPrimitive::Float(t));
        let t1 = |t| Tensor::<Self, 1>::from_primitive(TensorPrimitive::Float(t));
        let (x, y, dy) = (t4(x), t4(y), t4(dy));
        let (mean, var, gamma) = (t1(mean), t1(var), t1(gamma));
        let [n, c, h, w] = x.dims();
        let per_channel = |v: Tensor<Self, 1>| v.reshape([1, c, 1, 1]);
        let channel_sum =
            |v: Tensor<Self, 4>| v.reshape([n, c, h * w]).sum_dim(2).sum_dim(0).reshape([c]);
        let g = match act {
            Activation::Identity => dy,
            Activation::Relu => dy.mask_fill(y.lower_equal_elem(0.0), 0.0),
            Activation::Relu6 => {
                let clipped = y
                    .clone()
                    .lower_equal_elem(0.0)
                    .bool_or(y.greater_equal_elem(6.0));
                dy.mask_fill(clipped, 0.0)
            }
        };
        let inv_std = var.add_scalar(epsilon).sqrt().recip();
        let x_hat = (x - per_channel(mean)) * per_channel(inv_std.clone());
        let dbeta = channel_sum(g.clone());
        let dgamma = channel_sum(g.clone() * x_hat.clone());
        let count = (n * h * w) as f64;
        let dx = (g
            - per_channel(dbeta.clone().div_scalar(count))
            - x_hat * per_channel(dgamma.clone().div_scalar(count)))
            * per_channel(gamma * inv_std);
        [
            dx.into_primitive().tensor(),
            dgamma.into_primitive().tensor(),
            dbeta.into_primitive().tensor(),
        ]
    }

    /// Inference BatchNorm folded into one scale and shift per channel, then `act`:
    /// `act(x · scale[c] + shift[c])`; None where the backend has no such kernel.
    fn scale_shift_act(
        _x: FloatTensor<Self>,
        _scale: FloatTensor<Self>,
        _shift: FloatTensor<Self>,
        _act: Activation,
    ) -> Option<FloatTensor<Self>> {
        None
    }

    /// Max pooling without padding or dilation; under autodiff it records a node whose
    /// backward calls [`Kernels::max_pool2d_op_backward`]. None where the backend has no such
    /// kernel: the caller then uses burn's pooling.
    fn max_pool2d_op(
        _x: FloatTensor<Self>,
        _kernel: [usize; 2],
        _stride: [usize; 2],
    ) -> Option<FloatTensor<Self>> {
        None
    }

    /// The input gradient of [`Kernels::max_pool2d_op`]; the default is burn's pooling with
    /// indices and its backward.
    fn max_pool2d_op_backward(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        let (padding, dilation) = ([0, 0], [1, 1]);
        let indices =
            Self::max_pool2d_with_indices(x.clone(), kernel, stride, padding, dilation, false)
                .indices;
        Self::max_pool2d_with_indices_backward(
            x, kernel, stride, padding, dilation, false, dy, indices,
        )
        .x_grad
    }
}

/// What a training BatchNorm produces: the activated output and the batch statistics (for
/// the running averages; not differentiated).
pub struct BatchNormOutput<B: Backend> {
    pub output: FloatTensor<B>,
    pub mean: FloatTensor<B>,
    /// Biased, as burn's and PyTorch's normalisation use.
    pub var: FloatTensor<B>,
}

impl Kernels for burn::backend::Cuda {}

/// `pool.forward(x)` through [`Kernels`]; padded, dilated and `ceil_mode` pooling take burn's
/// path, as do backends without the kernel.
pub fn max_pool2d<B: Kernels>(pool: &MaxPool2d, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let unpadded = matches!(
        pool.padding,
        PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
    );
    if !unpadded || pool.dilation != [1, 1] || pool.ceil_mode {
        return pool.forward(x);
    }
    match B::max_pool2d_op(
        x.clone().into_primitive().tensor(),
        pool.kernel_size,
        pool.stride,
    ) {
        Some(y) => Tensor::from_primitive(TensorPrimitive::Float(y)),
        None => pool.forward(x),
    }
}

/// `conv.forward(x)` through [`Kernels`]. `Same` and asymmetric padding (burn pads such
/// inputs itself) take burn's path.
pub fn conv2d<B: Kernels>(conv: &Conv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 4> {
    let (top, left) = match conv.padding {
        PaddingConfig2d::Valid => (0, 0),
        PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => (t, l),
        _ => return conv.forward(x),
    };
    let options = ConvOptions::new(conv.stride, [top, left], conv.dilation, conv.groups);
    let out = B::conv2d_op(
        x.into_primitive().tensor(),
        conv.weight.val().into_primitive().tensor(),
        conv.bias
            .as_ref()
            .map(|b| b.val().into_primitive().tensor()),
        options,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[cfg(test)]
mod tests {
    use super::par_output;

    #[test]
    fn par_output_hands_every_chunk_zeroed_once() {
        // A shorter last chunk, several chunks a task, and kernels that only add.
        for (len, chunk, min_chunks) in [(10, 3, 1), (64, 8, 3), (7, 7, 1), (0, 4, 1), (5, 16, 2)] {
            let out = par_output(
                len,
                chunk,
                min_chunks,
                || (),
                |_, i, part| {
                    assert!(part.iter().all(|&v| v == 0.0), "chunk {i} arrived zeroed");
                    assert_eq!(part.len(), chunk.min(len - i * chunk), "chunk {i}'s length");
                    for (k, v) in part.iter_mut().enumerate() {
                        *v += (i * chunk + k) as f32;
                    }
                },
            );
            let want: Vec<f32> = (0..len).map(|v| v as f32).collect();
            assert_eq!(out, want, "len {len}, chunk {chunk}");
        }
    }
}
