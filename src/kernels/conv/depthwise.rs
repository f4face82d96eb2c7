//! Depthwise convolutions (one group, one output per channel) and their gradients as direct
//! loops: plane by plane below 16 channels, channels-last above.

use super::*;

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
#[inline(always)]
fn transpose(src: &[f32], dst: &mut [f32], rows: usize, cols: usize) {
    // Blocks of 8 rows keep the strided writes within a few cache lines.
    for r0 in (0..rows).step_by(8) {
        let r1 = (r0 + 8).min(rows);
        for col in 0..cols {
            for r in r0..r1 {
                dst[col * rows + r] = src[r * cols + col];
            }
        }
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
    let mut y = vec![0f32; g.n * g.c * oh * ow];
    if y.is_empty() {
        return y;
    }
    if g.c >= CHANNELS_LAST_FROM {
        let links = channels_last_links(g);
        let by_out = Grouped::new(&links, oh * ow, |o, k, i| (o, (k, i)));
        let wt = weights_channels_last(g, w);
        let zeros = vec![0f32; g.c];
        let bias = bias.unwrap_or(&zeros);
        y.par_chunks_mut(g.c * oh * ow)
            .zip(x.par_chunks(g.c * plane))
            .for_each_init(
                || ChannelsLast::new(g),
                |t, (yi, xi)| dw_cl_forward(g, &by_out, &wt, bias, xi, yi, t),
            );
        return y;
    }
    let taps = depthwise_taps(g);
    y.par_chunks_mut(oh * ow)
        .enumerate()
        .with_min_len((1024 / (oh * ow)).max(1))
        .for_each(|(nc, yp)| {
            let c = nc % g.c;
            let b = bias.map_or(0.0, |b| b[c]);
            let xp = &x[nc * plane..(nc + 1) * plane];
            depthwise_forward_plane(g, &taps, &w[c * k..(c + 1) * k], b, xp, yp);
        });
    y
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
    let mut dx = vec![0f32; g.n * g.c * plane];
    if dx.is_empty() {
        return dx;
    }
    if g.c >= CHANNELS_LAST_FROM {
        let links = channels_last_links(g);
        let by_in = Grouped::new(&links, plane, |o, k, i| (i, (k, o)));
        let wt = weights_channels_last(g, w);
        dx.par_chunks_mut(g.c * plane)
            .zip(dy.par_chunks(g.c * oh * ow))
            .for_each_init(
                || ChannelsLast::new(g),
                |t, (dxi, dyi)| dw_cl_input_grad(g, &by_in, &wt, dyi, dxi, t),
            );
        return dx;
    }
    let taps = depthwise_taps(g);
    dx.par_chunks_mut(plane)
        .enumerate()
        .with_min_len((1024 / plane).max(1))
        .for_each(|(nc, dxp)| {
            let c = nc % g.c;
            let dyp = &dy[nc * oh * ow..(nc + 1) * oh * ow];
            depthwise_input_grad_plane(g, &taps, &w[c * k..(c + 1) * k], dyp, dxp);
        });
    dx
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
        let mut iter = partials.into_iter();
        let mut dwt = iter.next().unwrap_or_else(|| vec![0f32; k * g.c]);
        for part in iter {
            dwt.iter_mut().zip(part).for_each(|(p, q)| *p += q);
        }
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
