//! `histoboard data inspect`: what is in a source, and a look at a few tiles in the terminal.

use super::{Dataset, SIDE};
use crate::experiment::{BadTilePolicy, DataConfig, Sources};
use anyhow::Result;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct InspectOptions {
    /// Tiles to draw (half of each label when possible).
    pub samples: usize,
    /// 24-bit colour; `None` = when stdout is a terminal and `NO_COLOR` is unset.
    pub color: Option<bool>,
    /// Decode through the packed cache (fast next time; checks every tile once).
    pub cache: bool,
    pub cache_dir: PathBuf,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            samples: 4,
            color: None,
            cache: true,
            cache_dir: PathBuf::from(".cache"),
        }
    }
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (k, ch) in s.chars().enumerate() {
        if k > 0 && (s.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The sources a command line names: the bundled sample when none.
pub(crate) fn sources(paths: &[String]) -> Sources {
    if paths.is_empty() {
        "bundled".into()
    } else {
        Sources(paths.to_vec())
    }
}

/// Prints counts per label, class balance, tile size and bad tiles of `paths` combined (the
/// bundled sample when none), then draws a few tiles with their id and label, centre outlined.
pub fn inspect(paths: &[String], out: &mut impl Write, opts: &InspectOptions) -> Result<()> {
    let cfg = DataConfig {
        source: sources(paths),
        bad_tiles: BadTilePolicy::Skip,
        cache: opts.cache,
        cache_dir: opts.cache_dir.display().to_string(),
        ..Default::default()
    };
    let ds = Dataset::open(&cfg)?;
    let color = opts.color.unwrap_or_else(|| {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
    });
    // Without the cache, bad tiles only show up when decoded: decode everything once.
    let mut reader = ds.reader();
    if !ds.is_cached() {
        for i in 0..ds.len() {
            reader.tile(i)?;
        }
    }
    let r = ds.report();
    for s in &r.sources {
        writeln!(out, "Source     {} ({})", s.path, s.layout)?;
        if let Some(l) = &s.labels_file {
            writeln!(out, "Labels     {l}")?;
        }
        if r.sources.len() > 1 {
            let [n0, n1] = s.label_counts;
            writeln!(
                out,
                "           {} tiles: {} label 0, {} label 1",
                thousands(s.tiles),
                thousands(n0),
                thousands(n1)
            )?;
        }
    }
    let good = r.tiles
        - if ds.is_cached() {
            0
        } else {
            r.skipped.len().min(r.tiles)
        };
    writeln!(
        out,
        "Tiles      {}  ({SIDE}x{SIDE} RGB, 8-bit)",
        thousands(good)
    )?;
    let total = (r.label_counts[0] + r.label_counts[1]).max(1) as f64;
    for (l, what) in [
        (0, "no tumour in the centre 32x32"),
        (1, "tumour in the centre 32x32"),
    ] {
        let n = r.label_counts[l];
        writeln!(
            out,
            "Label {l}    {:>7}  ({:.1}%)  {what}",
            thousands(n),
            100.0 * n as f64 / total
        )?;
    }
    writeln!(out, "Bad tiles  {}", thousands(r.skipped.len()))?;
    for (id, reason) in r.skipped.iter().take(10) {
        writeln!(out, "  {id}: {reason}")?;
    }
    if r.skipped.len() > 10 {
        writeln!(out, "  ... and {} more", r.skipped.len() - 10)?;
    }
    if let Some(c) = &r.cache {
        let state = if r.cache_built {
            "built now"
        } else {
            "up to date"
        };
        writeln!(out, "Cache      {} ({state})", c.display())?;
    }

    // Sample tiles: alternate labels so both classes are shown.
    let mut picks = Vec::new();
    let mut next = [0usize, 0usize];
    while picks.len() < opts.samples.min(ds.len()) {
        let want = picks.len() % 2;
        let found = (next[want]..ds.len()).find(|&i| ds.label(i).unwrap_or(0) as usize == want);
        let found = found.or_else(|| (next[1 - want]..ds.len()).find(|&i| !picks.contains(&i)));
        let Some(i) = found else { break };
        next[want] = i + 1;
        if !picks.contains(&i) {
            picks.push(i);
        }
    }
    let mut tiles = Vec::new();
    for &i in &picks {
        if let Some(px) = reader.tile(i)? {
            tiles.push((i, px.to_vec()));
        }
    }
    writeln!(out)?;
    for pair in tiles.chunks(2) {
        for (i, _) in pair {
            let label = ds.label(*i).map_or("-".to_string(), |l| l.to_string());
            let id = &ds.ids()[*i];
            let short: String = id.chars().take(38).collect();
            write!(out, "{:<50}", format!("{short}  label {label}"))?;
        }
        writeln!(out)?;
        let rows = if color {
            draw_color(pair)
        } else {
            draw_plain(pair)
        };
        for row in rows {
            writeln!(out, "{row}")?;
        }
        writeln!(out)?;
    }
    let outline = if color { "yellow outline" } else { "box" };
    writeln!(
        out,
        "The {outline} marks the centre 32x32 that the label is about."
    )?;
    Ok(())
}

/// Average of a 2x2 (colour) or 2x4 (plain) block at half resolution.
fn block(px: &[u8], x0: usize, y0: usize, w: usize, h: usize) -> [f32; 3] {
    let mut s = [0f32; 3];
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            for c in 0..3 {
                s[c] += px[3 * (y * SIDE + x) + c] as f32;
            }
        }
    }
    s.map(|v| v / (w * h) as f32)
}

const HALF: usize = SIDE / 2;

fn in_outline(x: usize, y: usize) -> bool {
    // Centre 32x32 (pixels 32..64) at half resolution: 16..32, outline just outside.
    let on = |v: usize| v == 15 || v == 32;
    let inside = |v: usize| (15..=32).contains(&v);
    inside(x) && inside(y) && (on(x) || on(y))
}

fn draw_color(tiles: &[(usize, Vec<u8>)]) -> Vec<String> {
    const MARK: [f32; 3] = [255.0, 220.0, 0.0];
    let mut rows = Vec::new();
    for ty in 0..HALF / 2 {
        let mut line = String::new();
        for (_, px) in tiles {
            for x in 0..HALF {
                let (ya, yb) = (2 * ty, 2 * ty + 1);
                let top = if in_outline(x, ya) {
                    MARK
                } else {
                    block(px, 2 * x, 2 * ya, 2, 2)
                };
                let bot = if in_outline(x, yb) {
                    MARK
                } else {
                    block(px, 2 * x, 2 * yb, 2, 2)
                };
                line.push_str(&format!(
                    "\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m\u{2580}",
                    top[0] as u8,
                    top[1] as u8,
                    top[2] as u8,
                    bot[0] as u8,
                    bot[1] as u8,
                    bot[2] as u8
                ));
            }
            line.push_str("\x1b[0m  ");
        }
        rows.push(line);
    }
    rows
}

fn draw_plain(tiles: &[(usize, Vec<u8>)]) -> Vec<String> {
    // Dark (dense tissue) to light (background); each character covers 2x4 pixels.
    const RAMP: &[u8] = b"@%#*+=-:. ";
    let mut rows = Vec::new();
    for ty in 0..SIDE / 4 {
        let mut line = String::new();
        for (_, px) in tiles {
            for tx in 0..HALF {
                // Centre box in character cells: columns 16..32, rows 8..16.
                let (bx, by) = ((15..=32).contains(&tx), (7..=16).contains(&ty));
                let ch = if bx && by && (tx == 15 || tx == 32) && (ty == 7 || ty == 16) {
                    '+'
                } else if bx && (ty == 7 || ty == 16) {
                    '-'
                } else if by && (tx == 15 || tx == 32) {
                    '|'
                } else {
                    let p = block(px, 2 * tx, 4 * ty, 2, 4);
                    let lum = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
                    RAMP[((lum / 256.0) * RAMP.len() as f32) as usize] as char
                };
                line.push(ch);
            }
            line.push_str("  ");
        }
        rows.push(line.trim_end().to_string());
    }
    rows
}
