//! 3x3 convolutions (stride 1, padding 1) as Winograd F(2x2, 3x3): each 2x2 block of outputs
//! from a 4x4 window of inputs in 16 multiplications per channel pair instead of 36.
//!
//! The seed CNNs spend most of their arithmetic in such layers and their products were already
//! near the FMA limit of the machine (BENCHMARKS.md, issue 16), so fewer multiplications is what
//! remained. Per block of output tiles: the input windows are transformed (`Bᵀ d B`) into 16
//! matrices `[C, T]`, multiplied by the 16 transformed weight matrices `[O, C]` (`G g Gᵀ`,
//! once per call), and the 16 products `[O, T]` folded back into 2x2 outputs (`Aᵀ m A`). The
//! transforms are additions only, each a contiguous run over a plane's tiles, so they vectorise. F(2x2, 3x3) keeps
//! f32 error at the level of the direct product (its transform coefficients are 0, ±1 and ½);
//! larger tiles would save more and lose accuracy. The input gradient of such a layer is the
//! same convolution of the output gradient with the kernels flipped and transposed, so it goes
//! through here too; the weight gradient is the transforms' adjoint (16 products summed over
//! the tiles, [`weight_grad`]).

use super::Geometry;
use crate::kernels::gemm::matmul;
use rayon::prelude::*;

/// Fewer channels leave each of the 16 products too short (k = C) to run near the GEMM's peak;
/// im2col then does better.
const MIN_CHANNELS: usize = 16;

/// Output tiles transformed and multiplied together. Each block packs all 16 weight matrices
/// again, so blocks sized to keep the transformed tiles in L2 (64 tiles for the 512-channel
/// layer) measured slower than larger ones that spill to L3.
const BLOCK_TILES: usize = 256;

/// Whether `g` is a convolution this path computes.
pub(super) fn applies(g: &Geometry) -> bool {
    g.kh == 3
        && g.kw == 3
        && g.stride == [1, 1]
        && g.pad == [1, 1]
        && g.dilation == [1, 1]
        && g.c >= MIN_CHANNELS
        && g.o >= MIN_CHANNELS
        && enabled()
}

/// `HISTOBOARD_WINOGRAD=off` sends these layers through im2col instead, to compare the two.
fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("HISTOBOARD_WINOGRAD").as_deref() != Ok("off"))
}

/// Tile rows and columns of the output (an odd edge gets a half-used tile).
fn tiles(g: &Geometry) -> (usize, usize) {
    (g.h.div_ceil(2), g.w.div_ceil(2))
}

/// `G g Gᵀ` of every kernel, as 16 row-major matrices `[O, C]` (entry `ξ = 4i + j` of each 4x4
/// result). Column-major, which the GEMM reads without packing, measured slower (seed-cnn-5's
/// last layer 28.7 ms against 24.9 at batch 64).
fn transform_weights(g: &Geometry, w: &[f32]) -> Vec<f32> {
    let (o, c) = (g.o, g.c);
    let mut u = vec![0f32; 16 * o * c];
    for (oc, k) in w.chunks_exact(9).enumerate() {
        let mut t = [[0f32; 3]; 4];
        for j in 0..3 {
            let (a, b, d) = (k[j], k[3 + j], k[6 + j]);
            t[0][j] = a;
            t[1][j] = 0.5 * (a + b + d);
            t[2][j] = 0.5 * (a - b + d);
            t[3][j] = d;
        }
        for (i, r) in t.iter().enumerate() {
            let row = [
                r[0],
                0.5 * (r[0] + r[1] + r[2]),
                0.5 * (r[0] - r[1] + r[2]),
                r[2],
            ];
            for (j, v) in row.into_iter().enumerate() {
                u[(4 * i + j) * o * c + oc] = v;
            }
        }
    }
    u
}

/// The part of a block of tile rows that lies in one image: tile rows `ty0..ty1` of image
/// `img` (counted from the first image of the task), whose tiles start at column `col` of the
/// block's matrices.
struct Segment {
    img: usize,
    ty0: usize,
    ty1: usize,
    col: usize,
}

/// The block of tile rows `first_row..first_row + rows` (numbered `image·TH + ty`), image by
/// image.
fn segments(th: usize, tw: usize, first_row: usize, rows: usize) -> impl Iterator<Item = Segment> {
    let end = first_row + rows;
    (first_row / th..end.div_ceil(th)).map(move |img| {
        let (ty0, ty1) = (
            first_row.max(img * th) - img * th,
            end.min((img + 1) * th) - img * th,
        );
        Segment {
            img,
            ty0,
            ty1,
            col: (img * th + ty0 - first_row) * tw,
        }
    })
}

/// Floats of scratch the transforms need: the input's padded row, its even and odd entries and
/// 8 arrays of a segment's row pairs; the output's 10 arrays of a segment's tiles.
fn scratch_len(g: &Geometry) -> usize {
    let (th, tw) = tiles(g);
    (4 * tw + 4 + 8 * (th + 1) * tw).max(10 * th * tw)
}

multiversion! {
    /// `Bᵀ d B` of the 4x4 input windows of tile rows `first_row..first_row + rows` (numbered
    /// `image·TH + ty` from the first image of `xs`), into `v` as 16 matrices `[C, T]`, T = the
    /// tiles of those rows.
    ///
    /// Along x first: each image row, padded by a zero on the left, is split into its even and
    /// odd entries, which makes every term of the transform a contiguous run over the tiles of
    /// the row. The results go to separate arrays for even and odd rows, so down the columns
    /// every term is one contiguous run over all the segment's tiles.
    fn transform_input(
        g: &Geometry,
        xs: &[f32],
        first_row: usize,
        rows: usize,
        v: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (th, tw) = tiles(g);
        let (h, w) = (g.h, g.w);
        let t = rows * tw;
        let (p, rest) = scratch.split_at_mut(2 * tw + 2);
        let (e, rest) = rest.split_at_mut(tw + 1);
        let (od, r) = rest.split_at_mut(tw + 1);
        for seg in segments(th, tw, first_row, rows) {
            let len = (seg.ty1 - seg.ty0) * tw;
            // Padded rows 2·ty0 ..= 2·ty1 + 1 in pairs (even, odd): one more pair than tile rows.
            let pairs = seg.ty1 - seg.ty0 + 1;
            let stride = pairs * tw;
            let r = &mut r[..8 * stride];
            for ch in 0..g.c {
                let plane = &xs[(seg.img * g.c + ch) * h * w..][..h * w];
                for k in 0..2 * pairs {
                    let y = (2 * seg.ty0 + k) as isize - 1;
                    if y < 0 || y >= h as isize {
                        p.fill(0.0);
                    } else {
                        p[0] = 0.0;
                        p[1..=w].copy_from_slice(&plane[y as usize * w..][..w]);
                        p[w + 1..].fill(0.0);
                    }
                    for (i, pair) in p.chunks_exact(2).enumerate() {
                        e[i] = pair[0];
                        od[i] = pair[1];
                    }
                    // r holds [j][parity][pair][tx].
                    let at = (k % 2) * stride + (k / 2) * tw;
                    let (r0, rest) = r.split_at_mut(2 * stride);
                    let (r1, rest) = rest.split_at_mut(2 * stride);
                    let (r2, r3) = rest.split_at_mut(2 * stride);
                    let (r0, r1) = (&mut r0[at..][..tw], &mut r1[at..][..tw]);
                    let (r2, r3) = (&mut r2[at..][..tw], &mut r3[at..][..tw]);
                    for x in 0..tw {
                        r0[x] = e[x] - e[x + 1];
                        r1[x] = od[x] + e[x + 1];
                        r2[x] = e[x + 1] - od[x];
                        r3[x] = od[x] - od[x + 1];
                    }
                }
                for j in 0..4 {
                    let rj = &r[j * 2 * stride..][..2 * stride];
                    let (even, odd) = rj.split_at(stride);
                    let (d0, d2) = (&even[..len], &even[tw..][..len]);
                    let (d1, d3) = (&odd[..len], &odd[tw..][..len]);
                    let dst = |i: usize| ((4 * i + j) * g.c + ch) * t + seg.col;
                    let out = &mut v[dst(0)..][..len];
                    for x in 0..len {
                        out[x] = d0[x] - d2[x];
                    }
                    let out = &mut v[dst(1)..][..len];
                    for x in 0..len {
                        out[x] = d1[x] + d2[x];
                    }
                    let out = &mut v[dst(2)..][..len];
                    for x in 0..len {
                        out[x] = d2[x] - d1[x];
                    }
                    let out = &mut v[dst(3)..][..len];
                    for x in 0..len {
                        out[x] = d1[x] - d3[x];
                    }
                }
            }
        }
    }
}

multiversion! {
    /// `Aᵀ m A` of the 16 products `m` (`[O, T]` each) of tile rows `first_row..first_row +
    /// rows`, plus the bias, written into `ys` (images `[O, H, W]` from the task's first). Each
    /// step runs over all of a segment's tiles at once; only the last, which interleaves the
    /// two outputs of each tile into an image row, goes row by row.
    fn transform_output(
        g: &Geometry,
        m: &[f32],
        bias: Option<&[f32]>,
        first_row: usize,
        rows: usize,
        ys: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (th, tw) = tiles(g);
        let (h, w) = (g.h, g.w);
        let t = rows * tw;
        for seg in segments(th, tw, first_row, rows) {
            let len = (seg.ty1 - seg.ty0) * tw;
            let (s, quad) = scratch.split_at_mut(8 * len);
            for o in 0..g.o {
                let at = |i: usize, j: usize| &m[((4 * i + j) * g.o + o) * t + seg.col..][..len];
                // Aᵀ down the columns: s[j] = m0j + m1j + m2j, s[4 + j] = m1j - m2j - m3j.
                for j in 0..4 {
                    let (m0, m1, m2, m3) = (at(0, j), at(1, j), at(2, j), at(3, j));
                    let (top, bottom) = s.split_at_mut(4 * len);
                    let top = &mut top[j * len..][..len];
                    let bottom = &mut bottom[j * len..][..len];
                    for x in 0..len {
                        top[x] = m0[x] + m1[x] + m2[x];
                        bottom[x] = m1[x] - m2[x] - m3[x];
                    }
                }
                let b = bias.map_or(0.0, |b| b[o]);
                let plane = &mut ys[(seg.img * g.o + o) * h * w..][..h * w];
                for half in 0..2 {
                    let sj = |j: usize| &s[(4 * half + j) * len..][..len];
                    let (s0, s1, s2, s3) = (sj(0), sj(1), sj(2), sj(3));
                    let (left, right) = quad.split_at_mut(len);
                    let right = &mut right[..len];
                    for x in 0..len {
                        left[x] = s0[x] + s1[x] + s2[x] + b;
                        right[x] = s1[x] - s2[x] - s3[x] + b;
                    }
                    for ty in seg.ty0..seg.ty1 {
                        let oy = 2 * ty + half;
                        if oy >= h {
                            continue;
                        }
                        let k = (ty - seg.ty0) * tw;
                        let (l, r) = (&left[k..][..tw], &right[k..][..tw]);
                        let row = &mut plane[oy * w..][..w];
                        let (pairs, tail) = row.split_at_mut(w / 2 * 2);
                        for (pair, (&a, &c)) in pairs.chunks_exact_mut(2).zip(l.iter().zip(r)) {
                            pair[0] = a;
                            pair[1] = c;
                        }
                        if let Some(last) = tail.first_mut() {
                            *last = l[tw - 1];
                        }
                    }
                }
            }
        }
    }
}

multiversion! {
    /// `A dy Aᵀ` of the 2x2 output-gradient tiles of tile rows `first_row..first_row + rows`
    /// (images `[O, H, W]` from the task's first), into `m` as 16 matrices `[O, T]`: the
    /// adjoint of [`transform_output`], for the weight gradient.
    fn transform_grad(
        g: &Geometry,
        dys: &[f32],
        first_row: usize,
        rows: usize,
        m: &mut [f32],
        scratch: &mut [f32],
    ) {
        let (th, tw) = tiles(g);
        let (h, w) = (g.h, g.w);
        let t = rows * tw;
        for seg in segments(th, tw, first_row, rows) {
            let len = (seg.ty1 - seg.ty0) * tw;
            // The tiles' four entries (top left, top right, bottom left, bottom right), each
            // over all the segment's tiles; zeros past an odd edge.
            let (a, rest) = scratch.split_at_mut(len);
            let (b, rest) = rest.split_at_mut(len);
            let (c, rest) = rest.split_at_mut(len);
            let (d, pq) = rest.split_at_mut(len);
            for o in 0..g.o {
                let plane = &dys[(seg.img * g.o + o) * h * w..][..h * w];
                for ty in seg.ty0..seg.ty1 {
                    let k = (ty - seg.ty0) * tw;
                    for (half, (left, right)) in [(0, (&mut *a, &mut *b)), (1, (&mut *c, &mut *d))] {
                        let (left, right) = (&mut left[k..][..tw], &mut right[k..][..tw]);
                        let oy = 2 * ty + half;
                        if oy >= h {
                            left.fill(0.0);
                            right.fill(0.0);
                            continue;
                        }
                        let row = &plane[oy * w..][..w];
                        let (pairs, tail) = row.split_at(w / 2 * 2);
                        for (x, pair) in pairs.chunks_exact(2).enumerate() {
                            left[x] = pair[0];
                            right[x] = pair[1];
                        }
                        if let Some(&last) = tail.first() {
                            left[tw - 1] = last;
                            right[tw - 1] = 0.0;
                        }
                    }
                }
                // Rows of A dy: (a, b), (a + c, b + d), (a - c, b - d), (-c, -d); then each
                // row (p, q) times Aᵀ: (p, p + q, p - q, -q).
                let (pq, _) = pq.split_at_mut(2 * len);
                let (p, q) = pq.split_at_mut(len);
                for i in 0..4 {
                    for x in 0..len {
                        (p[x], q[x]) = match i {
                            0 => (a[x], b[x]),
                            1 => (a[x] + c[x], b[x] + d[x]),
                            2 => (a[x] - c[x], b[x] - d[x]),
                            _ => (-c[x], -d[x]),
                        };
                    }
                    let dst = |j: usize| ((4 * i + j) * g.o + o) * t + seg.col;
                    m[dst(0)..][..len].copy_from_slice(p);
                    let out = &mut m[dst(1)..][..len];
                    for x in 0..len {
                        out[x] = p[x] + q[x];
                    }
                    let out = &mut m[dst(2)..][..len];
                    for x in 0..len {
                        out[x] = p[x] - q[x];
                    }
                    let out = &mut m[dst(3)..][..len];
                    for x in 0..len {
                        out[x] = -q[x];
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Each worker thread's transformed blocks and scratch, kept between calls: allocating
    /// them afresh cost page faults and zeroing on every layer (every value is written before
    /// it is read).
    static BUFFERS: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's buffers cut into the input block (`16·C·T` floats), the product
/// block (`16·O·T`) and the transforms' scratch, for blocks of up to `max_t` tiles.
fn with_buffers<R>(
    g: &Geometry,
    max_t: usize,
    f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32]) -> R,
) -> R {
    let mut buffers = BUFFERS.take();
    let (vlen, mlen) = (16 * g.c * max_t, 16 * g.o * max_t);
    buffers.resize(buffers.len().max(vlen + mlen + scratch_len(g)), 0.0);
    let (v, rest) = buffers.split_at_mut(vlen);
    let (m, scratch) = rest.split_at_mut(mlen);
    let result = f(v, m, scratch);
    BUFFERS.set(buffers);
    result
}

/// The convolution, `[N, O, H, W]`; `g` must satisfy [`applies`].
pub(super) fn forward(g: &Geometry, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    debug_assert!(applies(g));
    let (img, out) = (g.c * g.h * g.w, g.o * g.h * g.w);
    assert_eq!(x.len(), g.n * img, "conv input size");
    assert_eq!(w.len(), g.o * g.c * 9, "conv weight size");
    let u = transform_weights(g, w);
    let (th, tw) = tiles(g);
    let block_rows = (BLOCK_TILES / tw).max(1);
    let per = super::chunk_len(g.n);
    crate::kernels::par_output(
        g.n * out,
        per * out,
        1,
        || (),
        |_, task, ys| {
            let images = ys.len() / out;
            let xs = &x[task * per * img..][..images * img];
            let max_t = block_rows.min(images * th) * tw;
            with_buffers(g, max_t, |v, m, scratch| {
                for first_row in (0..images * th).step_by(block_rows) {
                    let rows = block_rows.min(images * th - first_row);
                    let t = rows * tw;
                    let (v, m) = (&mut v[..16 * g.c * t], &mut m[..16 * g.o * t]);
                    transform_input(g, xs, first_row, rows, v, scratch);
                    for xi in 0..16 {
                        matmul(
                            (g.o, t, g.c),
                            &mut m[xi * g.o * t..][..g.o * t],
                            false,
                            &u[xi * g.o * g.c..][..g.o * g.c],
                            (g.c, 1),
                            &v[xi * g.c * t..][..g.c * t],
                            (t, 1),
                        );
                    }
                    transform_output(g, m, bias, first_row, rows, ys, scratch);
                }
            });
        },
    )
}

/// The weight gradient, `[O, C, 3, 3]`; `g` must satisfy [`applies`]. Per tile,
/// `∂L/∂U = (A dy Aᵀ) ⊙ (Bᵀ d B)`: 16 products `[O, T]·[T, C]` summed over the tiles, then
/// `∂L/∂g = Gᵀ (∂L/∂U) G`. Each task sums its images; the tasks' sums are added in task order,
/// so the result does not depend on how rayon schedules them.
pub(super) fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let (img, out) = (g.c * g.h * g.w, g.o * g.h * g.w);
    assert_eq!(x.len(), g.n * img, "conv input size");
    assert_eq!(dy.len(), g.n * out, "conv output-gradient size");
    let (th, tw) = tiles(g);
    let block_rows = (BLOCK_TILES / tw).max(1);
    let per = super::chunk_len(g.n);
    let (o, c) = (g.o, g.c);
    let partials: Vec<Vec<f32>> = (0..g.n.div_ceil(per))
        .into_par_iter()
        .map(|task| {
            let images = per.min(g.n - task * per);
            let xs = &x[task * per * img..][..images * img];
            let dys = &dy[task * per * out..][..images * out];
            let mut du = vec![0f32; 16 * o * c];
            let max_t = block_rows.min(images * th) * tw;
            with_buffers(g, max_t, |v, m, scratch| {
                for first_row in (0..images * th).step_by(block_rows) {
                    let rows = block_rows.min(images * th - first_row);
                    let t = rows * tw;
                    let (v, m) = (&mut v[..16 * c * t], &mut m[..16 * o * t]);
                    transform_input(g, xs, first_row, rows, v, scratch);
                    transform_grad(g, dys, first_row, rows, m, scratch);
                    for xi in 0..16 {
                        matmul(
                            (o, c, t),
                            &mut du[xi * o * c..][..o * c],
                            true,
                            &m[xi * o * t..][..o * t],
                            (t, 1),
                            &v[xi * c * t..][..c * t],
                            (1, t),
                        );
                    }
                }
            });
            du
        })
        .collect();
    let du = super::sum_in_order(partials, 16 * o * c);
    let mut dw = vec![0f32; o * c * 9];
    for (oc, k) in dw.chunks_exact_mut(9).enumerate() {
        let u = |i: usize, j: usize| du[(4 * i + j) * o * c + oc];
        // Gᵀ U (3x4) column by column, then its rows times G (4x3).
        let cols: [[f32; 3]; 4] = std::array::from_fn(|j| {
            let (u0, u1, u2, u3) = (u(0, j), u(1, j), u(2, j), u(3, j));
            [u0 + 0.5 * (u1 + u2), 0.5 * (u1 - u2), 0.5 * (u1 + u2) + u3]
        });
        for (i, out) in k.chunks_exact_mut(3).enumerate() {
            let r = cols.map(|col| col[i]);
            out[0] = r[0] + 0.5 * (r[1] + r[2]);
            out[1] = 0.5 * (r[1] - r[2]);
            out[2] = 0.5 * (r[1] + r[2]) + r[3];
        }
    }
    dw
}

/// The input gradient of a convolution `g` (which must satisfy [`applies`]): the same
/// convolution, from the O channels of `dy` to C, with each kernel turned 180° and the channel
/// axes swapped.
pub(super) fn input_grad(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    debug_assert!(applies(g));
    let mut flipped = vec![0f32; w.len()];
    for o in 0..g.o {
        for c in 0..g.c {
            let src = &w[(o * g.c + c) * 9..][..9];
            let dst = &mut flipped[(c * g.o + o) * 9..][..9];
            for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
                *d = *s;
            }
        }
    }
    let back = Geometry {
        c: g.o,
        o: g.c,
        ..*g
    };
    forward(&back, dy, &flipped, None)
}
