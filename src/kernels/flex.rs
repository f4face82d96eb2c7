//! The CPU backend (burn-flex) implementation of [`Kernels`]: the project's own kernels on
//! f32 tensors, with burn's operations for whatever they do not handle.

use super::*;

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
