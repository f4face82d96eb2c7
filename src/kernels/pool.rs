//! Max pooling (no padding, no dilation) on NCHW f32 slices, forward and backward.
//!
//! burn-flex pools through its generic 3-d kernel, a scalar walk with bounds checks on every
//! tap that also writes an i64 index per output for the backward pass: 17% of a seed-cnn-3
//! training step. Here the forward keeps no indices; the backward finds each window's maximum
//! again from the input (the same first-largest rule, so the same element receives the
//! gradient), which costs one read of an input the graph keeps anyway.

/// Sizes of one pooling: `n·c` planes of `h x w`, windows `k` apart by `stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub k: [usize; 2],
    pub stride: [usize; 2],
}

impl Window {
    /// Output height and width (floor, as burn's without `ceil_mode`); the caller checks that
    /// the window fits.
    pub fn out(&self) -> [usize; 2] {
        [
            (self.h - self.k[0]) / self.stride[0] + 1,
            (self.w - self.k[1]) / self.stride[1] + 1,
        ]
    }

    fn planes_per_task(&self) -> usize {
        (4096 / (self.h * self.w).max(1)).max(1)
    }

    /// Index within the plane of the first largest value of window `(oy, ox)`. A NaN first
    /// tap stays the maximum, as in burn's kernel.
    #[inline(always)]
    fn argmax(&self, plane: &[f32], oy: usize, ox: usize) -> usize {
        let (y0, x0) = (oy * self.stride[0], ox * self.stride[1]);
        let mut best = y0 * self.w + x0;
        let mut m = plane[best];
        for i in 0..self.k[0] {
            let row = (y0 + i) * self.w + x0;
            for (j, &v) in plane[row..row + self.k[1]].iter().enumerate() {
                if v > m {
                    m = v;
                    best = row + j;
                }
            }
        }
        best
    }
}

/// `[N, C, H, W]` -> `[N, C, OH, OW]`, each output the largest value of its window.
pub fn forward(g: &Window, x: &[f32]) -> Vec<f32> {
    let [oh, ow] = g.out();
    let plane = g.h * g.w;
    assert_eq!(x.len(), g.n * g.c * plane, "max pool input");
    let len = g.n * g.c * oh * ow;
    if len == 0 {
        return Vec::new();
    }
    super::par_output(
        len,
        oh * ow,
        g.planes_per_task(),
        || (),
        |_, i, out| {
            let xp = &x[i * plane..][..plane];
            if g.k == [2, 2] && g.stride == [2, 2] {
                forward_2x2(g.w, xp, out);
            } else {
                for oy in 0..oh {
                    for ox in 0..ow {
                        out[oy * ow + ox] = xp[g.argmax(xp, oy, ox)];
                    }
                }
            }
        },
    )
}

/// The input gradient: each output's gradient goes to its window's maximum (summed where
/// windows overlap), zero elsewhere.
pub fn backward(g: &Window, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let [oh, ow] = g.out();
    let plane = g.h * g.w;
    assert_eq!(x.len(), g.n * g.c * plane, "max pool input");
    assert_eq!(dy.len(), g.n * g.c * oh * ow, "max pool output gradient");
    if dy.is_empty() {
        return vec![0f32; x.len()];
    }
    super::par_output(
        x.len(),
        plane,
        g.planes_per_task(),
        || (),
        |_, i, dxp| {
            let (xp, dyp) = (&x[i * plane..][..plane], &dy[i * oh * ow..][..oh * ow]);
            if g.k == [2, 2] && g.stride == [2, 2] {
                backward_2x2(g.w, xp, dyp, dxp);
                return;
            }
            for oy in 0..oh {
                for ox in 0..ow {
                    dxp[g.argmax(xp, oy, ox)] += dyp[oy * ow + ox];
                }
            }
        },
    )
}

/// The first largest of four taps, in argmax's order (a NaN first tap stays the maximum): its
/// index and value.
#[inline(always)]
fn first_max(taps: [f32; 4]) -> (usize, f32) {
    let mut best = (0, taps[0]);
    for (i, &v) in taps.iter().enumerate().skip(1) {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

multiversion! {
    /// The CNNs' 2x2 pooling of one plane `w` wide: two rows in, one row out, no window
    /// bookkeeping.
    fn forward_2x2(w: usize, xp: &[f32], out: &mut [f32]) {
        let ow = w / 2;
        if ow == 0 {
            return;
        }
        for (oy, orow) in out.chunks_exact_mut(ow).enumerate() {
            let r0 = &xp[2 * oy * w..][..2 * ow];
            let r1 = &xp[(2 * oy + 1) * w..][..2 * ow];
            for ((o, a), b) in orow.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                *o = first_max([a[0], a[1], b[0], b[1]]).1;
            }
        }
    }
}

/// The 2x2 pooling's input gradient for one plane: every element of `dxp` written once, in
/// order (the window's maximum gets the output's gradient, the rest zero), so the plane needs
/// no clearing first and no scattered writes. Rows and columns no window covers (an odd size)
/// are zero.
fn backward_2x2(w: usize, xp: &[f32], dyp: &[f32], dxp: &mut [f32]) {
    let ow = w / 2;
    let oh = dyp.len().checked_div(ow).unwrap_or(0);
    for oy in 0..oh {
        let (top, bottom) = dxp[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
        let r0 = &xp[2 * oy * w..][..w];
        let r1 = &xp[(2 * oy + 1) * w..][..w];
        let grads = &dyp[oy * ow..(oy + 1) * ow];
        #[allow(unused_mut)]
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if super::has_avx2_fma() {
            // SAFETY: this CPU has AVX2; the rows are `w` long and `grads` `w / 2`.
            done = unsafe { avx2::backward_2x2_row(r0, r1, grads, top, bottom) };
        }
        backward_2x2_row(
            &r0[2 * done..],
            &r1[2 * done..],
            &grads[done..],
            &mut top[2 * done..],
            &mut bottom[2 * done..],
        );
        if w % 2 == 1 {
            top[w - 1] = 0.0;
            bottom[w - 1] = 0.0;
        }
    }
    dxp[2 * oh * w..].fill(0.0);
}

/// One row of windows of [`backward_2x2`], one window at a time.
#[inline(always)]
fn backward_2x2_row(r0: &[f32], r1: &[f32], grads: &[f32], top: &mut [f32], bottom: &mut [f32]) {
    let pairs = top.chunks_exact_mut(2).zip(bottom.chunks_exact_mut(2));
    let taps = r0.chunks_exact(2).zip(r1.chunks_exact(2));
    for (((d0, d1), (a, b)), &g) in pairs.zip(taps).zip(grads) {
        let (i, _) = first_max([a[0], a[1], b[0], b[1]]);
        d0[0] = if i == 0 { g } else { 0.0 };
        d0[1] = if i == 1 { g } else { 0.0 };
        d1[0] = if i == 2 { g } else { 0.0 };
        d1[1] = if i == 3 { g } else { 0.0 };
    }
}

/// Eight windows at a time by hand: compiled from the loop above, the index of the maximum
/// stayed scalar (8% of a seed-cnn-3 training step on a Zen 4).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// The first `8·k` windows of a row (as many as fit); returns how many it did. The same
    /// rule as [`super::first_max`]: a later tap wins only if strictly larger (an ordered
    /// comparison, so a NaN neither wins nor loses its place).
    #[target_feature(enable = "avx2")]
    pub fn backward_2x2_row(
        r0: &[f32],
        r1: &[f32],
        grads: &[f32],
        top: &mut [f32],
        bottom: &mut [f32],
    ) -> usize {
        let n = grads.len().min(r0.len() / 2).min(r1.len() / 2);
        let n = n.min(top.len() / 2).min(bottom.len() / 2) / 8 * 8;
        // Even and odd elements of 16 values, each in order.
        let split = |p: *const f32| {
            // SAFETY: the caller's index keeps p..p + 16 inside its row.
            let (lo, hi) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
            let order = |v: __m256| {
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
            };
            (order(even), order(odd))
        };
        // Writes 16 values, `even` and `odd` interleaved.
        let merge = |p: *mut f32, even: __m256, odd: __m256| {
            let (a, b) = (_mm256_unpacklo_ps(even, odd), _mm256_unpackhi_ps(even, odd));
            // SAFETY: as for `split`.
            unsafe {
                _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(a, b));
                _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(a, b));
            }
        };
        for j in (0..n).step_by(8) {
            let (t0, t1) = split(r0[2 * j..].as_ptr());
            let (t2, t3) = split(r1[2 * j..].as_ptr());
            // SAFETY: j + 8 <= n <= grads.len().
            let g = unsafe { _mm256_loadu_ps(grads.as_ptr().add(j)) };
            let c1 = _mm256_cmp_ps::<_CMP_GT_OQ>(t1, t0);
            let best = _mm256_blendv_ps(t0, t1, c1);
            let c2 = _mm256_cmp_ps::<_CMP_GT_OQ>(t2, best);
            let best = _mm256_blendv_ps(best, t2, c2);
            let c3 = _mm256_cmp_ps::<_CMP_GT_OQ>(t3, best);
            // The winner is the last tap whose comparison held.
            let later = _mm256_or_ps(c2, c3);
            let v0 = _mm256_andnot_ps(_mm256_or_ps(c1, later), g);
            let v1 = _mm256_and_ps(_mm256_andnot_ps(later, c1), g);
            let v2 = _mm256_and_ps(_mm256_andnot_ps(c3, c2), g);
            let v3 = _mm256_and_ps(c3, g);
            merge(top[2 * j..].as_mut_ptr(), v0, v1);
            merge(bottom[2 * j..].as_mut_ptr(), v2, v3);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_picks_the_first_largest_and_routes_gradients_there() {
        let g = Window {
            n: 1,
            c: 1,
            h: 2,
            w: 5,
            k: [2, 2],
            stride: [2, 2],
        };
        #[rustfmt::skip]
        let x = [
            1.0, 3.0, -1.0, -2.0, 9.0,
            3.0, 0.0, -3.0, -1.0, 9.0,
        ];
        assert_eq!(forward(&g, &x), vec![3.0, -1.0]);
        let dx = backward(&g, &x, &[10.0, 20.0]);
        #[rustfmt::skip]
        let expect = [
            0.0, 10.0, 20.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(dx, expect);
        // The general path picks the same elements.
        let general = Window {
            k: [2, 1],
            stride: [2, 1],
            ..g
        };
        assert_eq!(forward(&general, &x), vec![3.0, 3.0, -1.0, -1.0, 9.0]);

        // An odd height: the last row belongs to no window and gets no gradient; ties go to the
        // first tap.
        let g = Window { h: 3, w: 4, ..g };
        #[rustfmt::skip]
        let x = [
            2.0, 2.0, 0.0, 1.0,
            2.0, 1.0, 5.0, 1.0,
            9.0, 9.0, 9.0, 9.0,
        ];
        assert_eq!(forward(&g, &x), vec![2.0, 5.0]);
        #[rustfmt::skip]
        let expect = [
            1.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 2.0, 0.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(backward(&g, &x, &[1.0, 2.0]), expect);
    }

    /// Wide rows take the eight-window path: it must pick what the general loop picks, ties,
    /// NaNs and signed zeros included, and leave odd edges at zero.
    #[test]
    fn wide_rows_route_gradients_as_the_general_loop() {
        for (h, w) in [(4, 40), (5, 35), (2, 16), (3, 17)] {
            let g = Window {
                n: 1,
                c: 1,
                h,
                w,
                k: [2, 2],
                stride: [2, 2],
            };
            // Few distinct values, so windows have ties; a NaN and signed zeros here and there.
            let mut x: Vec<f32> = crate::kernels::test_values(h * w, w as u32, -2.0, 2.0)
                .iter()
                .map(|v| (v * 2.0).round() / 2.0)
                .collect();
            x[3] = f32::NAN;
            x[w + 6] = f32::NAN;
            x[9] = -0.0;
            x[10] = 0.0;
            let [oh, ow] = g.out();
            let dy: Vec<f32> = (0..oh * ow).map(|i| i as f32 + 1.0).collect();
            let mut want = vec![0f32; h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    want[g.argmax(&x, oy, ox)] += dy[oy * ow + ox];
                }
            }
            assert_eq!(backward(&g, &x, &dy), want, "{h}x{w}");
        }
    }

    #[test]
    fn overlapping_windows_add_their_gradients() {
        let g = Window {
            n: 1,
            c: 1,
            h: 1,
            w: 4,
            k: [1, 3],
            stride: [1, 1],
        };
        let x = [0.0, 5.0, 1.0, 2.0];
        assert_eq!(forward(&g, &x), vec![5.0, 5.0]);
        assert_eq!(backward(&g, &x, &[1.0, 2.0]), vec![0.0, 3.0, 0.0, 0.0]);
    }
}
