//! BatchNorm and the activation after it as one pass over NCHW f32 slices, forward and backward.
//!
//! Composed from burn's tensor ops, a training BatchNorm + ReLU is about ten elementwise passes
//! forward and as many backward, each allocating a full activation-sized tensor; on two cores
//! those passes were about an eighth of a seed-cnn-3 step. Here the forward reads the input
//! three times (mean, variance, output) and writes once; the backward reads twice and writes
//! once. Statistics are per channel over the batch and the plane, biased variance, as burn's.

use rayon::prelude::*;

/// The activation fused after a BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    /// `min(max(x, 0), 6)`, MobileNet's and EfficientNet-Lite's.
    Relu6,
}

/// An activation as a type, so each kernel is compiled once per activation with the choice
/// outside its loops (a `match` per element kept them from vectorising, and a whole training
/// step ran 18% slower than with burn's composed ops).
trait Act: Copy + Send + Sync {
    const KIND: Activation;
    fn apply(v: f32) -> f32;
    /// The output gradient where the output `y` has slope one, else zero (a clipped output
    /// has zero slope, as in burn's ReLU backward).
    fn pass(y: f32, dy: f32) -> f32;
}

#[derive(Clone, Copy)]
struct Identity;
#[derive(Clone, Copy)]
struct Relu;
#[derive(Clone, Copy)]
struct Relu6;

impl Act for Identity {
    const KIND: Activation = Activation::Identity;
    #[inline(always)]
    fn apply(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn pass(_: f32, dy: f32) -> f32 {
        dy
    }
}

/// `v` where `keep`, else 0.0, as a bit mask: a branch here kept the masked sums from
/// vectorising.
#[inline(always)]
fn keep_if(keep: bool, v: f32) -> f32 {
    f32::from_bits(v.to_bits() & (keep as u32).wrapping_neg())
}

impl Act for Relu {
    const KIND: Activation = Activation::Relu;
    #[inline(always)]
    fn apply(v: f32) -> f32 {
        if v > 0.0 { v } else { 0.0 }
    }
    #[inline(always)]
    fn pass(y: f32, dy: f32) -> f32 {
        keep_if(y > 0.0, dy)
    }
}

impl Act for Relu6 {
    const KIND: Activation = Activation::Relu6;
    #[inline(always)]
    fn apply(v: f32) -> f32 {
        let v = if v > 0.0 { v } else { 0.0 };
        if v < 6.0 { v } else { 6.0 }
    }
    #[inline(always)]
    fn pass(y: f32, dy: f32) -> f32 {
        keep_if((y > 0.0) & (y < 6.0), dy)
    }
}

/// Calls `$f::<A>(args)` with the activation type matching `$act`.
macro_rules! with_act {
    ($act:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $act {
            Activation::Identity => $f::<Identity>($($arg),*),
            Activation::Relu => $f::<Relu>($($arg),*),
            Activation::Relu6 => $f::<Relu6>($($arg),*),
        }
    };
}

/// An NCHW tensor seen as `n·c` planes of `hw` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planes {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Planes {
    fn len(&self) -> usize {
        self.n * self.c * self.hw
    }

    /// Values per channel: the count the statistics average over.
    fn per_channel(&self) -> f32 {
        (self.n * self.hw) as f32
    }

    /// The `n` planes of channel `c`.
    fn rows<'a>(&self, v: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        let s = *self;
        (0..s.n).map(move |n| &v[(n * s.c + c) * s.hw..][..s.hw])
    }

    /// Plane `(n, c)`.
    fn plane<'a>(&self, v: &'a [f32], n: usize, c: usize) -> &'a [f32] {
        &v[(n * self.c + c) * self.hw..][..self.hw]
    }

    /// Planes small enough that per-channel sums go image by image ([`sums_by_image`]).
    fn small(&self) -> bool {
        self.hw < SMALL_PLANE
    }

    /// Enough planes per rayon task that a task is worth scheduling when planes are tiny
    /// (EfficientNet's last stages are 3x3).
    fn min_planes_per_task(&self) -> usize {
        (4096 / self.hw.max(1)).max(1)
    }
}

const LANES: usize = 16;

/// Below this many values a plane, per-channel sums run image by image. EfficientNet's late
/// stages are 6x6 and 3x3 with up to 1,920 channels: a task per channel then jumps through the
/// batch for 9-36 values at a time and pays a horizontal sum per plane (the backward's masked
/// sums alone were 11% of an EfficientNet-Lite0 training step on a Zen 4).
const SMALL_PLANE: usize = 64;

/// Two sums per channel over the whole batch, `f(c, n)` giving plane `(n, c)`'s share; tasks
/// take runs of whole images (contiguous in NCHW) and keep one accumulator per channel.
fn sums_by_image(s: Planes, f: impl Fn(usize, usize) -> [f64; 2] + Sync) -> Vec<[f64; 2]> {
    let per = s.n.div_ceil(rayon::current_num_threads().max(1)).max(1);
    (0..s.n.div_ceil(per))
        .into_par_iter()
        .map(|t| {
            let mut acc = vec![[0f64; 2]; s.c];
            for n in t * per..((t + 1) * per).min(s.n) {
                for (c, a) in acc.iter_mut().enumerate() {
                    let [u, v] = f(c, n);
                    a[0] += u;
                    a[1] += v;
                }
            }
            acc
        })
        .collect::<Vec<_>>()
        .into_iter()
        // In task order, so a run's figures do not depend on how rayon split the work.
        .reduce(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                x[0] += y[0];
                x[1] += y[1];
            }
            a
        })
        .unwrap_or_else(|| vec![[0f64; 2]; s.c])
}

/// `Σ f(v)` over one row, in 16-lane f32 partial sums so the loop vectorises; a row is at
/// most a plane, so the f32 partials lose nothing that matters before the f64 total.
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    let mut acc = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        let chunk: &[f32; LANES] = chunk.try_into().expect("chunk");
        for l in 0..LANES {
            acc[l] += f(chunk[l]);
        }
    }
    acc.iter().map(|&v| v as f64).sum::<f64>() + tail as f64
}

multiversion! {
    /// `Σ v` over one row.
    fn row_sum(row: &[f32]) -> f64 {
        lane_sum(row, |v| v)
    }
}

multiversion! {
    /// `Σ (v - mean)²` over one row.
    fn row_sq_dev(row: &[f32], mean: f32) -> f64 {
        lane_sum(row, |v| (v - mean) * (v - mean))
    }
}

/// Per-channel batch mean and biased variance (two passes, as burn computes them).
pub fn channel_stats(s: Planes, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(x.len(), s.len(), "batch norm input");
    let m = s.per_channel() as f64;
    if s.small() {
        let sums = sums_by_image(s, |c, n| [row_sum(s.plane(x, n, c)), 0.0]);
        let mean: Vec<f32> = sums.iter().map(|v| (v[0] / m) as f32).collect();
        let sq = sums_by_image(s, |c, n| [row_sq_dev(s.plane(x, n, c), mean[c]), 0.0]);
        let var = sq.iter().map(|v| (v[0] / m) as f32).collect();
        return (mean, var);
    }
    (0..s.c)
        .into_par_iter()
        .map(|c| {
            let sum: f64 = s.rows(x, c).map(row_sum).sum();
            let mean = (sum / m) as f32;
            let sq: f64 = s.rows(x, c).map(|r| row_sq_dev(r, mean)).sum();
            (mean, (sq / m) as f32)
        })
        .unzip()
}

/// `act((x - mean[c]) · scale[c] + shift[c])` for every value: the output pass of both the
/// training forward (batch statistics) and inference (running statistics, `mean` zero).
pub fn normalize(
    s: Planes,
    x: &[f32],
    mean: &[f32],
    scale: &[f32],
    shift: &[f32],
    act: Activation,
) -> Vec<f32> {
    assert_eq!(x.len(), s.len(), "batch norm input");
    with_act!(act, normalize_with(s, x, mean, scale, shift))
}

fn normalize_with<A: Act>(
    s: Planes,
    x: &[f32],
    mean: &[f32],
    scale: &[f32],
    shift: &[f32],
) -> Vec<f32> {
    let hw = s.hw.max(1);
    super::par_output(
        x.len(),
        hw,
        s.min_planes_per_task(),
        || (),
        |_, p, out| {
            let c = p % s.c;
            let row = &x[p * hw..][..out.len()];
            normalize_row::<A>(out, row, mean[c], scale[c], shift[c]);
        },
    )
}

multiversion! {
    fn normalize_row<A: Act>(out: &mut [f32], row: &[f32], m: f32, a: f32, b: f32) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o = A::apply((v - m) * a + b);
        }
    }
}

/// Training forward: `(output, batch mean, biased batch variance)`.
pub fn train_forward(
    s: Planes,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f32,
    act: Activation,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (mean, var) = channel_stats(s, x);
    let scale: Vec<f32> = gamma
        .iter()
        .zip(&var)
        .map(|(&g, &v)| g / (v + epsilon).sqrt())
        .collect();
    let y = normalize(s, x, &mean, &scale, beta, act);
    (y, mean, var)
}

/// Gradients of [`train_forward`]: `(dx, dgamma, dbeta)` from the input, the output (for the
/// activation's mask), the output gradient and the batch statistics.
///
/// With `g` the output gradient masked by the activation, `x̂ = (x - mean)/σ` and `M` values per
/// channel: `dbeta = Σg`, `dgamma = Σ g·x̂`, `dx = γ/σ · (g - dbeta/M - x̂·dgamma/M)`.
#[allow(clippy::too_many_arguments)]
pub fn train_backward(
    s: Planes,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    mean: &[f32],
    var: &[f32],
    gamma: &[f32],
    epsilon: f32,
    act: Activation,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    assert!(
        x.len() == s.len() && y.len() == s.len() && dy.len() == s.len(),
        "batch norm backward shapes"
    );
    with_act!(act, backward_with(s, x, y, dy, mean, var, gamma, epsilon))
}

#[allow(clippy::too_many_arguments)]
fn backward_with<A: Act>(
    s: Planes,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    mean: &[f32],
    var: &[f32],
    gamma: &[f32],
    epsilon: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = if s.small() {
        let sums = sums_by_image(s, |c, n| {
            let (g, gx) = masked_sums_body::<A>(
                s.plane(x, n, c),
                s.plane(y, n, c),
                s.plane(dy, n, c),
                mean[c],
            );
            [g, gx]
        });
        sums.iter()
            .enumerate()
            .map(|(c, v)| ((v[1] as f32) / (var[c] + epsilon).sqrt(), v[0] as f32))
            .unzip()
    } else {
        (0..s.c)
            .into_par_iter()
            .map(|c| {
                let inv_std = 1.0 / (var[c] + epsilon).sqrt();
                let m = mean[c];
                let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                for ((xr, yr), dr) in s.rows(x, c).zip(s.rows(y, c)).zip(s.rows(dy, c)) {
                    // Masked gradients of this row, then both sums in one vectorised pass.
                    let (g, gx) = masked_sums::<A>(xr, yr, dr, m);
                    sum_g += g;
                    sum_gx += gx;
                }
                ((sum_gx as f32) * inv_std, sum_g as f32)
            })
            .unzip()
    };

    let count = s.per_channel();
    let hw = s.hw.max(1);
    let dx = super::par_output(
        x.len(),
        hw,
        s.min_planes_per_task(),
        || (),
        |_, p, out| {
            let at = p * hw..p * hw + out.len();
            let (xr, yr, dr) = (&x[at.clone()], &y[at.clone()], &dy[at]);
            let c = p % s.c;
            let inv_std = 1.0 / (var[c] + epsilon).sqrt();
            let a = gamma[c] * inv_std;
            let shift = -a * dbeta[c] / count;
            let slope = -a * inv_std * dgamma[c] / count;
            backward_row::<A>(out, xr, yr, dr, mean[c], a, shift, slope);
        },
    );
    (dx, dgamma, dbeta)
}

multiversion! {
    /// `dx = a·g + shift + slope·(x - m)` over one row, `g` the masked output gradient.
    fn backward_row<A: Act>(
        out: &mut [f32],
        x: &[f32],
        y: &[f32],
        dy: &[f32],
        m: f32,
        a: f32,
        shift: f32,
        slope: f32,
    ) {
        for (((o, &xv), &yv), &dv) in out.iter_mut().zip(x).zip(y).zip(dy) {
            *o = a * A::pass(yv, dv) + shift + slope * (xv - m);
        }
    }
}

/// `(Σ g, Σ g·(x - m))` over one row, `g` the masked output gradient.
fn masked_sums<A: Act>(x: &[f32], y: &[f32], dy: &[f32], m: f32) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if super::has_avx2_fma() {
        // SAFETY: this CPU has the features the function is compiled for.
        return unsafe { avx2::masked_sums::<A>(x, y, dy, m) };
    }
    masked_sums_body::<A>(x, y, dy, m)
}

/// The masked sums by hand: compiled from the portable loop, the masks came out as scalar
/// code with spills (12% of a seed-cnn-3 step on their own).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Act, Activation};
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f64 {
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
        lanes.iter().map(|&l| l as f64).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn masked_sums<A: Act>(x: &[f32], y: &[f32], dy: &[f32], m: f32) -> (f64, f64) {
        let n = x.len().min(y.len()).min(dy.len());
        let full = n / 8 * 8;
        let (zero, six, mv) = (_mm256_setzero_ps(), _mm256_set1_ps(6.0), _mm256_set1_ps(m));
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..full).step_by(8) {
            // SAFETY: i + 8 <= n, within all three slices.
            let (xv, yv, dv) = unsafe {
                (
                    _mm256_loadu_ps(x.as_ptr().add(i)),
                    _mm256_loadu_ps(y.as_ptr().add(i)),
                    _mm256_loadu_ps(dy.as_ptr().add(i)),
                )
            };
            let g = match A::KIND {
                Activation::Identity => dv,
                Activation::Relu => _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(yv, zero), dv),
                Activation::Relu6 => {
                    let inside = _mm256_and_ps(
                        _mm256_cmp_ps::<_CMP_GT_OQ>(yv, zero),
                        _mm256_cmp_ps::<_CMP_LT_OQ>(yv, six),
                    );
                    _mm256_and_ps(inside, dv)
                }
            };
            s0 = _mm256_add_ps(s0, g);
            s1 = _mm256_fmadd_ps(g, _mm256_sub_ps(xv, mv), s1);
        }
        let (mut t0, mut t1) = (hsum(s0), hsum(s1));
        for i in full..n {
            let g = A::pass(y[i], dy[i]);
            t0 += g as f64;
            t1 += (g * (x[i] - m)) as f64;
        }
        (t0, t1)
    }
}

#[inline(always)]
fn masked_sums_body<A: Act>(x: &[f32], y: &[f32], dy: &[f32], m: f32) -> (f64, f64) {
    let (mut s0, mut s1) = ([0f32; LANES], [0f32; LANES]);
    let (cx, cy, cd) = (
        x.chunks_exact(LANES),
        y.chunks_exact(LANES),
        dy.chunks_exact(LANES),
    );
    let (rx, ry, rd) = (cx.remainder(), cy.remainder(), cd.remainder());
    for ((xc, yc), dc) in cx.zip(cy).zip(cd) {
        let xc: &[f32; LANES] = xc.try_into().expect("chunk");
        let yc: &[f32; LANES] = yc.try_into().expect("chunk");
        let dc: &[f32; LANES] = dc.try_into().expect("chunk");
        for l in 0..LANES {
            let g = A::pass(yc[l], dc[l]);
            s0[l] += g;
            s1[l] += g * (xc[l] - m);
        }
    }
    let (mut t0, mut t1) = (0f32, 0f32);
    for ((&xv, &yv), &dv) in rx.iter().zip(ry).zip(rd) {
        let g = A::pass(yv, dv);
        t0 += g;
        t1 += g * (xv - m);
    }
    let total = |s: [f32; LANES], t: f32| s.iter().map(|&v| v as f64).sum::<f64>() + t as f64;
    (total(s0, t0), total(s1, t1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        crate::kernels::test_values(len, seed, -1.5, 2.5)
    }

    /// The loss `Σ y·w` for fixed weights `w`, in f64.
    fn loss(s: Planes, x: &[f32], gamma: &[f32], beta: &[f32], act: Activation, w: &[f32]) -> f64 {
        let (y, _, _) = train_forward(s, x, gamma, beta, 1e-3, act);
        y.iter().zip(w).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    #[test]
    fn forward_normalises_each_channel() {
        // Both ways of summing: image by image (small planes) and channel by channel.
        for hw in [37, SMALL_PLANE + 6] {
            forward_normalises(Planes { n: 3, c: 2, hw });
        }
    }

    fn forward_normalises(s: Planes) {
        let x = values(s.len(), 1);
        let (y, mean, var) =
            train_forward(s, &x, &[1.0, 2.0], &[0.0, 0.5], 0.0, Activation::Identity);
        for c in 0..2 {
            let vals: Vec<f64> = s.rows(&x, c).flatten().map(|&v| v as f64).collect();
            let mu = vals.iter().sum::<f64>() / vals.len() as f64;
            let v = vals.iter().map(|a| (a - mu).powi(2)).sum::<f64>() / vals.len() as f64;
            assert!((mean[c] as f64 - mu).abs() < 1e-6, "mean {c}");
            assert!((var[c] as f64 - v).abs() < 1e-5, "var {c}");
            let out: Vec<f32> = s.rows(&y, c).flatten().copied().collect();
            let omean = out.iter().map(|&a| a as f64).sum::<f64>() / out.len() as f64;
            let ovar =
                out.iter().map(|&a| (a as f64 - omean).powi(2)).sum::<f64>() / out.len() as f64;
            assert!(
                (omean - [0.0, 0.5][c]).abs() < 1e-5,
                "output mean {c}: {omean}"
            );
            assert!(
                (ovar - [1.0, 4.0][c]).abs() < 1e-4,
                "output var {c}: {ovar}"
            );
        }
    }

    /// Every gradient against central differences of the loss, for each activation.
    #[test]
    fn backward_matches_finite_differences() {
        for hw in [21, SMALL_PLANE + 1] {
            backward_matches(Planes { n: 2, c: 3, hw });
        }
    }

    fn backward_matches(s: Planes) {
        let x = values(s.len(), 2);
        let gamma = [0.7f32, 1.3, -0.4];
        let beta = [0.1f32, -0.2, 0.3];
        let w = values(s.len(), 3);
        for act in [Activation::Identity, Activation::Relu, Activation::Relu6] {
            // Scaled so that ReLU6 clips some outputs at 6 as well as at 0.
            let beta_act: Vec<f32> = beta.iter().map(|b| b * 20.0).collect();
            let beta = if act == Activation::Relu6 {
                &beta_act[..]
            } else {
                &beta[..]
            };
            let gamma: Vec<f32> = gamma
                .iter()
                .map(|g| {
                    if act == Activation::Relu6 {
                        g * 8.0
                    } else {
                        *g
                    }
                })
                .collect();
            let (y, mean, var) = train_forward(s, &x, &gamma, beta, 1e-3, act);
            let (dx, dgamma, dbeta) = train_backward(s, &x, &y, &w, &mean, &var, &gamma, 1e-3, act);
            let h = 1e-2f32;
            let numeric = |f: &dyn Fn(f32) -> f64| (f(h) - f(-h)) / (2.0 * h as f64);
            for i in (0..s.len()).step_by(7) {
                // A central difference across the activation's kink measures neither side.
                let c = (i / s.hw) % s.c;
                let z = gamma[c] * (x[i] - mean[c]) / (var[c] + 1e-3).sqrt() + beta[c];
                let near_kink =
                    act != Activation::Identity && (z.abs() < 0.5 || (z - 6.0).abs() < 0.5);
                if near_kink {
                    continue;
                }
                let d = numeric(&|e| {
                    let mut xe = x.clone();
                    xe[i] += e;
                    loss(s, &xe, &gamma, beta, act, &w)
                });
                assert!(
                    (d - dx[i] as f64).abs() < 2e-2 * (1.0 + d.abs()),
                    "{s:?} {act:?} dx[{i}]: {d} vs {}",
                    dx[i]
                );
            }
            for c in 0..s.c {
                let dg = numeric(&|e| {
                    let mut ge = gamma.clone();
                    ge[c] += e;
                    loss(s, &x, &ge, beta, act, &w)
                });
                let db = numeric(&|e| {
                    let mut be = beta.to_vec();
                    be[c] += e;
                    loss(s, &x, &gamma, &be, act, &w)
                });
                assert!(
                    (dg - dgamma[c] as f64).abs() < 2e-2 * (1.0 + dg.abs()),
                    "{act:?} dgamma[{c}]: {dg} vs {}",
                    dgamma[c]
                );
                assert!(
                    (db - dbeta[c] as f64).abs() < 2e-2 * (1.0 + db.abs()),
                    "{act:?} dbeta[{c}]: {db} vs {}",
                    dbeta[c]
                );
            }
        }
    }

    #[test]
    fn relu6_clips_both_ends() {
        let s = Planes { n: 1, c: 1, hw: 3 };
        let y = normalize(
            s,
            &[-1.0, 3.0, 9.0],
            &[0.0],
            &[1.0],
            &[0.0],
            Activation::Relu6,
        );
        assert_eq!(y, vec![0.0, 3.0, 6.0]);
    }
}
