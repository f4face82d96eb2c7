//! The project's own compute kernels, brought into burn through its extension points.
//!
//! [`Kernels`] is a backend trait whose methods default to burn's own operations; a backend
//! overrides what it does faster. The CPU backend (burn-flex) overrides the convolution and
//! its gradients ([`conv`]) for ungrouped f32 convolutions, and the gradients of depthwise
//! ones; CUDA keeps burn's. Under autodiff,
//! [`conv2d`] records its own graph node whose backward pass calls those methods, so a model
//! calls [`conv2d`] where it would call `Conv2d::forward` and nothing else changes.

pub mod conv;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
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

fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl Kernels for Flex {
    fn conv2d_op(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        // Depthwise forward: burn-flex's own direct kernel is already fast (9% of an
        // EfficientNet step against 31% for the gradients).
        let Some((Kind::Dense, g)) = flex_geometry(&x, &weight, &options) else {
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
            (Some(xv), Some(wv), Some(bv)) => flex_tensor(
                conv::forward(&g, xv, wv, bv),
                [g.n, g.o, g.out_h(), g.out_w()],
            ),
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
