//! Augmentation and normalisation of one tile: u8 HWC in, f32 CHW out.
//!
//! Every draw comes from a generator seeded by (seed, epoch, tile index), so a batch is the
//! same whichever thread builds it. All draws are made whether or not an augmentation is
//! on, so toggling one augmentation does not reshuffle the others.
//!
//! Geometry (dihedral, rotation, zoom, shift, centre crop, resize) is folded into one affine
//! map from output pixel to source pixel, sampled once: exactly (index copy) when it is a
//! pure dihedral + crop, bilinearly with reflect padding otherwise. Colour (brightness,
//! contrast, saturation, hue) is folded into one 3x3 matrix + offset, clamped once.
//!
//! About 480 lines of code; the rest are its tests (each augmentation against a reference).

use super::{Rng, SIDE};
use crate::experiment::AugmentConfig;

/// Gray weights (ITU-R BT.601), used by contrast and saturation.
const GRAY: [f32; 3] = [0.299, 0.587, 0.114];

/// Ruifrok-Johnston stain vectors (rows: haematoxylin, eosin, DAB), as in scikit-image.
const RGB_FROM_HED: [[f32; 3]; 3] = [[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]];

/// Half side of the labelled centre square (32x32).
const CENTRE_HALF: f32 = 16.0;

type M2 = [[f32; 2]; 2];
type M3 = [[f32; 3]; 3];

fn mul3(a: &M3, b: &M3) -> M3 {
    let mut m = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

fn inv3(m: &M3) -> M3 {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    let r = 1.0 / det;
    [
        [
            (e * i - f * h) * r,
            (c * h - b * i) * r,
            (b * f - c * e) * r,
        ],
        [
            (f * g - d * i) * r,
            (a * i - c * g) * r,
            (c * d - a * f) * r,
        ],
        [
            (d * h - e * g) * r,
            (b * g - a * h) * r,
            (a * e - b * d) * r,
        ],
    ]
}

fn mul2(a: &M2, b: &M2) -> M2 {
    [
        [
            a[0][0] * b[0][0] + a[0][1] * b[1][0],
            a[0][0] * b[0][1] + a[0][1] * b[1][1],
        ],
        [
            a[1][0] * b[0][0] + a[1][1] * b[1][0],
            a[1][0] * b[0][1] + a[1][1] * b[1][1],
        ],
    ]
}

/// Forward map of dihedral transform `t` (0..8) on centred (x = column, y = row) coords:
/// a horizontal flip when `t >= 4`, then `t % 4` quarter turns (as `numpy.rot90`).
pub fn dihedral_matrix(t: u8) -> M2 {
    let flip = if t >= 4 {
        [[-1.0, 0.0], [0.0, 1.0]]
    } else {
        [[1.0, 0.0], [0.0, 1.0]]
    };
    let rot: M2 = [[0.0, 1.0], [-1.0, 0.0]];
    let mut m = flip;
    for _ in 0..t % 4 {
        m = mul2(&rot, &m);
    }
    m
}

/// The `t` whose matrix is `m` (m must be a signed permutation).
fn dihedral_index(m: &M2) -> u8 {
    (0..8).find(|&t| dihedral_matrix(t) == *m).unwrap_or(0)
}

/// The random draws for one tile (public so tests and tools can render a chosen plan).
#[derive(Debug, Clone, PartialEq)]
pub struct TilePlan {
    /// Dihedral transform 0..8 (see [`dihedral_matrix`]).
    pub dihedral: u8,
    /// Rotation in degrees (counter-clockwise on screen).
    pub angle: f32,
    /// Magnification (> 1 zooms in).
    pub zoom: f32,
    /// Shift of the content in source pixels (x, y).
    pub shift: [f32; 2],
    /// Brightness offset as a fraction of full scale.
    pub brightness: f32,
    /// Contrast, saturation factors (1 = unchanged) and hue shift (fraction of a turn).
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    /// HED jitter: per-stain scale (1 = unchanged) and offset (0 = unchanged).
    pub hed_scale: [f32; 3],
    pub hed_offset: [f32; 3],
}

impl TilePlan {
    pub fn identity() -> TilePlan {
        TilePlan {
            dihedral: 0,
            angle: 0.0,
            zoom: 1.0,
            shift: [0.0; 2],
            brightness: 0.0,
            contrast: 1.0,
            saturation: 1.0,
            hue: 0.0,
            hed_scale: [1.0; 3],
            hed_offset: [0.0; 3],
        }
    }

    fn has_hed(&self) -> bool {
        self.hed_scale != [1.0; 3] || self.hed_offset != [0.0; 3]
    }
}

/// Turns tiles into normalised f32 CHW planes, with or without augmentation.
#[derive(Debug, Clone)]
pub struct Augmenter {
    cfg: Option<AugmentConfig>,
    /// Crop side in source pixels (96 when not cropping).
    crop: usize,
    /// Output side.
    side: usize,
    mean: [f32; 3],
    inv_std: [f32; 3],
    transform: Option<u8>,
    seed: u64,
    epoch: u64,
}

/// Per-thread scratch buffers (so rendering allocates nothing per tile).
#[derive(Default)]
pub struct Scratch {
    src: Vec<f32>,
}

impl Augmenter {
    /// `crop`/`resize` of 0 mean none; `mean`/`std` in 0..255 units; `transform` is a fixed
    /// dihedral (0..8) applied before any random augmentation (test-time augmentation).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: Option<&AugmentConfig>,
        crop: u32,
        resize: u32,
        mean: [f32; 3],
        std: [f32; 3],
        transform: Option<u8>,
        seed: u64,
        epoch: u64,
    ) -> anyhow::Result<Augmenter> {
        let crop = if crop == 0 { SIDE } else { crop as usize };
        if !(32..=SIDE).contains(&crop) {
            anyhow::bail!(
                "data.crop = {crop} must be between 32 and {SIDE} (the labelled centre is 32x32)"
            );
        }
        let side = if resize == 0 { crop } else { resize as usize };
        if side > 1024 {
            anyhow::bail!("data.resize = {side} is too large (at most 1024)");
        }
        if let Some(t) = transform
            && t >= 8
        {
            anyhow::bail!("transform {t} is not a dihedral transform (0..8)");
        }
        if std.iter().any(|&s| s.is_nan() || s <= 0.0) {
            anyhow::bail!("normalisation std must be positive, got {std:?}");
        }
        Ok(Augmenter {
            cfg: cfg.filter(|c| c.enabled).cloned(),
            crop,
            side,
            mean,
            inv_std: std.map(|s| 1.0 / s),
            transform,
            seed,
            epoch,
        })
    }

    /// Output side in pixels.
    pub fn side(&self) -> usize {
        self.side
    }

    /// The draws for tile `index` (identity, or the fixed transform, when not augmenting).
    pub fn plan(&self, index: usize) -> TilePlan {
        let mut p = TilePlan::identity();
        let fixed = dihedral_matrix(self.transform.unwrap_or(0));
        let Some(c) = &self.cfg else {
            p.dihedral = self.transform.unwrap_or(0);
            return p;
        };
        let mut r = Rng::new(&[self.seed, self.epoch, index as u64]);
        let (k, fh, fv) = (r.below(4) as u8, r.coin(), r.coin());
        let mut d = dihedral_matrix(if c.rot90 { k } else { 0 });
        if c.flip_h && fh {
            d = mul2(&[[-1.0, 0.0], [0.0, 1.0]], &d);
        }
        if c.flip_v && fv {
            d = mul2(&[[1.0, 0.0], [0.0, -1.0]], &d);
        }
        p.dihedral = dihedral_index(&mul2(&d, &fixed));
        let (angle, zoom) = (r.sym(1.0), r.sym(1.0));
        let (sx, sy) = (r.sym(1.0), r.sym(1.0));
        p.angle = angle * c.rotate.max(0.0);
        p.zoom = 1.0 + zoom * c.zoom.clamp(0.0, 0.9);
        // Keep the labelled centre square inside the crop: its half extent after rotation
        // and zoom is 16 z (|cos| + |sin|); the shift gets whatever room is left.
        // One pixel of margin when resampling, so bilinear interpolation never smears the
        // centre onto the border.
        let resampled = p.angle != 0.0 || p.zoom != 1.0;
        let half = self.crop as f32 / 2.0 - if resampled { 1.0 } else { 0.0 };
        let (s, co) = p.angle.to_radians().sin_cos();
        let spread = CENTRE_HALF * (s.abs() + co.abs());
        if spread * p.zoom > half {
            p.zoom = half / spread;
        }
        let room = (half - spread * p.zoom).max(0.0);
        let max_shift = (c.shift.max(0.0) * SIDE as f32).min(room);
        p.shift = [sx * max_shift, sy * max_shift];
        p.brightness = r.sym(1.0) * c.brightness.max(0.0);
        p.contrast = 1.0 + r.sym(1.0) * c.contrast.clamp(0.0, 1.0);
        p.saturation = 1.0 + r.sym(1.0) * c.saturation.clamp(0.0, 1.0);
        p.hue = r.sym(1.0) * c.hue.clamp(0.0, 0.5);
        let sigma = c.hed.max(0.0);
        for ch in 0..3 {
            let (a, b) = (r.normal(), r.normal());
            if sigma > 0.0 {
                p.hed_scale[ch] = 1.0 + a * sigma;
                p.hed_offset[ch] = b * sigma;
            }
        }
        p
    }

    /// Output-pixel -> source-pixel affine map: `src = J * (ox, oy) + c0` (pixel indices).
    pub fn source_map(&self, plan: &TilePlan) -> (M2, [f32; 2]) {
        let d = dihedral_matrix(plan.dihedral);
        // Inverse of a signed permutation is its transpose.
        let dinv = [[d[0][0], d[1][0]], [d[0][1], d[1][1]]];
        let (s, c) = plan.angle.to_radians().sin_cos();
        let rinv = [[c, s], [-s, c]];
        let mut minv = mul2(&dinv, &rinv);
        for row in &mut minv {
            for v in row.iter_mut() {
                *v /= plan.zoom;
            }
        }
        let scale = self.crop as f32 / self.side as f32;
        let j = [
            [minv[0][0] * scale, minv[0][1] * scale],
            [minv[1][0] * scale, minv[1][1] * scale],
        ];
        let base = [
            0.5 * scale - self.crop as f32 / 2.0 - plan.shift[0],
            0.5 * scale - self.crop as f32 / 2.0 - plan.shift[1],
        ];
        let centre = SIDE as f32 / 2.0 - 0.5;
        let c0 = [
            minv[0][0] * base[0] + minv[0][1] * base[1] + centre,
            minv[1][0] * base[0] + minv[1][1] * base[1] + centre,
        ];
        (j, c0)
    }

    /// Renders `src` (96x96 RGB HWC) with `plan` into `out` (3 planes of side x side).
    pub fn render(&self, src: &[u8], plan: &TilePlan, out: &mut [f32], scratch: &mut Scratch) {
        let n = self.side * self.side;
        assert_eq!(out.len(), 3 * n, "output buffer must hold 3 x side x side");
        assert_eq!(
            src.len(),
            SIDE * SIDE * 3,
            "source must be a 96x96 RGB tile"
        );
        if plan.has_hed() {
            hed_jitter(src, plan, &mut scratch.src);
            self.geometry(&scratch.src[..], plan, out);
        } else {
            self.geometry(src, plan, out);
        }
        self.colour(plan, out);
    }

    fn geometry<T: Copy + Into<f32>>(&self, src: &[T], plan: &TilePlan, out: &mut [f32]) {
        let s = self.side;
        let (r, rest) = out.split_at_mut(s * s);
        let (g, b) = rest.split_at_mut(s * s);
        let (j, c0) = self.source_map(plan);
        let exact =
            plan.angle == 0.0 && plan.zoom == 1.0 && plan.shift == [0.0; 2] && s == self.crop;
        if exact {
            // Pure dihedral + crop: every output pixel is one source pixel, no resampling.
            let (j, c0) = (
                j.map(|r| r.map(|v| v.round() as isize)),
                c0.map(|v| v.round() as isize),
            );
            let step_x = 3 * (j[1][0] * SIDE as isize + j[0][0]);
            let step_y = 3 * (j[1][1] * SIDE as isize + j[0][1]);
            let start = 3 * (c0[1] * SIDE as isize + c0[0]);
            for oy in 0..s {
                let mut p = start + oy as isize * step_y;
                let row = oy * s;
                for o in row..row + s {
                    let q = p as usize;
                    r[o] = src[q].into();
                    g[o] = src[q + 1].into();
                    b[o] = src[q + 2].into();
                    p += step_x;
                }
            }
            return;
        }
        let reflect = |i: isize| -> usize {
            // Half-sample symmetric padding (d c b a | a b c d | d c b a).
            let n = SIDE as isize;
            let period = 2 * n;
            let m = i.rem_euclid(period);
            (if m < n { m } else { period - 1 - m }) as usize
        };
        for oy in 0..s {
            let (ofy, row) = (oy as f32, oy * s);
            for ox in 0..s {
                let ofx = ox as f32;
                let sx = j[0][0] * ofx + j[0][1] * ofy + c0[0];
                let sy = j[1][0] * ofx + j[1][1] * ofy + c0[1];
                let (fx, fy) = (sx.floor(), sy.floor());
                let (ax, ay) = (sx - fx, sy - fy);
                let (x0, y0) = (fx as isize, fy as isize);
                let (x0r, x1r) = (reflect(x0), reflect(x0 + 1));
                let (y0r, y1r) = (reflect(y0) * SIDE, reflect(y0 + 1) * SIDE);
                let (p00, p01) = (3 * (y0r + x0r), 3 * (y0r + x1r));
                let (p10, p11) = (3 * (y1r + x0r), 3 * (y1r + x1r));
                let w00 = (1.0 - ax) * (1.0 - ay);
                let (w01, w10, w11) = (ax * (1.0 - ay), (1.0 - ax) * ay, ax * ay);
                let o = row + ox;
                let px = |c: usize| {
                    w00 * src[p00 + c].into()
                        + w01 * src[p01 + c].into()
                        + w10 * src[p10 + c].into()
                        + w11 * src[p11 + c].into()
                };
                r[o] = px(0);
                g[o] = px(1);
                b[o] = px(2);
            }
        }
    }

    /// Brightness, contrast, saturation and hue as one affine colour map, then clamp to
    /// 0..255 and normalise.
    fn colour(&self, plan: &TilePlan, out: &mut [f32]) {
        let n = self.side * self.side;
        let (mut a, mut off): (M3, [f32; 3]) = (
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            [0.0; 3],
        );
        let identity = plan.brightness == 0.0
            && plan.contrast == 1.0
            && plan.saturation == 1.0
            && plan.hue == 0.0;
        if !identity {
            let bright = plan.brightness * 255.0;
            off = [bright; 3];
            if plan.contrast != 1.0 {
                // Contrast pulls towards the tile's mean gray level (after brightness).
                let (r, rest) = out.split_at(n);
                let (g, b) = rest.split_at(n);
                let mut sum = 0.0f64;
                for k in 0..n {
                    sum += (GRAY[0] * r[k] + GRAY[1] * g[k] + GRAY[2] * b[k]) as f64;
                }
                let m = (sum / n as f64) as f32 + bright;
                let c = plan.contrast;
                a = a.map(|row| row.map(|v| v * c));
                off = off.map(|o| o * c + (1.0 - c) * m);
            }
            if plan.saturation != 1.0 {
                let s = plan.saturation;
                let sat: M3 = std::array::from_fn(|i| {
                    std::array::from_fn(|j| (1.0 - s) * GRAY[j] + if i == j { s } else { 0.0 })
                });
                off = std::array::from_fn(|i| (0..3).map(|j| sat[i][j] * off[j]).sum());
                a = mul3(&sat, &a);
            }
            if plan.hue != 0.0 {
                // Rotate the chroma plane of YIQ by the hue angle.
                const YIQ: M3 = [
                    [0.299, 0.587, 0.114],
                    [0.596, -0.274, -0.322],
                    [0.211, -0.523, 0.312],
                ];
                let (s, c) = (plan.hue * std::f32::consts::TAU).sin_cos();
                let rot: M3 = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
                let hue = mul3(&inv3(&YIQ), &mul3(&rot, &YIQ));
                off = std::array::from_fn(|i| (0..3).map(|j| hue[i][j] * off[j]).sum());
                a = mul3(&hue, &a);
            }
        }
        let (mean, inv) = (self.mean, self.inv_std);
        let (r, rest) = out.split_at_mut(n);
        let (g, b) = rest.split_at_mut(n);
        if identity {
            for (plane, c) in [(r, 0), (g, 1), (b, 2)] {
                for v in plane.iter_mut() {
                    *v = (v.clamp(0.0, 255.0) - mean[c]) * inv[c];
                }
            }
            return;
        }
        for k in 0..n {
            let p = [r[k], g[k], b[k]];
            let q: [f32; 3] = std::array::from_fn(|i| {
                let v = a[i][0] * p[0] + a[i][1] * p[1] + a[i][2] * p[2] + off[i];
                (v.clamp(0.0, 255.0) - mean[i]) * inv[i]
            });
            r[k] = q[0];
            g[k] = q[1];
            b[k] = q[2];
        }
    }
}

/// HED stain jitter (Tellez et al.): RGB -> optical density -> HED stains, each stain
/// scaled and shifted, and back. In OD space this is one 3x3 map + offset per tile.
fn hed_jitter(src: &[u8], plan: &TilePlan, out: &mut Vec<f32>) {
    // Optical density of each 8-bit value, as scikit-image's rgb2hed (log of p/255,
    // floored at 1e-6), computed once.
    static OD: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    let od = OD.get_or_init(|| std::array::from_fn(|v| (v as f32 / 255.0).max(1e-6).ln()));
    // Row-vector convention as scikit-image: stains = od @ HED_FROM_RGB.
    let hed_from_rgb = inv3(&RGB_FROM_HED);
    let mut scaled = hed_from_rgb;
    for row in &mut scaled {
        for (c, v) in row.iter_mut().enumerate() {
            *v *= plan.hed_scale[c];
        }
    }
    let m = mul3(&scaled, &RGB_FROM_HED);
    // Offsets live in scikit-image's stain units (od / ln(1e-6)).
    let log_adjust = (1e-6f32).ln();
    let off: [f32; 3] = std::array::from_fn(|j| {
        log_adjust
            * (0..3)
                .map(|c| plan.hed_offset[c] * RGB_FROM_HED[c][j])
                .sum::<f32>()
    });
    out.clear();
    out.reserve(src.len());
    for p in src.chunks_exact(3) {
        let l = [od[p[0] as usize], od[p[1] as usize], od[p[2] as usize]];
        for j in 0..3 {
            let v = l[0] * m[0][j] + l[1] * m[1][j] + l[2] * m[2][j] + off[j];
            out.push(255.0 * v.min(0.0).exp());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile() -> Vec<u8> {
        (0..SIDE * SIDE * 3)
            .map(|i| ((i * 37) % 253) as u8)
            .collect()
    }

    /// Renders with no colour change and unit normalisation, back to u8 HWC.
    fn render_u8(aug: &Augmenter, src: &[u8], plan: &TilePlan) -> Vec<u8> {
        let s = aug.side();
        let mut out = vec![0.0; 3 * s * s];
        aug.render(src, plan, &mut out, &mut Scratch::default());
        let mut v = vec![0u8; 3 * s * s];
        for k in 0..s * s {
            for c in 0..3 {
                v[3 * k + c] = out[c * s * s + k].round() as u8;
            }
        }
        v
    }

    fn plain(crop: u32) -> Augmenter {
        Augmenter::new(None, crop, 0, [0.0; 3], [1.0; 3], None, 0, 0).unwrap()
    }

    #[test]
    fn quarter_turns_and_flips_are_exact() {
        let aug = plain(0);
        let src = tile();
        let plan = |t| TilePlan {
            dihedral: t,
            ..TilePlan::identity()
        };
        let mut x = src.clone();
        for _ in 0..4 {
            x = render_u8(&aug, &x, &plan(1));
            if x == src {
                break;
            }
        }
        assert_eq!(x, src, "four quarter turns");
        assert_ne!(render_u8(&aug, &src, &plan(1)), src);
        let flipped = render_u8(&aug, &src, &plan(4));
        assert_ne!(flipped, src);
        assert_eq!(render_u8(&aug, &flipped, &plan(4)), src, "flip twice");
        // A quarter turn moves pixel (row 0, col 95) to (row 0, col 0), like numpy.rot90.
        let r = render_u8(&aug, &src, &plan(1));
        assert_eq!(r[..3], src[95 * 3..96 * 3]);
    }

    #[test]
    fn every_dihedral_is_a_permutation() {
        let aug = plain(0);
        let src: Vec<u8> = (0..SIDE * SIDE * 3).map(|i| (i / 3 % 251) as u8).collect();
        let mut seen = std::collections::HashSet::new();
        for t in 0..8 {
            let mut a = render_u8(
                &aug,
                &src,
                &TilePlan {
                    dihedral: t,
                    ..TilePlan::identity()
                },
            );
            seen.insert(a.clone());
            let mut b = src.clone();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn brightness_and_colour_stay_in_range() {
        let cfg = AugmentConfig {
            brightness: 0.5,
            contrast: 0.5,
            saturation: 0.5,
            hue: 0.2,
            hed: 0.2,
            ..Default::default()
        };
        let aug = Augmenter::new(Some(&cfg), 0, 0, [0.0; 3], [255.0; 3], None, 1, 2).unwrap();
        let src = tile();
        let mut out = vec![0.0; 3 * SIDE * SIDE];
        let mut changed = false;
        for i in 0..20 {
            aug.render(&src, &aug.plan(i), &mut out, &mut Scratch::default());
            assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
            changed |= out
                .iter()
                .zip(&src)
                .any(|(a, &b)| (a * 255.0 - b as f32).abs() > 1.0);
        }
        assert!(changed);
    }

    #[test]
    fn plans_are_deterministic_per_seed_epoch_index() {
        let cfg = AugmentConfig {
            rotate: 30.0,
            zoom: 0.2,
            shift: 0.2,
            hed: 0.05,
            ..Default::default()
        };
        let a = Augmenter::new(Some(&cfg), 72, 0, [0.0; 3], [1.0; 3], None, 5, 1).unwrap();
        let b = Augmenter::new(Some(&cfg), 72, 0, [0.0; 3], [1.0; 3], None, 5, 2).unwrap();
        assert_eq!(a.plan(3), a.plan(3));
        assert_ne!(a.plan(3), a.plan(4));
        assert_ne!(a.plan(3), b.plan(3));
    }

    #[test]
    fn labelled_centre_maps_inside_the_output() {
        // Corners of the centre 32x32 (pixel-index space: 31.5..63.5) must land inside
        // the output (-0.5..side-0.5) for every draw, zooming in or out.
        let cfg = AugmentConfig {
            rotate: 45.0,
            zoom: 0.5,
            shift: 0.5,
            ..Default::default()
        };
        for (crop, resize) in [(64, 0), (48, 96), (0, 0), (32, 0)] {
            let aug =
                Augmenter::new(Some(&cfg), crop, resize, [0.0; 3], [1.0; 3], None, 3, 0).unwrap();
            let s = aug.side() as f32;
            for i in 0..500 {
                let plan = aug.plan(i);
                let (j, c0) = aug.source_map(&plan);
                let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
                for (qx, qy) in [(31.5, 31.5), (63.5, 31.5), (31.5, 63.5), (63.5, 63.5)] {
                    let (dx, dy) = (qx - c0[0], qy - c0[1]);
                    let ox = (j[1][1] * dx - j[0][1] * dy) / det;
                    let oy = (-j[1][0] * dx + j[0][0] * dy) / det;
                    assert!(
                        (-0.5..=s - 0.5).contains(&ox) && (-0.5..=s - 0.5).contains(&oy),
                        "crop {crop} tile {i}: corner ({qx},{qy}) -> ({ox},{oy}) {plan:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn labelled_centre_pixels_stay_inside_the_crop() {
        // A tile whose centre 32x32 is white and the rest black: after heavy geometric
        // augmentation and a tight crop, white must appear and never touch the border
        // (a convex region cut by the border would). Zoom stays >= 1 so reflect padding
        // cannot bring mirrored copies of the square into view.
        let mut src = vec![0u8; SIDE * SIDE * 3];
        for y in 32..64 {
            for x in 32..64 {
                src[3 * (y * SIDE + x)..3 * (y * SIDE + x) + 3].fill(255);
            }
        }
        let cfg = AugmentConfig {
            rotate: 45.0,
            zoom: 0.0,
            shift: 0.5,
            brightness: 0.0,
            ..Default::default()
        };
        for (crop, resize) in [(64, 0), (48, 96)] {
            let aug =
                Augmenter::new(Some(&cfg), crop, resize, [0.0; 3], [1.0; 3], None, 3, 0).unwrap();
            let s = aug.side();
            let mut out = vec![0.0; 3 * s * s];
            for i in 0..30 {
                aug.render(&src, &aug.plan(i), &mut out, &mut Scratch::default());
                let r = &out[..s * s];
                assert!(
                    r.iter().any(|&v| v > 128.0),
                    "crop {crop} tile {i}: centre lost"
                );
                for k in 0..s {
                    for &(x, y) in &[(k, 0), (k, s - 1), (0, k), (s - 1, k)] {
                        assert!(
                            r[y * s + x] < 200.0,
                            "crop {crop} tile {i}: centre cut at ({x},{y})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Augmenter::new(None, 16, 0, [0.0; 3], [1.0; 3], None, 0, 0).is_err());
        assert!(Augmenter::new(None, 0, 0, [0.0; 3], [0.0; 3], None, 0, 0).is_err());
        assert!(Augmenter::new(None, 0, 0, [0.0; 3], [1.0; 3], Some(8), 0, 0).is_err());
    }
}
