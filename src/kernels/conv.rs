//! Convolution and its gradients on f32 slices as im2col + GEMM: a run of images per task, one
//! GEMM per image, or per group of images where a layer has few output pixels.
//!
//! burn-flex computes the gradients with burn's generic defaults (a transposed convolution per
//! image for the input gradient; for the weight gradient a convolution over swapped axes with
//! the whole image as its kernel), which measured 2-7x slower than unfolding the input into
//! columns and multiplying; its forward pass, tiled im2col, 1.1-2.2x slower. Layouts are NCHW,
//! weights `[O, C, KH, KW]`, groups = 1. Depthwise convolutions (one group per channel) are
//! direct loops ([`depthwise`]): plane by plane below 16 channels, channels-last above. 3x3
//! convolutions with stride 1 and padding 1 between 16 or more channels (most of the seed CNNs'
//! arithmetic) take Winograd F(2x2, 3x3) ([`winograd`]) for the output and both gradients.

mod depthwise;
mod winograd;

use super::gemm::matmul;
use rayon::prelude::*;

/// Sizes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
}

impl Geometry {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad[0] - self.dilation[0] * (self.kh - 1) - 1) / self.stride[0] + 1
    }

    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad[1] - self.dilation[1] * (self.kw - 1) - 1) / self.stride[1] + 1
    }

    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    fn ck(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Columns of the column matrix: one per output pixel.
    fn p(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// A 1x1 convolution with stride 1 and no padding: the image is its own column matrix.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == [1, 1] && self.pad == [0, 0]
    }
}

multiversion! {
    /// Unfolds one image `[C, H, W]` into `cols` `[C·KH·KW, OH·OW]` (zeros where the kernel
    /// hangs over the padding), each row at `row·ld + off`: the columns of several images side
    /// by side share one matrix.
    fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32], ld: usize, off: usize) {
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut row = 0;
        for c in 0..g.c {
            let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let dst = &mut cols[row * ld + off..row * ld + off + oh * ow];
                    let x0 = (j * g.dilation[1]) as isize - g.pad[1] as isize;
                    // The output columns whose tap lands inside the row; padding on either side.
                    let valid = valid_cols(g, x0);
                    for oy in 0..oh {
                        let y = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.pad[0] as isize;
                        let out = &mut dst[oy * ow..(oy + 1) * ow];
                        if y < 0 || y >= g.h as isize {
                            out.fill(0.0);
                            continue;
                        }
                        let src = &plane[y as usize * g.w..(y as usize + 1) * g.w];
                        out[..valid.start].fill(0.0);
                        out[valid.end..].fill(0.0);
                        let first = (x0 + (valid.start * g.stride[1]) as isize) as usize;
                        if g.stride[1] == 1 {
                            out[valid.clone()].copy_from_slice(&src[first..first + valid.len()]);
                        } else {
                            let taps = src[first..].iter().step_by(g.stride[1]);
                            for (v, &s) in out[valid.clone()].iter_mut().zip(taps) {
                                *v = s;
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }
}

multiversion! {
    /// Folds columns back into one image, adding where kernel windows overlap (the adjoint of
    /// [`im2col`], with the same row layout).
    fn col2im(g: &Geometry, cols: &[f32], ld: usize, off: usize, dx: &mut [f32]) {
        let (oh, ow) = (g.out_h(), g.out_w());
        dx.fill(0.0);
        let mut row = 0;
        for c in 0..g.c {
            let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let src = &cols[row * ld + off..row * ld + off + oh * ow];
                    let x0 = (j * g.dilation[1]) as isize - g.pad[1] as isize;
                    let valid = valid_cols(g, x0);
                    for oy in 0..oh {
                        let y = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.pad[0] as isize;
                        if y < 0 || y >= g.h as isize || valid.is_empty() {
                            continue;
                        }
                        let dst = &mut plane[y as usize * g.w..(y as usize + 1) * g.w];
                        let first = (x0 + (valid.start * g.stride[1]) as isize) as usize;
                        let from = &src[oy * ow..(oy + 1) * ow][valid.clone()];
                        if g.stride[1] == 1 {
                            for (d, &v) in dst[first..first + valid.len()].iter_mut().zip(from) {
                                *d += v;
                            }
                        } else {
                            let taps = dst[first..].iter_mut().step_by(g.stride[1]);
                            for (d, &v) in taps.zip(from) {
                                *d += v;
                            }
                        }
                    }
                    row += 1;
                }
            }
        }
    }
}

/// Images per task: enough tasks for every thread, few enough that each thread's column
/// buffer and partial weight gradient are reused.
fn chunk_len(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// GEMM columns worth gathering from several images into one multiplication.
const GROUP_COLS: usize = 512;

/// Images whose columns one GEMM takes together. Late layers have few output pixels (36 at
/// 6x6): a GEMM per image then streams the whole weight matrix (4.7 MB at 512x2304) for 36
/// columns, or accumulates a weight gradient that size over k = 36, and runs at memory speed.
fn group_len(g: &Geometry, per: usize) -> usize {
    (GROUP_COLS / g.p()).clamp(1, per)
}

/// Column matrix `[C·KH·KW, G·OH·OW]` of images `xs` (each `[C, H, W]`) side by side.
fn unfold(g: &Geometry, xs: &[f32], cols: &mut [f32]) {
    let (img, p) = (g.c * g.h * g.w, g.p());
    let ld = xs.len() / img * p;
    for (j, xi) in xs.chunks(img).enumerate() {
        if g.pointwise() {
            for (c, row) in xi.chunks(p).enumerate() {
                cols[c * ld + j * p..c * ld + (j + 1) * p].copy_from_slice(row);
            }
        } else {
            im2col(g, xi, cols, ld, j * p);
        }
    }
}

/// `[G, R, P]` (R rows of P per image) to `[R, G·P]`, or back with `back`.
fn interleave(src: &[f32], dst: &mut [f32], rows: usize, p: usize, back: bool) {
    let gl = src.len() / (rows * p);
    for j in 0..gl {
        for r in 0..rows {
            let (a, b) = ((j * rows + r) * p, r * gl * p + j * p);
            if back {
                dst[a..a + p].copy_from_slice(&src[b..b + p]);
            } else {
                dst[b..b + p].copy_from_slice(&src[a..a + p]);
            }
        }
    }
}

/// The convolution itself, `W · cols(x_n) + b` per image, shape `[N, O, OH, OW]`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (ck, p) = (g.ck(), g.p());
    let (img, out) = (g.c * g.h * g.w, g.o * p);
    assert_eq!(x.len(), g.n * img, "conv input size");
    assert_eq!(w.len(), g.o * ck, "conv weight size");
    if winograd::applies(g) {
        return winograd::forward(g, x, w, bias);
    }
    let per = chunk_len(g.n);
    let group = group_len(g, per);
    super::par_output(
        g.n * out,
        per * out,
        1,
        || (),
        |_, t, chunk| {
            let direct = group == 1 && g.pointwise();
            let mut cols = vec![0f32; if direct { 0 } else { ck * p * group }];
            let mut tmp = vec![0f32; if group == 1 { 0 } else { out * group }];
            for (k, ys) in chunk.chunks_mut(out * group).enumerate() {
                let first = t * per + k * group;
                let gl = ys.len() / out;
                let xs = &x[first * img..(first + gl) * img];
                let cols = if direct {
                    xs
                } else {
                    unfold(g, xs, &mut cols[..ck * p * gl]);
                    &cols[..ck * p * gl]
                };
                // Y[o, (j, p)] = W[o, ck] · cols[ck, (j, p)]; one image writes y in place.
                let dst = if gl == 1 {
                    &mut *ys
                } else {
                    &mut tmp[..out * gl]
                };
                matmul((g.o, p * gl, ck), dst, false, w, (ck, 1), cols, (p * gl, 1));
                if gl > 1 {
                    interleave(&tmp[..out * gl], ys, g.o, p, true);
                }
                if let Some(b) = bias {
                    for yi in ys.chunks_mut(out) {
                        for (row, v) in yi.chunks_mut(p).zip(b) {
                            row.iter_mut().for_each(|y| *y += v);
                        }
                    }
                }
            }
        },
    )
}

/// Gradient with respect to the weights: `Σ_n dY_n · cols(x_n)ᵀ`, shape `[O, C, KH, KW]`.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (ck, p) = (g.ck(), g.p());
    let (img, out) = (g.c * g.h * g.w, g.o * p);
    assert_eq!(x.len(), g.n * img, "conv input size");
    assert_eq!(dy.len(), g.n * out, "conv output-gradient size");
    if winograd::applies(g) {
        return winograd::weight_grad(g, x, dy);
    }
    let per = chunk_len(g.n);
    let group = group_len(g, per);
    let partials: Vec<Vec<f32>> = (0..g.n.div_ceil(per))
        .into_par_iter()
        .map(|t| {
            let mut dw = vec![0f32; g.o * ck];
            let direct = group == 1 && g.pointwise();
            let mut cols = vec![0f32; if direct { 0 } else { ck * p * group }];
            let mut tmp = vec![0f32; if group == 1 { 0 } else { out * group }];
            let images = t * per..((t + 1) * per).min(g.n);
            for first in images.clone().step_by(group) {
                let gl = group.min(images.end - first);
                let xs = &x[first * img..(first + gl) * img];
                let dys = &dy[first * out..(first + gl) * out];
                let cols = if direct {
                    xs
                } else {
                    unfold(g, xs, &mut cols[..ck * p * gl]);
                    &cols[..ck * p * gl]
                };
                let dys = if gl == 1 {
                    dys
                } else {
                    interleave(dys, &mut tmp[..out * gl], g.o, p, false);
                    &tmp[..out * gl]
                };
                // dW[o, ck] += dY[o, (j, p)] · cols[ck, (j, p)]ᵀ
                let n = p * gl;
                matmul((g.o, ck, n), &mut dw, true, dys, (n, 1), cols, (1, n));
            }
            dw
        })
        .collect();
    sum_in_order(partials, g.o * ck)
}

/// The tasks' partial sums added in task order, so a result does not depend on how rayon
/// scheduled the tasks (a resumed run must compute exactly what the uninterrupted one did).
fn sum_in_order(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut iter = partials.into_iter();
    let mut sum = iter.next().unwrap_or_else(|| vec![0f32; len]);
    for part in iter {
        for (a, b) in sum.iter_mut().zip(part) {
            *a += b;
        }
    }
    sum
}

/// Gradient with respect to the input: `col2im(Wᵀ · dY_n)` per image, shape `[N, C, H, W]`.
pub fn input_grad(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (ck, p) = (g.ck(), g.p());
    let (img, out) = (g.c * g.h * g.w, g.o * p);
    assert_eq!(w.len(), g.o * ck, "conv weight size");
    assert_eq!(dy.len(), g.n * out, "conv output-gradient size");
    if winograd::applies(g) {
        return winograd::input_grad(g, w, dy);
    }
    let per = chunk_len(g.n);
    let group = group_len(g, per);
    super::par_output(
        g.n * img,
        per * img,
        1,
        || (),
        |_, t, chunk| {
            let direct = group == 1 && g.pointwise();
            let mut cols = vec![0f32; if direct { 0 } else { ck * p * group }];
            let mut tmp = vec![0f32; if group == 1 { 0 } else { out * group }];
            for (k, dxs) in chunk.chunks_mut(img * group).enumerate() {
                let first = t * per + k * group;
                let gl = dxs.len() / img;
                let dys = &dy[first * out..(first + gl) * out];
                let dys = if gl == 1 {
                    dys
                } else {
                    interleave(dys, &mut tmp[..out * gl], g.o, p, false);
                    &tmp[..out * gl]
                };
                let n = p * gl;
                // cols[ck, (j, p)] = W[o, ck]ᵀ · dY[o, (j, p)]; one pointwise image is dX itself.
                if direct {
                    matmul((ck, n, g.o), dxs, false, w, (1, ck), dys, (n, 1));
                    continue;
                }
                let cols = &mut cols[..ck * n];
                matmul((ck, n, g.o), cols, false, w, (1, ck), dys, (n, 1));
                for (j, dxi) in dxs.chunks_mut(img).enumerate() {
                    if g.pointwise() {
                        for (c, row) in dxi.chunks_mut(p).enumerate() {
                            row.copy_from_slice(&cols[c * n + j * p..c * n + (j + 1) * p]);
                        }
                    } else {
                        col2im(g, cols, n, j * p, dxi);
                    }
                }
            }
        },
    )
}

/// Valid output columns `ox` for kernel column offset `x0` (input column `x0 + ox·stride`).
fn valid_cols(g: &Geometry, x0: isize) -> std::ops::Range<usize> {
    let (s, w, ow) = (g.stride[1] as isize, g.w as isize, g.out_w() as isize);
    let lo = if x0 >= 0 { 0 } else { (-x0 + s - 1) / s };
    let hi = if x0 >= w {
        0
    } else {
        ((w - 1 - x0) / s + 1).min(ow)
    };
    lo as usize..(hi.max(lo)) as usize
}

/// `dst[first + k·stride] += a · src[k]` for every k of `src`.
#[inline(always)]
fn axpy_strided(dst: &mut [f32], first: usize, stride: usize, a: f32, src: &[f32]) {
    if stride == 1 {
        for (d, &v) in dst[first..first + src.len()].iter_mut().zip(src) {
            *d += a * v;
        }
    } else {
        for (d, &v) in dst[first..].iter_mut().step_by(stride).zip(src) {
            *d += a * v;
        }
    }
}

/// `dst[k] += a · src[first + k·stride]` for every k of `dst`.
#[inline(always)]
fn gather_axpy(dst: &mut [f32], a: f32, src: &[f32], first: usize, stride: usize) {
    if stride == 1 {
        let len = dst.len();
        for (d, &v) in dst.iter_mut().zip(&src[first..first + len]) {
            *d += a * v;
        }
    } else {
        for (d, &v) in dst.iter_mut().zip(src[first..].iter().step_by(stride)) {
            *d += a * v;
        }
    }
}

/// `Σ_k a[k] · b[first + k·stride]`, in 8 partial sums so the contiguous case vectorises.
#[inline(always)]
fn dot_strided(a: &[f32], b: &[f32], first: usize, stride: usize) -> f32 {
    if stride == 1 {
        let b = &b[first..first + a.len()];
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f32 = ca
            .remainder()
            .iter()
            .zip(cb.remainder())
            .map(|(x, y)| x * y)
            .sum();
        for (xa, xb) in ca.zip(cb) {
            for l in 0..8 {
                acc[l] += xa[l] * xb[l];
            }
        }
        acc.iter().sum::<f32>() + tail
    } else {
        a.iter()
            .zip(b[first..].iter().step_by(stride))
            .map(|(x, y)| x * y)
            .sum()
    }
}

pub use depthwise::{depthwise_forward, depthwise_input_grad, depthwise_weight_grad};

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution, the definition the fast paths must match. `depthwise`: output
    /// channel c sees only input channel c (weights `[C, 1, KH, KW]`).
    fn naive(g: &Geometry, x: &[f32], w: &[f32], depthwise: bool) -> Vec<f32> {
        let (oh, ow) = (g.out_h(), g.out_w());
        let wc = if depthwise { 1 } else { g.c };
        let mut y = vec![0f32; g.n * g.o * oh * ow];
        for n in 0..g.n {
            for o in 0..g.o {
                let channels = if depthwise { o..o + 1 } else { 0..g.c };
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = 0f64;
                        for c in channels.clone() {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let yy = (oy * g.stride[0] + i * g.dilation[0]) as isize
                                        - g.pad[0] as isize;
                                    let xx = (ox * g.stride[1] + j * g.dilation[1]) as isize
                                        - g.pad[1] as isize;
                                    if yy < 0 || xx < 0 || yy >= g.h as isize || xx >= g.w as isize
                                    {
                                        continue;
                                    }
                                    let xv =
                                        x[((n * g.c + c) * g.h + yy as usize) * g.w + xx as usize];
                                    let wi = if depthwise { 0 } else { c };
                                    let wv = w[((o * wc + wi) * g.kh + i) * g.kw + j];
                                    s += (xv * wv) as f64;
                                }
                            }
                        }
                        y[((n * g.o + o) * oh + oy) * ow + ox] = s as f32;
                    }
                }
            }
        }
        y
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        crate::kernels::test_values(len, seed, -1.0, 1.0)
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(p, q)| (*p as f64) * (*q as f64))
            .sum()
    }

    /// conv is linear in x and in w, so its gradients are fixed by the adjoint identities
    /// <conv(x, w), dy> = <x, dX(dy)> = <w, dW(dy)>, and entry by entry by
    /// dW[k] = <dy, conv(x, e_k)> and dX[k] = <dy, conv(e_k, w)>.
    fn check_gradients(g: &Geometry, depthwise: bool, seed: u32) {
        let wlen = g.o * if depthwise { 1 } else { g.c } * g.kh * g.kw;
        let x = values(g.n * g.c * g.h * g.w, seed);
        let wt = values(wlen, seed + 1);
        let dy = values(g.n * g.o * g.out_h() * g.out_w(), seed + 2);
        let (dx, dw) = if depthwise {
            (
                depthwise_input_grad(g, &wt, &dy),
                depthwise_weight_grad(g, &x, &dy),
            )
        } else {
            (input_grad(g, &wt, &dy), weight_grad(g, &x, &dy))
        };
        let lhs = dot(&naive(g, &x, &wt, depthwise), &dy);
        let tol = 1e-3 * lhs.abs().max(1.0);
        assert!((lhs - dot(&x, &dx)).abs() < tol, "{g:?} dX adjoint");
        assert!((lhs - dot(&wt, &dw)).abs() < tol, "{g:?} dW adjoint");
        for k in [0, dw.len() / 2, dw.len() - 1] {
            let mut e = vec![0f32; wt.len()];
            e[k] = 1.0;
            let want = dot(&naive(g, &x, &e, depthwise), &dy);
            let got = dw[k] as f64;
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{g:?} dW[{k}]"
            );
        }
        for k in [0, dx.len() / 3, dx.len() - 1] {
            let mut e = vec![0f32; x.len()];
            e[k] = 1.0;
            let want = dot(&naive(g, &e, &wt, depthwise), &dy);
            let got = dx[k] as f64;
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "{g:?} dX[{k}]"
            );
        }
    }

    fn geometry(
        (n, c, h, w, o): (usize, usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        stride: [usize; 2],
        pad: [usize; 2],
        dilation: [usize; 2],
    ) -> Geometry {
        Geometry {
            n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            stride,
            pad,
            dilation,
        }
    }

    #[test]
    fn dense_forward_and_gradients_match_the_definition() {
        let shapes = [
            geometry((2, 3, 9, 9, 4), (5, 5), [1, 1], [2, 2], [1, 1]),
            geometry((3, 4, 8, 7, 5), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((2, 3, 11, 10, 6), (3, 3), [2, 2], [1, 1], [1, 1]),
            geometry((1, 5, 6, 6, 3), (1, 1), [1, 1], [0, 0], [1, 1]),
            geometry((2, 2, 9, 9, 3), (3, 3), [1, 2], [2, 1], [2, 1]),
            // Several images per GEMM (few output pixels), with a shorter last group.
            geometry((7, 3, 6, 6, 4), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((5, 5, 6, 6, 3), (1, 1), [1, 1], [0, 0], [1, 1]),
            geometry((6, 4, 7, 5, 3), (3, 3), [2, 2], [1, 1], [1, 1]),
            // Winograd F(2x2, 3x3): even and odd sides, tile rows split across blocks and
            // images, more output than input channels and fewer.
            geometry((3, 16, 8, 6, 20), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((2, 20, 7, 9, 16), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((5, 16, 3, 3, 17), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((2, 16, 34, 33, 16), (3, 3), [1, 1], [1, 1], [1, 1]),
        ];
        for g in shapes {
            let x = values(g.n * g.c * g.h * g.w, 1);
            let wt = values(g.o * g.c * g.kh * g.kw, 2);
            let y = naive(&g, &x, &wt, false);
            let fast = forward(&g, &x, &wt, None);
            let err: f64 = y
                .iter()
                .zip(&fast)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum();
            assert!(
                err.sqrt() < 1e-4 * dot(&y, &y).sqrt().max(1.0),
                "{g:?} forward"
            );
            let b = values(g.o, 4);
            let p = g.out_h() * g.out_w();
            let fast_b = forward(&g, &x, &wt, Some(&b));
            for (k, (yb, yf)) in fast_b.iter().zip(&fast).enumerate() {
                assert!(
                    (yb - yf - b[(k / p) % g.o]).abs() < 1e-5,
                    "{g:?} forward bias"
                );
            }
            check_gradients(&g, false, 1);
        }
    }

    #[test]
    fn depthwise_forward_and_gradients_match_the_definition() {
        // EfficientNet's 3x3 and 5x5, strides 1 and 2, plus odd sizes and dilation.
        let shapes = [
            geometry((2, 4, 9, 9, 4), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((3, 5, 10, 10, 5), (3, 3), [2, 2], [1, 1], [1, 1]),
            geometry((2, 3, 11, 8, 3), (5, 5), [1, 1], [2, 2], [1, 1]),
            geometry((2, 3, 12, 12, 3), (5, 5), [2, 2], [2, 2], [1, 1]),
            geometry((1, 2, 9, 7, 2), (3, 3), [2, 1], [0, 2], [1, 2]),
            // Channels-last from 16 channels: 3x3 and 5x5 planes, stride 2, dilation.
            geometry((2, 16, 6, 6, 16), (3, 3), [1, 1], [1, 1], [1, 1]),
            geometry((3, 20, 3, 3, 20), (5, 5), [1, 1], [2, 2], [1, 1]),
            geometry((2, 24, 12, 11, 24), (5, 5), [2, 2], [2, 2], [1, 1]),
            geometry((1, 17, 9, 7, 17), (3, 3), [2, 1], [0, 2], [1, 2]),
        ];
        for g in shapes {
            let x = values(g.n * g.c * g.h * g.w, 3);
            let wt = values(g.c * g.kh * g.kw, 4);
            let b = values(g.c, 6);
            let y = naive(&g, &x, &wt, true);
            let fast = depthwise_forward(&g, &x, &wt, Some(&b));
            let p = g.out_h() * g.out_w();
            for (k, (want, got)) in y.iter().zip(&fast).enumerate() {
                let want = want + b[(k / p) % g.c];
                assert!(
                    (want - got).abs() < 1e-4 * want.abs().max(1.0),
                    "{g:?} forward [{k}]"
                );
            }
            check_gradients(&g, true, 5);
        }
    }
}
