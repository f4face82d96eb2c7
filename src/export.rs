//! Charts of runs as files: the learning curves, ROC curves and confusion matrix of a run or a
//! comparison, as SVG and PNG, and the comparison table as CSV. Each chart is laid out once as
//! a [`Scene`] of plain shapes; the SVG writer and the PNG rasteriser both draw that scene, so
//! the two files always show the same thing. Text in PNGs uses an embedded 8x8 bitmap font:
//! no system fonts needed on a headless server.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::runs::compare;
use crate::runs::{RunState, write_atomic};

/// An RGB colour.
pub type Rgb = [u8; 3];

pub(crate) const BLACK: Rgb = [0, 0, 0];
pub(crate) const GREY: Rgb = [150, 150, 150];
const LIGHT: Rgb = [225, 225, 225];
pub(crate) const WHITE: Rgb = [255, 255, 255];
/// Okabe-Ito: told apart with every common colour-vision deficiency.
const PALETTE: [Rgb; 7] = [
    [0, 114, 178],
    [213, 94, 0],
    [0, 158, 115],
    [204, 121, 167],
    [230, 159, 0],
    [86, 180, 233],
    [0, 0, 0],
];

/// One drawing instruction, in pixels from the top left.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// A polyline; `dashed` for training curves (validation is solid).
    Line {
        points: Vec<(f64, f64)>,
        color: Rgb,
        width: f64,
        dashed: bool,
    },
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Rgb>,
        stroke: Option<Rgb>,
    },
    /// An RGB image (row-major, `width` x `height` pixels) at its top-left corner, drawn 1:1.
    Image {
        x: f64,
        y: f64,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    },
    /// Text in 8 px cells times `scale`, anchored at its left (or centre when `centred`).
    Text {
        x: f64,
        y: f64,
        text: String,
        color: Rgb,
        scale: u32,
        centred: bool,
    },
}

/// A chart ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub shapes: Vec<Shape>,
}

impl Scene {
    pub(crate) fn new(width: u32, height: u32) -> Scene {
        let mut s = Scene {
            width,
            height,
            shapes: Vec::new(),
        };
        s.rect(0.0, 0.0, width as f64, height as f64, Some(WHITE), None);
        s
    }

    pub(crate) fn rect(
        &mut self,
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Option<Rgb>,
        stroke: Option<Rgb>,
    ) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
        });
    }

    pub(crate) fn line(&mut self, points: Vec<(f64, f64)>, color: Rgb, width: f64, dashed: bool) {
        self.shapes.push(Shape::Line {
            points,
            color,
            width,
            dashed,
        });
    }

    pub(crate) fn text(&mut self, x: f64, y: f64, text: impl Into<String>, color: Rgb, scale: u32) {
        self.put_text(x, y, text.into(), color, scale, false);
    }

    pub(crate) fn centred(
        &mut self,
        x: f64,
        y: f64,
        text: impl Into<String>,
        color: Rgb,
        scale: u32,
    ) {
        self.put_text(x, y, text.into(), color, scale, true);
    }

    pub(crate) fn image(&mut self, x: f64, y: f64, width: u32, height: u32, rgb: Vec<u8>) {
        self.shapes.push(Shape::Image {
            x,
            y,
            width,
            height,
            rgb,
        });
    }

    fn put_text(&mut self, x: f64, y: f64, text: String, color: Rgb, scale: u32, centred: bool) {
        self.shapes.push(Shape::Text {
            x,
            y,
            text,
            color,
            scale,
            centred,
        });
    }

    /// The scene as an SVG document.
    pub fn svg(&self) -> String {
        let hex = |c: Rgb| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"monospace\">\n",
            w = self.width,
            h = self.height
        );
        for s in &self.shapes {
            let _ = match s {
                Shape::Line {
                    points,
                    color,
                    width,
                    dashed,
                } => {
                    let pts: Vec<String> = points
                        .iter()
                        .map(|(x, y)| format!("{x:.1},{y:.1}"))
                        .collect();
                    writeln!(
                        out,
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"{}/>",
                        pts.join(" "),
                        hex(*color),
                        if *dashed {
                            " stroke-dasharray=\"6 4\""
                        } else {
                            ""
                        }
                    )
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => writeln!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\" stroke=\"{}\"/>",
                    fill.map_or("none".into(), hex),
                    stroke.map_or("none".into(), hex)
                ),
                Shape::Image {
                    x,
                    y,
                    width,
                    height,
                    rgb,
                } => writeln!(
                    out,
                    "<image x=\"{x:.1}\" y=\"{y:.1}\" width=\"{width}\" height=\"{height}\" \
                     style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>",
                    base64(&png_of(*width, *height, rgb).unwrap_or_default())
                ),
                Shape::Text {
                    x,
                    y,
                    text,
                    color,
                    scale,
                    centred,
                } => writeln!(
                    out,
                    "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"{}\" fill=\"{}\"{}>{}</text>",
                    y + 7.0 * *scale as f64,
                    9 * scale,
                    hex(*color),
                    if *centred {
                        " text-anchor=\"middle\""
                    } else {
                        ""
                    },
                    xml_escape(text)
                ),
            };
        }
        out.push_str("</svg>\n");
        out
    }

    /// The scene rasterised as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        let mut img = image::RgbImage::from_pixel(self.width, self.height, image::Rgb(WHITE));
        for s in &self.shapes {
            match s {
                Shape::Line {
                    points,
                    color,
                    width,
                    dashed,
                } => {
                    let mut travelled = 0.0;
                    for w in points.windows(2) {
                        stroke(
                            &mut img,
                            w[0],
                            w[1],
                            *color,
                            *width,
                            *dashed,
                            &mut travelled,
                        );
                    }
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke: edge,
                } => {
                    if let Some(c) = fill {
                        for py in (*y as i64)..((*y + *h) as i64) {
                            for px in (*x as i64)..((*x + *w) as i64) {
                                put(&mut img, px, py, *c);
                            }
                        }
                    }
                    if let Some(c) = edge {
                        let (x0, y0, x1, y1) = (*x, *y, x + w, y + h);
                        for (a, b) in [
                            ((x0, y0), (x1, y0)),
                            ((x1, y0), (x1, y1)),
                            ((x1, y1), (x0, y1)),
                            ((x0, y1), (x0, y0)),
                        ] {
                            stroke(&mut img, a, b, *c, 1.0, false, &mut 0.0);
                        }
                    }
                }
                Shape::Image {
                    x,
                    y,
                    width,
                    height,
                    rgb,
                } => {
                    for (k, px) in rgb.chunks_exact(3).enumerate() {
                        let (dx, dy) = ((k as u32 % width) as i64, (k as u32 / width) as i64);
                        if dy < *height as i64 {
                            put(
                                &mut img,
                                *x as i64 + dx,
                                *y as i64 + dy,
                                [px[0], px[1], px[2]],
                            );
                        }
                    }
                }
                Shape::Text {
                    x,
                    y,
                    text,
                    color,
                    scale,
                    centred,
                } => {
                    let w = text.chars().count() as f64 * 8.0 * *scale as f64;
                    let x0 = if *centred { x - w / 2.0 } else { *x };
                    glyphs(&mut img, x0 as i64, *y as i64, text, *color, *scale);
                }
            }
        }
        encode_png(image::DynamicImage::ImageRgb8(img))
    }
}

/// PNG bytes of an image (the one PNG encoder of charts, contact sheets and saliency maps).
pub fn encode_png(img: image::DynamicImage) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .context("encoding a PNG")?;
    Ok(bytes)
}

/// An RGB image (row-major, 3 bytes a pixel) as PNG.
pub fn png_of(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_raw(width, height, rgb.to_vec())
        .context("image pixels do not match its size")?;
    encode_png(image::DynamicImage::ImageRgb8(img))
}

/// Standard base64 with padding (RFC 4648): images inside SVG files as `data:` URIs, and in the
/// terminal graphics protocols (`tui::graphics`).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn put(img: &mut image::RgbImage, x: i64, y: i64, c: Rgb) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, image::Rgb(c));
    }
}

/// A straight segment `width` px thick, dashed 6 on / 4 off along the whole polyline.
fn stroke(
    img: &mut image::RgbImage,
    a: (f64, f64),
    b: (f64, f64),
    c: Rgb,
    width: f64,
    dashed: bool,
    travelled: &mut f64,
) {
    let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    let steps = (len.ceil() as usize).max(1);
    let r = (width / 2.0).max(0.5);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let along = *travelled + t * len;
        if dashed && along % 10.0 >= 6.0 {
            continue;
        }
        let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        let ri = r.ceil() as i64;
        for dy in -ri..=ri {
            for dx in -ri..=ri {
                if ((dx * dx + dy * dy) as f64) <= r * r + 0.25 {
                    put(img, x.round() as i64 + dx, y.round() as i64 + dy, c);
                }
            }
        }
    }
    *travelled += len;
}

fn glyphs(img: &mut image::RgbImage, x: i64, y: i64, text: &str, c: Rgb, scale: u32) {
    let s = scale.max(1) as i64;
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            b'?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    for dy in 0..s {
                        for dx in 0..s {
                            let px = x + (i as i64 * 8 + col) * s + dx;
                            put(img, px, y + row as i64 * s + dy, c);
                        }
                    }
                }
            }
        }
    }
}

/// A plotting area with data ranges, inside a scene.
struct Panel {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    xr: (f64, f64),
    yr: (f64, f64),
}

impl Panel {
    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        let fx = (x - self.xr.0) / (self.xr.1 - self.xr.0).max(1e-12);
        let fy = (y - self.yr.0) / (self.yr.1 - self.yr.0).max(1e-12);
        (self.x + fx * self.w, self.y + self.h - fy * self.h)
    }

    /// Frame, grid, tick labels and title.
    fn axes(&self, s: &mut Scene, title: &str, xlabel: &str) {
        for i in 0..=4 {
            let f = i as f64 / 4.0;
            let yv = self.yr.0 + f * (self.yr.1 - self.yr.0);
            let (_, py) = self.at(self.xr.0, yv);
            s.line(vec![(self.x, py), (self.x + self.w, py)], LIGHT, 1.0, false);
            s.text(self.x - 48.0, py - 4.0, format!("{yv:>5.3}"), BLACK, 1);
            let xv = self.xr.0 + f * (self.xr.1 - self.xr.0);
            let (px, _) = self.at(xv, self.yr.0);
            s.centred(px, self.y + self.h + 6.0, format_tick(xv), BLACK, 1);
        }
        s.rect(self.x, self.y, self.w, self.h, None, Some(GREY));
        s.centred(self.x + self.w / 2.0, self.y - 22.0, title, BLACK, 2);
        s.centred(
            self.x + self.w / 2.0,
            self.y + self.h + 20.0,
            xlabel,
            GREY,
            1,
        );
    }

    fn series(&self, s: &mut Scene, pts: &[(f64, f64)], color: Rgb, dashed: bool) {
        let pts: Vec<(f64, f64)> = pts
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| self.at(x, y))
            .collect();
        if pts.len() == 1 {
            s.rect(pts[0].0 - 2.0, pts[0].1 - 2.0, 4.0, 4.0, Some(color), None);
        } else if pts.len() > 1 {
            s.line(pts, color, 2.0, dashed);
        }
    }
}

fn format_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}

/// A range holding every finite value (padded a little), or `fallback` when there is none.
fn range(values: impl Iterator<Item = f64>, fallback: (f64, f64)) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return fallback;
    }
    if hi - lo < 1e-9 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = (hi - lo) * 0.05;
    (lo - pad, hi + pad)
}

fn legend(s: &mut Scene, runs: &[&RunState], x: f64, y: f64) {
    for (i, r) in runs.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let yy = y + i as f64 * 14.0;
        s.line(vec![(x, yy + 4.0), (x + 20.0, yy + 4.0)], c, 2.0, false);
        s.text(x + 26.0, yy, r.id.clone(), BLACK, 1);
    }
}

/// Loss and validation AUC against epoch for each run (training dashed, validation solid).
pub fn curves(runs: &[&RunState]) -> Scene {
    let (pw, ph) = (420.0, 260.0);
    let height = 80.0 + ph + 60.0 + 14.0 * runs.len() as f64 + 20.0;
    let mut s = Scene::new(1000, height as u32);
    let max_epoch = runs.iter().map(|r| r.epochs.max(1)).max().unwrap_or(1) as f64;
    let xr = (0.0, max_epoch);
    let losses = runs.iter().flat_map(|r| {
        r.completed
            .iter()
            .flat_map(|e| [e.train.loss, e.valid.loss])
    });
    let loss = Panel {
        x: 70.0,
        y: 60.0,
        w: pw,
        h: ph,
        xr,
        yr: range(losses, (0.0, 1.0)),
    };
    let aucs = runs
        .iter()
        .flat_map(|r| r.completed.iter().flat_map(|e| [e.train.auc, e.valid.auc]));
    let auc = Panel {
        x: 70.0 + pw + 80.0,
        y: 60.0,
        w: pw,
        h: ph,
        xr,
        yr: range(aucs, (0.5, 1.0)),
    };
    loss.axes(&mut s, "loss (train dashed)", "epoch");
    auc.axes(&mut s, "AUC (train dashed)", "epoch");
    for (i, r) in runs.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        let pts = |f: &dyn Fn(&crate::runs::EpochSummary) -> f64| -> Vec<(f64, f64)> {
            r.completed.iter().map(|e| (e.epoch as f64, f(e))).collect()
        };
        loss.series(&mut s, &pts(&|e| e.train.loss), c, true);
        loss.series(&mut s, &pts(&|e| e.valid.loss), c, false);
        auc.series(&mut s, &pts(&|e| e.train.auc), c, true);
        auc.series(&mut s, &pts(&|e| e.valid.auc), c, false);
    }
    legend(&mut s, runs, 70.0, 60.0 + ph + 44.0);
    s
}

/// The validation ROC curve of each run's best epoch.
pub fn roc(runs: &[&RunState]) -> Scene {
    let side = 360.0;
    let height = 80.0 + side + 60.0 + 14.0 * runs.len() as f64 + 20.0;
    let mut s = Scene::new(520, height as u32);
    let p = Panel {
        x: 90.0,
        y: 60.0,
        w: side,
        h: side,
        xr: (0.0, 1.0),
        yr: (0.0, 1.0),
    };
    p.axes(&mut s, "ROC, best epochs", "false positive rate");
    s.text(p.x - 80.0, p.y - 40.0, "true positive rate", GREY, 1);
    p.series(&mut s, &[(0.0, 0.0), (1.0, 1.0)], GREY, true);
    for (i, r) in runs.iter().enumerate() {
        if let Some(e) = r.best_summary() {
            let pts: Vec<(f64, f64)> = e
                .valid
                .roc
                .iter()
                .map(|q| (q[0] as f64, q[1] as f64))
                .collect();
            p.series(&mut s, &pts, PALETTE[i % PALETTE.len()], false);
        }
    }
    legend(&mut s, runs, 90.0, 60.0 + side + 44.0);
    s
}

/// The validation confusion matrix (threshold 0.5) of a run's best epoch, or its last.
pub fn confusion(run: &RunState) -> Scene {
    let mut s = Scene::new(420, 360);
    let Some(e) = run.best_summary().or(run.last_epoch()) else {
        s.centred(210.0, 170.0, "no epoch yet", GREY, 2);
        return s;
    };
    let c = e.valid.confusion;
    s.centred(
        210.0,
        16.0,
        format!("confusion, epoch {} (threshold 0.5)", e.epoch),
        BLACK,
        1,
    );
    s.centred(210.0, 34.0, run.id.clone(), GREY, 1);
    let total = (c.tp + c.fp + c.tn + c.fn_).max(1) as f64;
    let cells = [
        ("TN", c.tn, 0, 0),
        ("FP", c.fp, 1, 0),
        ("FN", c.fn_, 0, 1),
        ("TP", c.tp, 1, 1),
    ];
    let (x0, y0, cell) = (110.0, 80.0, 130.0);
    for (name, n, col, row) in cells {
        let (x, y) = (x0 + col as f64 * cell, y0 + row as f64 * cell);
        // Darker blue for more tiles.
        let f = n as f64 / total;
        let shade = |v: f64| (255.0 - f * (255.0 - v)) as u8;
        let fill = [shade(0.0), shade(114.0), shade(178.0)];
        let ink = if f > 0.45 { WHITE } else { BLACK };
        s.rect(x, y, cell, cell, Some(fill), Some(GREY));
        s.centred(x + cell / 2.0, y + cell / 2.0 - 20.0, name, ink, 2);
        s.centred(x + cell / 2.0, y + cell / 2.0 + 4.0, n.to_string(), ink, 2);
    }
    s.centred(x0 + cell, y0 - 18.0, "predicted: normal | tumour", BLACK, 1);
    s.text(8.0, y0 + cell / 2.0, "true normal", BLACK, 1);
    s.text(8.0, y0 + cell * 1.5, "true tumour", BLACK, 1);
    s
}

/// Writes every chart of `runs` into `out` as SVG and PNG, and the comparison table as CSV.
/// Returns the files written.
pub fn write_all(runs: &[&RunState], out: &Path, now: f64) -> Result<Vec<PathBuf>> {
    if runs.is_empty() {
        bail!("nothing to export: no runs given");
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut scenes = vec![
        ("curves".to_string(), curves(runs)),
        ("roc".into(), roc(runs)),
    ];
    for r in runs {
        scenes.push((format!("confusion-{}", r.id), confusion(r)));
    }
    let mut written = Vec::new();
    for (name, scene) in scenes {
        let svg = out.join(format!("{name}.svg"));
        write_atomic(&svg, scene.svg().as_bytes())?;
        let png = out.join(format!("{name}.png"));
        write_atomic(&png, &scene.png()?)?;
        written.extend([svg, png]);
    }
    let csv = out.join("compare.csv");
    let oof = compare::oof_aucs(runs);
    write_atomic(&csv, compare::table(runs, now, &oof).to_csv().as_bytes())?;
    written.push(csv);
    Ok(written)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(plain.as_bytes()), coded);
        }
    }
}
