//! Depthwise convolutions (one group, one output per channel) and their gradients as direct
//! loops: plane by plane below 16 channels, channels-last above.

use super::*;
use crate::kernels::par_output;

/// One row of taps of a depthwise kernel: kernel entry `k` (`i·KW + j`) reads input row `y`
/// into output row `oy`, over output columns `cols`, starting at input column `first`.
#[derive(Debug, Clone)]
struct Tap {
    k: usize,
    oy: usize,
    y: usize,
    cols: std::ops::Range<usize>,
    first: usize,
}

/// Every tap row of a plane whose input row lies inside the image: the same for every plane,
/// so it is worked out once per call (the plane loops then stay closure-free, which keeps
/// them inside the AVX2 copies).
fn depthwise_taps(g: &Geometry) -> Vec<Tap> {
    let mut taps = Vec::new();
    for i in 0..g.kh {
        for j in 0..g.kw {
            let x0 = (j * g.dilation[1]) as isize - g.pad[1] as isize;
            let cols = valid_cols(g, x0);
            if cols.is_empty() {
                continue;
            }
            let first = (x0 + (cols.start * g.stride[1]) as isize) as usize;
            for oy in 0..g.out_h() {
                let y = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.pad[0] as isize;
                if y >= 0 && y < g.h as isize {
                    let (k, y, cols) = (i * g.kw + j, y as usize, cols.clone());
                    taps.push(Tap {
                        k,
                        oy,
                        y,
                        cols,
                        first,
                    });
                }
            }
        }
    }
    taps
}

multiversion! {
    /// One `(image, channel)` plane of a depthwise convolution: `yp = bias + Σ w · x`.
    fn depthwise_forward_plane(
        g: &Geometry,
        taps: &[Tap],
        wc: &[f32],
        bias: f32,
        xp: &[f32],
        yp: &mut [f32],
    ) {
        let ow = g.out_w();
        yp.fill(bias);
        for t in taps {
            let out = &mut yp[t.oy * ow..(t.oy + 1) * ow][t.cols.clone()];
            let row = &xp[t.y * g.w..(t.y + 1) * g.w];
            gather_axpy(out, wc[t.k], row, t.first, g.stride[1]);
        }
    }
}

/// From this many channels on, depthwise convolutions run channels-last: one image per task,
/// transposed to `[H, W, C]`, so every tap is one contiguous multiply-add across the channels.
/// Plane by plane (below), EfficientNet's late stages (3x3 to 12x12 planes, up to 1,152
/// channels) spent their time in per-row overheads of 3-12 values.
const CHANNELS_LAST_FROM: usize = 16;

/// `dst[p·C + c] = src[c·P + p]` for `[C, P]` -> `[P, C]` (and back with the sizes swapped).
/// The scalar loop was half of the channels-last passes' time (a load, a store and two bounds
/// checks per value); AVX2 moves 8x8 blocks through registers.
fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    assert!(
        src.len() >= rows * cols && dst.len() >= rows * cols,
        "transpose sizes"
    );
    #[cfg(target_arch = "x86_64")]
    if crate::kernels::has_avx2_fma() {
        // SAFETY: this CPU has AVX2; both slices hold `rows · cols` values (checked above).
        unsafe { avx2::transpose(src, dst, rows, cols) };
        return;
    }
    transpose_block(src, dst, rows, cols, 0..rows, 0..cols);
}

/// The scalar transpose of `src`'s rows `rs` and columns `cs` (the AVX2 version's edges).
#[inline(always)]
fn transpose_block(
    src: &[f32],
    dst: &mut [f32],
    rows: usize,
    cols: usize,
    rs: std::ops::Range<usize>,
    cs: std::ops::Range<usize>,
) {
    // Blocks of 8 rows keep the strided writes within a few cache lines.
    for r0 in rs.clone().step_by(8) {
        let r1 = (r0 + 8).min(rs.end);
        for col in cs.clone() {
            for r in r0..r1 {
                dst[col * rows + r] = src[r * cols + col];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// [`super::Grouped::dot_into`] with fused multiply-adds: the portable loop compiles to a
    /// multiply and an add per value (Rust does not contract them), and that loop was most of
    /// the depthwise passes' arithmetic time.
    #[target_feature(enable = "avx2,fma")]
    pub fn dot_into(pairs: &[(usize, usize)], out: &mut [f32], p: &[f32], q: &[f32]) {
        let c = out.len();
        let mut c0 = 0;
        while c0 + 32 <= c {
            let mut acc = [_mm256_setzero_ps(); 4];
            for &(a, b) in pairs {
                let (pa, qb) = (&p[a * c + c0..][..32], &q[b * c + c0..][..32]);
                for (l, s) in acc.iter_mut().enumerate() {
                    // SAFETY: both slices hold 32 values, so lanes 8l..8l + 8 are inside.
                    *s = unsafe {
                        _mm256_fmadd_ps(
                            _mm256_loadu_ps(pa.as_ptr().add(8 * l)),
                            _mm256_loadu_ps(qb.as_ptr().add(8 * l)),
                            *s,
                        )
                    };
                }
            }
            add_lanes(&mut out[c0..c0 + 32], &acc);
            c0 += 32;
        }
        while c0 + 8 <= c {
            let mut acc = [_mm256_setzero_ps()];
            for &(a, b) in pairs {
                let (pa, qb) = (&p[a * c + c0..][..8], &q[b * c + c0..][..8]);
                // SAFETY: both slices hold 8 values.
                acc[0] = unsafe {
                    _mm256_fmadd_ps(
                        _mm256_loadu_ps(pa.as_ptr()),
                        _mm256_loadu_ps(qb.as_ptr()),
                        acc[0],
                    )
                };
            }
            add_lanes(&mut out[c0..c0 + 8], &acc);
            c0 += 8;
        }
        for (ch, o) in out.iter_mut().enumerate().skip(c0) {
            *o += pairs
                .iter()
                .map(|&(a, b)| p[a * c + ch] * q[b * c + ch])
                .sum::<f32>();
        }
    }

    /// `out[8l + i] += acc[l][i]`; `out` holds `8 · acc.len()` values.
    #[target_feature(enable = "avx2,fma")]
    fn add_lanes(out: &mut [f32], acc: &[__m256]) {
        assert_eq!(out.len(), 8 * acc.len(), "lanes");
        for (l, &v) in acc.iter().enumerate() {
            // SAFETY: lanes 8l..8l + 8 lie inside `out` (asserted above).
            unsafe {
                let at = out.as_mut_ptr().add(8 * l);
                _mm256_storeu_ps(at, _mm256_add_ps(_mm256_loadu_ps(at), v));
            }
        }
    }

    /// [`super::transpose`] in 8x8 register blocks, the ragged edges scalar.
    ///
    /// # Safety
    /// Both slices hold at least `rows · cols` values.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        for r0 in (0..r8).step_by(8) {
            for c0 in (0..c8).step_by(8) {
                // SAFETY: rows r0..r0 + 8 and columns c0..c0 + 8 lie inside both matrices.
                unsafe {
                    let at = |i: usize| _mm256_loadu_ps(s.add((r0 + i) * cols + c0));
                    let (a0, a1, a2, a3) = (at(0), at(1), at(2), at(3));
                    let (a4, a5, a6, a7) = (at(4), at(5), at(6), at(7));
                    let (t0, t1) = (_mm256_unpacklo_ps(a0, a1), _mm256_unpackhi_ps(a0, a1));
                    let (t2, t3) = (_mm256_unpacklo_ps(a2, a3), _mm256_unpackhi_ps(a2, a3));
                    let (t4, t5) = (_mm256_unpacklo_ps(a4, a5), _mm256_unpackhi_ps(a4, a5));
                    let (t6, t7) = (_mm256_unpacklo_ps(a6, a7), _mm256_unpackhi_ps(a6, a7));
                    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                    let put =
                        |j: usize, v: __m256| _mm256_storeu_ps(d.add((c0 + j) * rows + r0), v);
                    put(0, _mm256_permute2f128_ps::<0x20>(u0, u4));
                    put(1, _mm256_permute2f128_ps::<0x20>(u1, u5));
                    put(2, _mm256_permute2f128_ps::<0x20>(u2, u6));
                    put(3, _mm256_permute2f128_ps::<0x20>(u3, u7));
                    put(4, _mm256_permute2f128_ps::<0x31>(u0, u4));
                    put(5, _mm256_permute2f128_ps::<0x31>(u1, u5));
                    put(6, _mm256_permute2f128_ps::<0x31>(u2, u6));
                    put(7, _mm256_permute2f128_ps::<0x31>(u3, u7));
                }
            }
        }
        super::transpose_block(src, dst, rows, cols, 0..r8, c8..cols);
        super::transpose_block(src, dst, rows, cols, r8..rows, 0..cols);
    }
}

/// Every `(output pixel, kernel entry, input pixel)` the convolution links, as flat indices:
/// pixels `oy·OW + ox` and `y·W + x`, entry `i·KW + j`.
fn channels_last_links(g: &Geometry) -> Vec<(usize, usize, usize)> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let mut links = Vec::with_capacity(oh * ow * g.kh * g.kw);
    for oy in 0..oh {
        for ox in 0..ow {
            for i in 0..g.kh {
                let y = (oy * g.stride[0] + i * g.dilation[0]) as isize - g.pad[0] as isize;
                if y < 0 || y >= g.h as isize {
                    continue;
                }
                for j in 0..g.kw {
                    let x = (ox * g.stride[1] + j * g.dilation[1]) as isize - g.pad[1] as isize;
                    if x >= 0 && x < g.w as isize {
                        links.push((oy * ow + ox, i * g.kw + j, y as usize * g.w + x as usize));
                    }
                }
            }
        }
    }
    links
}

/// The links grouped by what one pass writes (an output pixel, an input pixel or a kernel
/// entry), each as the pair of rows it multiplies: group `j` is `pairs[starts[j]..starts[j + 1]]`.
/// A pass then sums a whole group into registers and writes each value once; a multiply-add
/// per link through memory (the first channels-last version) read and wrote its destination
/// row 9-25 times and made these loops a quarter of an EfficientNet training step.
struct Grouped {
    starts: Vec<usize>,
    pairs: Vec<(usize, usize)>,
}

impl Grouped {
    /// `key` maps a link to its group (below `groups`) and its pair.
    fn new(
        links: &[(usize, usize, usize)],
        groups: usize,
        key: impl Fn(usize, usize, usize) -> (usize, (usize, usize)),
    ) -> Self {
        let mut starts = vec![0usize; groups + 1];
        for &(o, k, i) in links {
            starts[key(o, k, i).0 + 1] += 1;
        }
        for j in 0..groups {
            starts[j + 1] += starts[j];
        }
        let mut next = starts.clone();
        let mut pairs = vec![(0, 0); links.len()];
        for &(o, k, i) in links {
            let (j, pair) = key(o, k, i);
            pairs[next[j]] = pair;
            next[j] += 1;
        }
        Grouped { starts, pairs }
    }

    fn group(&self, j: usize) -> &[(usize, usize)] {
        &self.pairs[self.starts[j]..self.starts[j + 1]]
    }

    /// `out[c] += Σ_(a, b) p[a·C + c] · q[b·C + c]` over group `j`, for each of the `out.len()`
    /// channels of rows `C` long.
    #[inline(always)]
    fn dot_into(&self, j: usize, out: &mut [f32], p: &[f32], q: &[f32]) {
        let (pairs, c) = (self.group(j), out.len());
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::has_avx2_fma() {
            // SAFETY: this CPU has AVX2 and FMA.
            unsafe { avx2::dot_into(pairs, out, p, q) };
            return;
        }
        let mut c0 = 0;
        c0 += block::<32>(pairs, &mut out[c0..], p, q, c, c0);
        c0 += block::<8>(pairs, &mut out[c0..], p, q, c, c0);
        for (ch, o) in out.iter_mut().enumerate().skip(c0) {
            *o += pairs
                .iter()
                .map(|&(a, b)| p[a * c + ch] * q[b * c + ch])
                .sum::<f32>();
        }
    }
}

/// [`Grouped::dot_into`] for channels `c0..` in blocks of `B` held in registers (32: four
/// independent AVX2 accumulators); returns how many channels it covered.
#[inline(always)]
fn block<const B: usize>(
    pairs: &[(usize, usize)],
    out: &mut [f32],
    p: &[f32],
    q: &[f32],
    c: usize,
    c0: usize,
) -> usize {
    let mut done = 0;
    for dst in out.chunks_exact_mut(B) {
        let at = c0 + done;
        let mut acc = [0f32; B];
        for &(a, b) in pairs {
            let pa: &[f32; B] = p[a * c + at..][..B].try_into().expect("block");
            let qb: &[f32; B] = q[b * c + at..][..B].try_into().expect("block");
            for l in 0..B {
                acc[l] += pa[l] * qb[l];
            }
        }
        for (d, a) in dst.iter_mut().zip(acc) {
            *d += a;
        }
        done += B;
    }
    done
}

/// Scratch for one image channels-last: input and output, `[pixels, C]` each.
struct ChannelsLast {
    x: Vec<f32>,
    y: Vec<f32>,
}

impl ChannelsLast {
    fn new(g: &Geometry) -> Self {
        ChannelsLast {
            x: vec![0f32; g.h * g.w * g.c],
            y: vec![0f32; g.out_h() * g.out_w() * g.c],
        }
    }
}

multiversion! {
    /// Forward pass of one image: `yi` `[C, OH, OW]` from `xi` `[C, H, W]`; `wt` is the weight
    /// `[KH·KW, C]`, `bias` one per channel; `by_out` pairs `(entry, input pixel)`.
    fn dw_cl_forward(
        g: &Geometry,
        by_out: &Grouped,
        wt: &[f32],
        bias: &[f32],
        xi: &[f32],
        yi: &mut [f32],
        t: &mut ChannelsLast,
    ) {
        let (c, p, op) = (g.c, g.h * g.w, g.out_h() * g.out_w());
        transpose(xi, &mut t.x, c, p);
        for (o, out) in t.y.chunks_exact_mut(c).enumerate() {
            out.copy_from_slice(bias);
            by_out.dot_into(o, out, wt, &t.x);
        }
        transpose(&t.y, yi, op, c);
    }
}

multiversion! {
    /// Input gradient of one image: `dxi` `[C, H, W]` from `dyi` `[C, OH, OW]` (the scratch's
    /// `y` holds the output gradient, `x` the input gradient); `by_in` pairs `(entry, output
    /// pixel)`.
    fn dw_cl_input_grad(
        g: &Geometry,
        by_in: &Grouped,
        wt: &[f32],
        dyi: &[f32],
        dxi: &mut [f32],
        t: &mut ChannelsLast,
    ) {
        let (c, p, op) = (g.c, g.h * g.w, g.out_h() * g.out_w());
        transpose(dyi, &mut t.y, c, op);
        for (i, out) in t.x.chunks_exact_mut(c).enumerate() {
            out.fill(0.0);
            by_in.dot_into(i, out, wt, &t.y);
        }
        transpose(&t.x, dxi, p, c);
    }
}

multiversion! {
    /// Adds one image's weight gradient into `dwt` `[KH·KW, C]`; `by_entry` pairs `(output
    /// pixel, input pixel)`.
    fn dw_cl_weight_grad(
        g: &Geometry,
        by_entry: &Grouped,
        xi: &[f32],
        dyi: &[f32],
        dwt: &mut [f32],
        t: &mut ChannelsLast,
    ) {
        let (c, p, op) = (g.c, g.h * g.w, g.out_h() * g.out_w());
        transpose(xi, &mut t.x, c, p);
        transpose(dyi, &mut t.y, c, op);
        for (k, out) in dwt.chunks_exact_mut(c).enumerate() {
            by_entry.dot_into(k, out, &t.y, &t.x);
        }
    }
}

/// Weights `[C, KH·KW]` as `[KH·KW, C]`.
fn weights_channels_last(g: &Geometry, w: &[f32]) -> Vec<f32> {
    let k = g.kh * g.kw;
    let mut wt = vec![0f32; k * g.c];
    transpose(w, &mut wt, g.c, k);
    wt
}

/// Depthwise convolution (groups = channels = outputs, weights `[C, 1, KH, KW]`), one
/// `(image, channel)` plane per task: `[N, C, OH, OW]`.
pub fn depthwise_forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (plane, k) = (g.h * g.w, g.kh * g.kw);
    assert_eq!(x.len(), g.n * g.c * plane, "depthwise input size");
    assert_eq!(w.len(), g.c * k, "depthwise weight size");
    let len = g.n * g.c * oh * ow;
    if len == 0 {
        return Vec::new();
    }
    if g.c >= CHANNELS_LAST_FROM {
        let links = channels_last_links(g);
        let by_out = Grouped::new(&links, oh * ow, |o, k, i| (o, (k, i)));
        let wt = weights_channels_last(g, w);
        let zeros = vec![0f32; g.c];
        let bias = bias.unwrap_or(&zeros);
        let img = g.c * plane;
        return par_output(
            len,
            g.c * oh * ow,
            1,
            || ChannelsLast::new(g),
            |t, n, yi| dw_cl_forward(g, &by_out, &wt, bias, &x[n * img..][..img], yi, t),
        );
    }
    let taps = depthwise_taps(g);
    par_output(
        len,
        oh * ow,
        (1024 / (oh * ow)).max(1),
        || (),
        |_, nc, yp| {
            let c = nc % g.c;
            let b = bias.map_or(0.0, |b| b[c]);
            let xp = &x[nc * plane..(nc + 1) * plane];
            depthwise_forward_plane(g, &taps, &w[c * k..(c + 1) * k], b, xp, yp);
        },
    )
}

multiversion! {
    fn depthwise_input_grad_plane(
        g: &Geometry,
        taps: &[Tap],
        wc: &[f32],
        dyp: &[f32],
        dxp: &mut [f32],
    ) {
        let ow = g.out_w();
        for t in taps {
            let src = &dyp[t.oy * ow..(t.oy + 1) * ow][t.cols.clone()];
            let row = &mut dxp[t.y * g.w..(t.y + 1) * g.w];
            axpy_strided(row, t.first, g.stride[1], wc[t.k], src);
        }
    }
}

/// Depthwise convolution: the input gradient, one `(image, channel)` plane per task.
pub fn depthwise_input_grad(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (plane, k) = (g.h * g.w, g.kh * g.kw);
    assert_eq!(w.len(), g.c * k, "depthwise weight size");
    assert_eq!(
        dy.len(),
        g.n * g.c * oh * ow,
        "depthwise output-gradient size"
    );
    let len = g.n * g.c * plane;
    if len == 0 {
        return Vec::new();
    }
    if g.c >= CHANNELS_LAST_FROM {
        let links = channels_last_links(g);
        let by_in = Grouped::new(&links, plane, |o, k, i| (i, (k, o)));
        let wt = weights_channels_last(g, w);
        let out = g.c * oh * ow;
        return par_output(
            len,
            g.c * plane,
            1,
            || ChannelsLast::new(g),
            |t, n, dxi| dw_cl_input_grad(g, &by_in, &wt, &dy[n * out..][..out], dxi, t),
        );
    }
    let taps = depthwise_taps(g);
    par_output(
        len,
        plane,
        (1024 / plane).max(1),
        || (),
        |_, nc, dxp| {
            let c = nc % g.c;
            let dyp = &dy[nc * oh * ow..(nc + 1) * oh * ow];
            depthwise_input_grad_plane(g, &taps, &w[c * k..(c + 1) * k], dyp, dxp);
        },
    )
}

multiversion! {
    fn depthwise_weight_grad_plane(
        g: &Geometry,
        taps: &[Tap],
        xp: &[f32],
        dyp: &[f32],
        dwc: &mut [f32],
    ) {
        let ow = g.out_w();
        for t in taps {
            let src = &dyp[t.oy * ow..(t.oy + 1) * ow][t.cols.clone()];
            let row = &xp[t.y * g.w..(t.y + 1) * g.w];
            dwc[t.k] += dot_strided(src, row, t.first, g.stride[1]);
        }
    }
}

/// Depthwise convolution: the weight gradient `[C, 1, KH, KW]`, one channel per task.
pub fn depthwise_weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (plane, k) = (g.h * g.w, g.kh * g.kw);
    assert_eq!(x.len(), g.n * g.c * plane, "depthwise input size");
    assert_eq!(
        dy.len(),
        g.n * g.c * oh * ow,
        "depthwise output-gradient size"
    );
    if g.c >= CHANNELS_LAST_FROM && g.n > 0 {
        // Per-task partial gradients `[KH·KW, C]` over runs of images, summed in task order
        // (so a run's figures do not depend on how rayon split the work), then back to
        // `[C, KH·KW]`.
        let links = channels_last_links(g);
        let by_entry = Grouped::new(&links, k, |o, k, i| (k, (o, i)));
        let per = chunk_len(g.n);
        let partials: Vec<Vec<f32>> = (0..g.n.div_ceil(per))
            .into_par_iter()
            .map(|task| {
                let (mut t, mut acc) = (ChannelsLast::new(g), vec![0f32; k * g.c]);
                for n in task * per..((task + 1) * per).min(g.n) {
                    let xi = &x[n * g.c * plane..(n + 1) * g.c * plane];
                    let dyi = &dy[n * g.c * oh * ow..(n + 1) * g.c * oh * ow];
                    dw_cl_weight_grad(g, &by_entry, xi, dyi, &mut acc, &mut t);
                }
                acc
            })
            .collect();
        let dwt = sum_in_order(partials, k * g.c);
        let mut dw = vec![0f32; g.c * k];
        transpose(&dwt, &mut dw, k, g.c);
        return dw;
    }
    let mut dw = vec![0f32; g.c * k];
    let taps = depthwise_taps(g);
    dw.par_chunks_mut(k).enumerate().for_each(|(c, dwc)| {
        for n in 0..g.n {
            let nc = n * g.c + c;
            let xp = &x[nc * plane..(nc + 1) * plane];
            let dyp = &dy[nc * oh * ow..(nc + 1) * oh * ow];
            depthwise_weight_grad_plane(g, &taps, xp, dyp, dwc);
        }
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_moves_every_value_at_every_size() {
        // Whole 8x8 blocks, ragged edges on either side and both, and sizes under one block.
        for (rows, cols) in [(8, 8), (16, 24), (9, 17), (3, 40), (32, 5), (1, 1), (7, 9)] {
            let src: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
            let mut dst = vec![f32::NAN; rows * cols];
            transpose(&src, &mut dst, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        dst[c * rows + r],
                        src[r * cols + c],
                        "{rows}x{cols} at ({r}, {c})"
                    );
                }
            }
            let mut back = vec![f32::NAN; rows * cols];
            transpose(&dst, &mut back, cols, rows);
            assert_eq!(back, src, "{rows}x{cols} round trip");
        }
    }
}
