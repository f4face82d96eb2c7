//! [`Kernels`] under autodiff: one graph node per kernel, whose backward calls the inner
//! backend's gradient kernel.

use super::*;

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
