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

/// `out[c] += w[c] · v[c]` across the channels.
#[inline(always)]
fn fma_channels(out: &mut [f32], w: &[f32], v: &[f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(w).zip(v) {
        *o += a * b;
    }
}

/// Every `(output pixel, kernel entry, input pixel)` the convolution links, in output order,
/// as flat indices: pixels `oy·OW + ox` and `y·W + x`, entry `i·KW + j`.
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
    /// `[KH·KW, C]`, `bias` one per channel.
    fn dw_cl_forward(
        g: &Geometry,
        links: &[(usize, usize, usize)],
        wt: &[f32],
        bias: &[f32],
        xi: &[f32],
        yi: &mut [f32],
        t: &mut ChannelsLast,
    ) {
        let (c, p, op) = (g.c, g.h * g.w, g.out_h() * g.out_w());
        transpose(xi, &mut t.x, c, p);
        for out in t.y.chunks_exact_mut(c) {
            out.copy_from_slice(bias);
        }
        for &(o, k, i) in links {
            fma_channels(
                &mut t.y[o * c..(o + 1) * c],
                &wt[k * c..(k + 1) * c],
                &t.x[i * c..(i + 1) * c],
            );
        }
        transpose(&t.y, yi, op, c);
    }
}

multiversion! {
    /// Input gradient of one image: `dxi` `[C, H, W]` from `dyi` `[C, OH, OW]` (the scratch's
    /// `y` holds the output gradient, `x` the input gradient).
    fn dw_cl_input_grad(
        g: &Geometry,
        links: &[(usize, usize, usize)],
        wt: &[f32],
        dyi: &[f32],
        dxi: &mut [f32],
        t: &mut ChannelsLast,
    ) {
        let (c, p, op) = (g.c, g.h * g.w, g.out_h() * g.out_w());
        transpose(dyi, &mut t.y, c, op);
        t.x.fill(0.0);
        for &(o, k, i) in links {
            fma_channels(
                &mut t.x[i * c..(i + 1) * c],
                &wt[k * c..(k + 1) * c],
                &t.y[o * c..(o + 1) * c],
            );
        }
        transpose(&t.x, dxi, p, c);
    }
}

multiversion! {
    /// Adds one image's weight gradient into `dwt` `[KH·KW, C]`.
    fn dw_cl_weight_grad(
        g: &Geometry,
        links: &[(usize, usize, usize)],
        xi: &[f32],
        dyi: &[f32],
        dwt: &mut [f32],
        t: &mut ChannelsLast,
    ) {
        let (c, p, op) = (g.c, g.h * g.w, g.out_h() * g.out_w());
        transpose(xi, &mut t.x, c, p);
        transpose(dyi, &mut t.y, c, op);
        for &(o, k, i) in links {
            fma_channels(
                &mut dwt[k * c..(k + 1) * c],
                &t.y[o * c..(o + 1) * c],
                &t.x[i * c..(i + 1) * c],
            );
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
        let (links, wt) = (channels_last_links(g), weights_channels_last(g, w));
        let zeros = vec![0f32; g.c];
        let bias = bias.unwrap_or(&zeros);
        y.par_chunks_mut(g.c * oh * ow)
            .zip(x.par_chunks(g.c * plane))
            .for_each_init(
                || ChannelsLast::new(g),
                |t, (yi, xi)| dw_cl_forward(g, &links, &wt, bias, xi, yi, t),
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
        let (links, wt) = (channels_last_links(g), weights_channels_last(g, w));
        dx.par_chunks_mut(g.c * plane)
            .zip(dy.par_chunks(g.c * oh * ow))
            .for_each_init(
                || ChannelsLast::new(g),
                |t, (dxi, dyi)| dw_cl_input_grad(g, &links, &wt, dyi, dxi, t),
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
        // Per-task partial gradients `[KH·KW, C]`, summed, then back to `[C, KH·KW]`.
        let links = channels_last_links(g);
        let dwt = x
            .par_chunks(g.c * plane)
            .zip(dy.par_chunks(g.c * oh * ow))
            .fold(
                || (ChannelsLast::new(g), vec![0f32; k * g.c]),
                |(mut t, mut acc), (xi, dyi)| {
                    dw_cl_weight_grad(g, &links, xi, dyi, &mut acc, &mut t);
                    (t, acc)
                },
            )
            .map(|(_, acc)| acc)
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(p, q)| *p += q);
                a
            })
            .unwrap_or_else(|| vec![0f32; k * g.c]);
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
