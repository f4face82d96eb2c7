//! The project's own compute kernels, brought into burn through its extension points.
//!
//! [`Kernels`] is a backend trait whose methods default to burn's own operations (or, for the
//! fused ones, return None so the caller composes burn's); a backend overrides what it does
//! faster. The CPU backend (burn-flex) overrides the convolution and its gradients ([`conv`],
//! ungrouped and depthwise f32), BatchNorm with the activation after it ([`norm`]) and
//! unpadded max pooling ([`pool`]); CUDA keeps burn's. Under autodiff each records its own
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

pub mod conv;
pub mod norm;
pub mod pool;

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

/// The convolutions the slice kernels handle: `Dense` (groups 1) and `Depthwise` (one group
/// and one output per channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dense,
    Depthwise,
}

/// The kind and sizes of an f32 flex convolution, or None for what the kernels leave to burn.
fn flex_geometry(
    x: &FlexTensor,
    w: &FlexTensor,
    options: &ConvOptions<2>,
) -> Option<(Kind, conv::Geometry)> {
    if x.dtype() != DType::F32 || w.dtype() != DType::F32 {
        return None;
    }
    let xs = x.layout().shape();
    let ws = w.layout().shape();
    if xs.num_dims() != 4 || ws.num_dims() != 4 {
        return None;
    }
    let kind = if options.groups == 1 && xs[1] == ws[1] {
        Kind::Dense
    } else if options.groups == xs[1] && ws[0] == xs[1] && ws[1] == 1 {
        Kind::Depthwise
    } else {
        return None;
    };
    // Shapes burn rejects (zero stride, a kernel wider than the padded input) get burn's
    // error, not an underflow here.
    let fits = |i: usize, k: usize| {
        options.stride[i] > 0
            && options.dilation[i] > 0
            && k > 0
            && xs[2 + i] + 2 * options.padding[i] > options.dilation[i] * (k - 1)
    };
    if !fits(0, ws[2]) || !fits(1, ws[3]) {
        return None;
    }
    let g = conv::Geometry {
        n: xs[0],
        c: xs[1],
        h: xs[2],
        w: xs[3],
        o: ws[0],
        kh: ws[2],
        kw: ws[3],
        stride: options.stride,
        pad: options.padding,
        dilation: options.dilation,
    };
    Some((kind, g))
}

fn flex_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// The planes of a 4-d f32 flex tensor, or None for what the norm kernels leave to burn.
fn flex_planes(x: &FlexTensor) -> Option<norm::Planes> {
    let s = x.layout().shape();
    (x.dtype() == DType::F32 && s.num_dims() == 4 && s[1] > 0).then(|| norm::Planes {
        n: s[0],
        c: s[1],
        hw: s[2] * s[3],
    })
}

/// The pooling windows over a 4-d f32 flex tensor, or None for what the kernels leave to burn.
fn flex_window(x: &FlexTensor, k: [usize; 2], stride: [usize; 2]) -> Option<pool::Window> {
    let s = x.layout().shape();
    let fits = k.iter().chain(&stride).all(|&v| v > 0)
        && s.num_dims() == 4
        && s[2] >= k[0]
        && s[3] >= k[1];
    (x.dtype() == DType::F32 && fits).then(|| pool::Window {
        n: s[0],
        c: s[1],
        h: s[2],
        w: s[3],
        k,
        stride,
    })
}

/// The f32 values of a contiguous copy (or view) of `t`.
fn flex_values(t: &FlexTensor) -> Option<FlexTensor> {
    let c = t.to_contiguous();
    (c.dtype() == DType::F32).then_some(c)
}

impl Kernels for Flex {
    fn conv2d_op(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let Some((kind, g)) = flex_geometry(&x, &weight, &options) else {
            return Self::conv2d(x, weight, bias, options);
        };
        let (xc, wc) = (x.to_contiguous(), weight.to_contiguous());
        let bc = bias.as_ref().map(FlexTensor::to_contiguous);
        // Some(None): no bias; None: a bias the slices cannot read.
        let b = match &bc {
            None => Some(None),
            Some(t) => t.as_slice::<f32>().map(Some),
        };
        match (xc.as_slice::<f32>(), wc.as_slice::<f32>(), b) {
            (Some(xv), Some(wv), Some(bv)) => {
                let y = match kind {
                    Kind::Dense => conv::forward(&g, xv, wv, bv),
                    Kind::Depthwise => conv::depthwise_forward(&g, xv, wv, bv),
                };
                flex_tensor(y, [g.n, g.o, g.out_h(), g.out_w()])
            }
            _ => Self::conv2d(x, weight, bias, options),
        }
    }

    fn conv2d_x_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let Some((kind, g)) = flex_geometry(&x, &weight, &options) else {
            return Self::conv2d_x_backward(x, weight, grad, options);
        };
        let (w, dy) = (weight.to_contiguous(), grad.to_contiguous());
        let (Some(w), Some(dy)) = (w.as_slice::<f32>(), dy.as_slice::<f32>()) else {
            return Self::conv2d_x_backward(x, weight, grad, options);
        };
        let dx = match kind {
            Kind::Dense => conv::input_grad(&g, w, dy),
            Kind::Depthwise => conv::depthwise_input_grad(&g, w, dy),
        };
        flex_tensor(dx, [g.n, g.c, g.h, g.w])
    }

    fn conv2d_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let Some((kind, g)) = flex_geometry(&x, &weight, &options) else {
            return Self::conv2d_weight_backward(x, weight, grad, options);
        };
        let (xc, dy) = (x.to_contiguous(), grad.to_contiguous());
        let (Some(xv), Some(dy)) = (xc.as_slice::<f32>(), dy.as_slice::<f32>()) else {
            return Self::conv2d_weight_backward(x, weight, grad, options);
        };
        match kind {
            Kind::Dense => flex_tensor(conv::weight_grad(&g, xv, dy), [g.o, g.c, g.kh, g.kw]),
            Kind::Depthwise => flex_tensor(
                conv::depthwise_weight_grad(&g, xv, dy),
                [g.c, 1, g.kh, g.kw],
            ),
        }
    }

    fn batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        act: Activation,
    ) -> Option<BatchNormOutput<Self>> {
        let s = flex_planes(&x)?;
        let (x, gamma, beta) = (flex_values(&x)?, flex_values(&gamma)?, flex_values(&beta)?);
        let (xv, gv, bv) = (
            x.as_slice::<f32>()?,
            gamma.as_slice::<f32>()?,
            beta.as_slice::<f32>()?,
        );
        if gv.len() != s.c || bv.len() != s.c {
            return None;
        }
        let shape = x.layout().shape();
        let (y, mean, var) = norm::train_forward(s, xv, gv, bv, epsilon as f32, act);
        Some(BatchNormOutput {
            output: flex_tensor(y, [shape[0], shape[1], shape[2], shape[3]]),
            mean: flex_tensor(mean, [s.c]),
            var: flex_tensor(var, [s.c]),
        })
    }

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
        // The forward only recorded its node for shapes it handled, so these are all f32.
        let s = flex_planes(&x).expect("batch norm backward: the forward's 4-d f32 input");
        let shape = x.layout().shape().clone();
        let [x, y, dy, mean, var, gamma] = [x, y, dy, mean, var, gamma]
            .map(|t| flex_values(&t).expect("batch norm backward: f32 tensors"));
        fn v(t: &FlexTensor) -> &[f32] {
            t.as_slice::<f32>()
                .expect("batch norm backward: f32 values")
        }
        let (dx, dgamma, dbeta) = norm::train_backward(
            s,
            v(&x),
            v(&y),
            v(&dy),
            v(&mean),
            v(&var),
            v(&gamma),
            epsilon as f32,
            act,
        );
        [
            flex_tensor(dx, [shape[0], shape[1], shape[2], shape[3]]),
            flex_tensor(dgamma, [s.c]),
            flex_tensor(dbeta, [s.c]),
        ]
    }

    fn scale_shift_act(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
        act: Activation,
    ) -> Option<FloatTensor<Self>> {
        let s = flex_planes(&x)?;
        let (x, scale, shift) = (flex_values(&x)?, flex_values(&scale)?, flex_values(&shift)?);
        let (xv, a, b) = (
            x.as_slice::<f32>()?,
            scale.as_slice::<f32>()?,
            shift.as_slice::<f32>()?,
        );
        if a.len() != s.c || b.len() != s.c {
            return None;
        }
        let shape = x.layout().shape();
        let y = norm::normalize(s, xv, &vec![0.0; s.c], a, b, act);
        Some(flex_tensor(y, [shape[0], shape[1], shape[2], shape[3]]))
    }

    fn max_pool2d_op(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> Option<FloatTensor<Self>> {
        let g = flex_window(&x, kernel, stride)?;
        let x = flex_values(&x)?;
        let [oh, ow] = g.out();
        Some(flex_tensor(
            pool::forward(&g, x.as_slice::<f32>()?),
            [g.n, g.c, oh, ow],
        ))
    }

    fn max_pool2d_op_backward(
        x: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> FloatTensor<Self> {
        // The forward only recorded its node for inputs it handled.
        let g = flex_window(&x, kernel, stride).expect("max pool backward: the forward's input");
        let x = flex_values(&x).expect("max pool backward: f32 input");
        let dy = flex_values(&dy).expect("max pool backward: f32 gradient");
        let (xv, dyv) = (
            x.as_slice::<f32>().expect("max pool backward: f32 input"),
            dy.as_slice::<f32>()
                .expect("max pool backward: f32 gradient"),
        );
        flex_tensor(pool::backward(&g, xv, dyv), [g.n, g.c, g.h, g.w])
    }
}

/// The autodiff node of [`Kernels::max_pool2d_op`]: keeps the input, kernel and stride.
#[derive(Debug)]
struct MaxPool;

impl<B: Kernels> Backward<B, 1> for MaxPool {
    type State = (FloatTensor<B>, [usize; 2], [usize; 2]);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, kernel, stride) = ops.state;
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::max_pool2d_op_backward(x, dy, kernel, stride));
        }
    }
}

/// The autodiff node of [`Kernels::batch_norm_act`]; parents `(x, gamma, beta)`.
#[derive(Debug)]
struct BatchNormAct;

impl<B: Kernels> Backward<B, 3> for BatchNormAct {
    /// Input, output, batch mean and variance, gamma, epsilon, activation.
    #[allow(clippy::type_complexity)]
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        f64,
        Activation,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let (x, y, mean, var, gamma, epsilon, act) = ops.state;
        let [dx, dgamma, dbeta] =
            B::batch_norm_act_backward(x, y, dy, mean, var, gamma, epsilon, act);
        for (node, grad) in ops.parents.into_iter().zip([dx, dgamma, dbeta]) {
            if let Some(node) = node {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

#[derive(Debug)]
struct Conv2dWithBias;
#[derive(Debug)]
struct Conv2dNoBias;

/// The input and weight gradients both nodes share.
fn register_x_and_weight<B: Kernels>(
    node_x: Option<NodeId>,
    node_w: Option<NodeId>,
    x: &FloatTensor<B>,
    w: FloatTensor<B>,
    grad: &FloatTensor<B>,
    options: ConvOptions<2>,
    grads: &mut Gradients,
) {
    if let Some(id) = node_x {
        let g = B::conv2d_x_grad(x.clone(), w.clone(), grad.clone(), options.clone());
        grads.register::<B>(id, g);
    }
    if let Some(id) = node_w {
        let g = B::conv2d_weight_grad(x.clone(), w, grad.clone(), options);
        grads.register::<B>(id, g);
    }
}

impl<B: Kernels> Backward<B, 3> for Conv2dWithBias {
    type State = (NodeId, NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, b, options) = ops.state;
        let x = cp.retrieve_node_output::<B::FloatTensorPrimitive>(x);
        let w = cp.retrieve_node_output::<B::FloatTensorPrimitive>(w);
        let b = cp.retrieve_node_output::<B::FloatTensorPrimitive>(b);
        let (idx, idw) = (node_x.map(|n| n.id), node_w.map(|n| n.id));
        register_x_and_weight::<B>(idx, idw, &x, w, &grad, options, grads);
        if let Some(node) = node_b {
            grads.register::<B>(node.id, B::conv2d_bias_backward(x, b, grad));
        }
    }
}

impl<B: Kernels> Backward<B, 2> for Conv2dNoBias {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, cp: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x, w, options) = ops.state;
        let x = cp.retrieve_node_output::<B::FloatTensorPrimitive>(x);
        let w = cp.retrieve_node_output::<B::FloatTensorPrimitive>(w);
        let (idx, idw) = (node_x.map(|n| n.id), node_w.map(|n| n.id));
        register_x_and_weight::<B>(idx, idw, &x, w, &grad, options, grads);
    }
}

impl<B: Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn conv2d_op(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        // The same graph node as burn's own conv2d, with the backward pass above.
        match bias {
            Some(bias) => match Conv2dWithBias
                .prepare::<C>([x.node.clone(), weight.node.clone(), bias.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let xs = prep.checkpoint(&x);
                    let ws = prep.checkpoint(&weight);
                    let bs = prep.checkpoint(&bias);
                    prep.finish(
                        (xs, ws, bs, options.clone()),
                        B::conv2d_op(x.primitive, weight.primitive, Some(bias.primitive), options),
                    )
                }
                OpsKind::UnTracked(prep) => prep.finish(B::conv2d_op(
                    x.primitive,
                    weight.primitive,
                    Some(bias.primitive),
                    options,
                )),
            },
            None => match Conv2dNoBias
                .prepare::<C>([x.node.clone(), weight.node.clone()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let xs = prep.checkpoint(&x);
                    let ws = prep.checkpoint(&weight);
                    prep.finish(
                        (xs, ws, options.clone()),
                        B::conv2d_op(x.primitive, weight.primitive, None, options),
                    )
                }
                OpsKind::UnTracked(prep) => {
                    prep.finish(B::conv2d_op(x.primitive, weight.primitive, None, options))
                }
            },
        }
    }

    fn batch_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        act: Activation,
    ) -> Option<BatchNormOutput<Self>> {
        let out = B::batch_norm_act(
            x.primitive.clone(),
            gamma.primitive.clone(),
            beta.primitive.clone(),
            epsilon,
            act,
        )?;
        // The node keeps the input and output it needs; the composed ops it replaces kept
        // several activation-sized intermediates instead.
        let output = match BatchNormAct
            .prepare::<C>([x.node, gamma.node, beta.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (
                    x.primitive,
                    out.output.clone(),
                    out.mean.clone(),
                    out.var.clone(),
                    gamma.primitive,
                    epsilon,
                    act,
                );
                prep.finish(state, out.output)
            }
            OpsKind::UnTracked(prep) => prep.finish(out.output),
        };
        Some(BatchNormOutput {
            output,
            mean: Self::from_inner(out.mean),
            var: Self::from_inner(out.var),
        })
    }

    fn max_pool2d_op(
        x: FloatTensor<Self>,
        kernel: [usize; 2],
        stride: [usize; 2],
    ) -> Option<FloatTensor<Self>> {
        let y = B::max_pool2d_op(x.primitive.clone(), kernel, stride)?;
        Some(
            match MaxPool.prepare::<C>([x.node]).compute_bound().stateful() {
                OpsKind::Tracked(prep) => prep.finish((x.primitive, kernel, stride), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            },
        )
    }
}

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

/// `histoboard bench conv`: the convolution gradients of seed-cnn-3's three blocks at batch
/// `batch`, burn's default against [`conv`], as `RESULT {json}` lines (median of `reps`).
pub fn bench(batch: usize, reps: usize) -> anyhow::Result<()> {
    use std::time::Instant;
    let reps = reps.max(1);
    let median = |mut f: Box<dyn FnMut()>| -> f64 {
        let mut t: Vec<f64> = (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let device = Default::default();
    for (c, o, side, k) in [(3, 32, 96, 5), (32, 64, 48, 3), (64, 128, 24, 3)] {
        let rand = |shape: [usize; 4]| {
            Tensor::<Flex, 4>::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), &device)
                .into_primitive()
                .tensor()
        };
        let x = rand([batch, c, side, side]);
        let w = rand([o, c, k, k]);
        let dy = rand([batch, o, side, side]);
        let opts = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let burn_dw = median(Box::new(move || {
            Flex::conv2d_weight_backward(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let ours_dw = median(Box::new(move || {
            Flex::conv2d_weight_grad(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let burn_dx = median(Box::new(move || {
            Flex::conv2d_x_backward(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let ours_dx = median(Box::new(move || {
            Flex::conv2d_x_grad(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, o1) = (x.clone(), w.clone(), opts.clone());
        let burn_fwd = median(Box::new(move || {
            Flex::conv2d(x1.clone(), w1.clone(), None, o1.clone());
        }));
        let (x1, w1, o1) = (x.clone(), w.clone(), opts.clone());
        let ours_fwd = median(Box::new(move || {
            Flex::conv2d_op(x1.clone(), w1.clone(), None, o1.clone());
        }));
        let result = serde_json::json!({
            "forward_s": {"burn": burn_fwd, "histoboard": ours_fwd},
            "mode": "conv-grad",
            "shape": format!("{batch}x{c}x{side}x{side} -> {o}, k{k}"),
            "threads": rayon::current_num_threads(),
            "weight_grad_s": {"burn": burn_dw, "histoboard": ours_dw},
            "input_grad_s": {"burn": burn_dx, "histoboard": ours_dx},
        });
        println!("RESULT {result}");
    }
    Ok(())
}
