//! Images at the terminal's own resolution where it has a graphics protocol: kitty's (kitty,
//! Ghostty, Konsole, WezTerm), iTerm2's inline images (iTerm2, WezTerm, mintty) and sixel (foot,
//! mlterm; xterm -ti vt340, Windows Terminal 1.22+ and others by `HISTOBOARD_GRAPHICS=sixel`,
//! since nothing in their environment says so). Panes draw
//! half blocks ([`super::halfblocks`]) as always, so every terminal, the snapshot tests and a
//! screen reader see the same cells; a pane that has pictures also returns them as
//! [`Placement`]s, and the shell writes them over those cells after each frame.
//!
//! Sixel has no scaling of its own: pictures are resampled to the cells' size in pixels, which
//! the terminal reports with its window size (no report, no sixel), and their colours reduced
//! to a palette of at most 255. Not inside tmux or screen: they pass these sequences on only
//! when configured to, and then to a place they do not know about; half blocks there too.

use ratatui::layout::Rect;

use crate::export::{base64, png_of};

/// A terminal graphics protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Kitty,
    Iterm2,
    /// With the size of a cell in pixels (width, height).
    Sixel {
        cell: [u16; 2],
    },
}

impl Protocol {
    /// Whether pictures are the cells' contents, so that the cells must be drawn again to
    /// remove them (iTerm2's and sixel's; kitty keeps its pictures apart and deletes them).
    pub fn pictures_are_cells(self) -> bool {
        !matches!(self, Protocol::Kitty)
    }
}

/// The protocol the terminal speaks, from its environment (`get` reads a variable) and, for
/// sixel, the size of its cells in pixels (`cell`): `HISTOBOARD_GRAPHICS=kitty|iterm2|sixel|off`
/// decides; else what the terminal says about itself.
pub fn detect(
    get: impl Fn(&str) -> Option<String>,
    cell: impl Fn() -> Option<[u16; 2]>,
) -> Option<Protocol> {
    let sixel = || cell().map(|cell| Protocol::Sixel { cell });
    match get("HISTOBOARD_GRAPHICS").as_deref() {
        Some("kitty") => return Some(Protocol::Kitty),
        Some("iterm2") => return Some(Protocol::Iterm2),
        Some("sixel") => return sixel(),
        Some(_) => return None,
        None => {}
    }
    let term = get("TERM").unwrap_or_default();
    if get("TMUX").is_some() || term.starts_with("screen") || term.starts_with("tmux") {
        return None;
    }
    let program = get("TERM_PROGRAM").unwrap_or_default();
    let kitty = term == "xterm-kitty" || term == "xterm-ghostty";
    if kitty || get("KITTY_WINDOW_ID").is_some() || get("KONSOLE_VERSION").is_some() {
        Some(Protocol::Kitty)
    } else if matches!(program.as_str(), "iTerm.app" | "WezTerm" | "mintty") {
        Some(Protocol::Iterm2)
    } else if term.starts_with("foot") || term.starts_with("mlterm") {
        sixel()
    } else {
        None
    }
}

/// The size of this terminal's cells in pixels, where it reports its window's.
pub fn cell_pixels() -> Option<[u16; 2]> {
    let size = crossterm::terminal::window_size().ok()?;
    (size.columns > 0 && size.rows > 0 && size.width > 0 && size.height > 0)
        .then(|| [size.width / size.columns, size.height / size.rows])
        .filter(|[w, h]| *w > 0 && *h > 0)
}

/// A square RGB picture (`side` pixels a side, 3 bytes a pixel) filling the cells of `area`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub area: Rect,
    pub side: usize,
    pub rgb: Vec<u8>,
}

/// Bytes that remove every picture this module placed. Where pictures are the cells' contents
/// the shell redraws every cell instead (and this is empty).
pub fn clear(p: Protocol) -> Vec<u8> {
    match p {
        Protocol::Kitty => b"\x1b_Ga=d,d=A,q=2\x1b\\".to_vec(),
        Protocol::Iterm2 | Protocol::Sixel { .. } => Vec::new(),
    }
}

/// Bytes that draw `pictures`, each scaled to its cells, the cursor put back where it was.
pub fn show(p: Protocol, pictures: &[Placement]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"\x1b7");
    for pic in pictures {
        let (w, h) = (pic.area.width, pic.area.height);
        if w == 0 || h == 0 || pic.rgb.len() != pic.side * pic.side * 3 {
            continue;
        }
        let payload = match p {
            Protocol::Kitty => png(&pic.rgb, pic.side).map(|png| kitty(&png, w, h)),
            Protocol::Iterm2 => png(&pic.rgb, pic.side).map(|png| iterm2(&png, w, h)),
            Protocol::Sixel { cell } => {
                let pw = usize::from(w) * usize::from(cell[0]);
                let ph = usize::from(h) * usize::from(cell[1]);
                Some(sixel(&pic.rgb, pic.side, pw, ph))
            }
        };
        let Some(payload) = payload else {
            continue;
        };
        out.extend_from_slice(format!("\x1b[{};{}H", pic.area.y + 1, pic.area.x + 1).as_bytes());
        out.extend(payload);
    }
    out.extend_from_slice(b"\x1b8");
    out
}

/// A PNG in kitty's protocol: placed now (a=T), scaled into w x h cells, no reply (q=2), the
/// cursor left where it is (C=1); the payload in chunks of at most 4096 bytes.
fn kitty(png: &[u8], w: u16, h: u16) -> Vec<u8> {
    let data = base64(png);
    let chunks: Vec<&[u8]> = data.as_bytes().chunks(4096).collect();
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let more = u8::from(i + 1 < chunks.len());
        let head = if i == 0 {
            format!("a=T,f=100,q=2,C=1,c={w},r={h},m={more}")
        } else {
            format!("m={more}")
        };
        out.extend_from_slice(format!("\x1b_G{head};").as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\x1b\\");
    }
    out
}

/// A PNG as an iTerm2 inline file stretched over w x h cells.
fn iterm2(png: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut out = format!(
        "\x1b]1337;File=inline=1;size={};width={w};height={h};preserveAspectRatio=0:",
        png.len()
    )
    .into_bytes();
    out.extend_from_slice(base64(png).as_bytes());
    out.push(0x07);
    out
}

/// The picture as sixel, resampled (nearest pixel) to `pw` x `ph` pixels. Its palette: the
/// (up to) 255 most common colours at 4 bits a channel, each the mean of its pixels; every
/// pixel is drawn in the palette colour nearest the mean of its own 4-bit colour. A tile of tissue holds a
/// few hues in many shades, which this keeps better than a fixed colour cube.
fn sixel(rgb: &[u8], side: usize, pw: usize, ph: usize) -> Vec<u8> {
    let bin = |p: &[u8]| {
        (usize::from(p[0] >> 4) << 8) | (usize::from(p[1] >> 4) << 4) | usize::from(p[2] >> 4)
    };
    // Count and colour sums of each 4-bit bin.
    let mut bins = vec![(0u32, [0u32; 3]); 4096];
    for p in rgb.chunks_exact(3) {
        let b = &mut bins[bin(p)];
        b.0 += 1;
        for (sum, &v) in b.1.iter_mut().zip(p) {
            *sum += u32::from(v);
        }
    }
    let mut used: Vec<usize> = (0..4096).filter(|&b| bins[b].0 > 0).collect();
    // Most common first; ties by bin, so the palette is the same every time.
    used.sort_by_key(|&b| (std::cmp::Reverse(bins[b].0), b));
    let mean = |b: usize| bins[b].1.map(|s| (s / bins[b].0) as i32);
    let palette: Vec<[i32; 3]> = used.iter().take(255).map(|&b| mean(b)).collect();
    let mut index = vec![0u8; 4096];
    for &b in &used {
        let c = mean(b);
        let dist = |q: &[i32; 3]| (0..3).map(|k| (c[k] - q[k]).pow(2)).sum::<i32>();
        let nearest = (0..palette.len()).min_by_key(|&i| (dist(&palette[i]), i));
        index[b] = nearest.unwrap_or(0) as u8;
    }
    let pixel = |x: usize, y: usize| {
        let (sx, sy) = (x * side / pw, y * side / ph);
        index[bin(&rgb[(sy * side + sx) * 3..][..3])]
    };
    // DCS with P2 = 1 (unset pixels keep what is behind them), the size, the palette in percent.
    let mut out = format!("\x1bP0;1;0q\"1;1;{pw};{ph}").into_bytes();
    for (i, c) in palette.iter().enumerate() {
        let [r, g, b] = c.map(|v| (v * 100 + 127) / 255);
        out.extend_from_slice(format!("#{i};2;{r};{g};{b}").as_bytes());
    }
    // Each band of 6 rows: per colour in it, one line of sixels (bit k = row k of the band),
    // runs of four or more as `!n`, lines joined by `$` (back to the band's start), bands by `-`.
    let mut masks = vec![0u8; palette.len() * pw];
    for top in (0..ph).step_by(6) {
        masks.fill(0);
        let mut present = vec![false; palette.len()];
        for y in top..(top + 6).min(ph) {
            for x in 0..pw {
                let i = usize::from(pixel(x, y));
                masks[i * pw + x] |= 1 << (y - top);
                present[i] = true;
            }
        }
        let mut first = true;
        for (i, _) in present.iter().enumerate().filter(|(_, p)| **p) {
            if !first {
                out.push(b'$');
            }
            first = false;
            out.extend_from_slice(format!("#{i}").as_bytes());
            let line = &masks[i * pw..][..pw];
            let end = line.iter().rposition(|&m| m != 0).map_or(0, |e| e + 1);
            let mut x = 0;
            while x < end {
                let run = line[x..end].iter().take_while(|&&m| m == line[x]).count();
                let ch = 63 + line[x];
                if run >= 4 {
                    out.extend_from_slice(format!("!{run}").as_bytes());
                    out.push(ch);
                } else {
                    out.extend(std::iter::repeat_n(ch, run));
                }
                x += run;
            }
        }
        out.push(b'-');
    }
    out.extend_from_slice(b"\x1b\\");
    out
}

/// The picture as PNG, None if the encoder refuses it.
fn png(rgb: &[u8], side: usize) -> Option<Vec<u8>> {
    png_of(side as u32, side as u32, rgb).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn terminals_are_recognised_and_multiplexers_keep_half_blocks() {
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<Protocol>);
        let cases: [Case; 9] = [
            (&[("TERM", "xterm-kitty")], Some(Protocol::Kitty)),
            (
                &[("TERM", "xterm-256color"), ("KITTY_WINDOW_ID", "1")],
                Some(Protocol::Kitty),
            ),
            (&[("TERM", "xterm-ghostty")], Some(Protocol::Kitty)),
            (&[("TERM_PROGRAM", "iTerm.app")], Some(Protocol::Iterm2)),
            (&[("TERM_PROGRAM", "WezTerm")], Some(Protocol::Iterm2)),
            (&[("TERM", "xterm-256color")], None),
            (
                &[("TERM", "xterm-kitty"), ("TMUX", "/tmp/tmux-0/default,1,0")],
                None,
            ),
            (
                &[("TERM", "screen-256color"), ("TERM_PROGRAM", "iTerm.app")],
                None,
            ),
            (
                &[("TERM", "xterm-kitty"), ("HISTOBOARD_GRAPHICS", "off")],
                None,
            ),
        ];
        let cell = || Some([10, 20]);
        for (vars, want) in cases {
            assert_eq!(detect(env(vars), cell), want, "{vars:?}");
        }
        let forced = env(&[("TMUX", "x"), ("HISTOBOARD_GRAPHICS", "iterm2")]);
        assert_eq!(detect(forced, cell), Some(Protocol::Iterm2));
        // Sixel: foot and mlterm say so; others only by the override; none without a cell size.
        let sixel = Some(Protocol::Sixel { cell: [10, 20] });
        assert_eq!(detect(env(&[("TERM", "foot")]), cell), sixel);
        assert_eq!(detect(env(&[("TERM", "mlterm")]), cell), sixel);
        assert_eq!(
            detect(env(&[("HISTOBOARD_GRAPHICS", "sixel")]), cell),
            sixel
        );
        assert_eq!(detect(env(&[("TERM", "foot")]), || None), None);
        assert_eq!(detect(env(&[("TERM", "foot"), ("TMUX", "x")]), cell), None);
    }

    /// The sixel data of `bytes` decoded: its size, its palette (0-255 a channel) and the
    /// palette entry of every pixel (None where none was drawn).
    fn decode_sixel(bytes: &[u8]) -> (usize, usize, Vec<[u8; 3]>, Vec<Option<usize>>) {
        let text = std::str::from_utf8(bytes).unwrap();
        let body = text.strip_prefix("\x1bP0;1;0q").unwrap();
        let body = body.strip_suffix("\x1b\\").unwrap();
        let mut chars = body.chars().peekable();
        fn num(chars: &mut std::iter::Peekable<std::str::Chars>) -> usize {
            let mut n = 0;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n * 10 + d as usize;
                chars.next();
            }
            n
        }
        let fields = |chars: &mut std::iter::Peekable<std::str::Chars>, count: usize| {
            (0..count)
                .map(|k| {
                    if k > 0 {
                        assert_eq!(chars.next(), Some(';'));
                    }
                    num(chars)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(chars.next(), Some('"'));
        let raster = fields(&mut chars, 4);
        let (pw, ph) = (raster[2], raster[3]);
        let mut palette = Vec::new();
        let mut pixels = vec![None; pw * ph];
        let (mut x, mut band, mut color) = (0, 0, 0);
        while let Some(c) = chars.next() {
            let (ch, n) = match c {
                '#' => {
                    let i = num(&mut chars);
                    if chars.peek() == Some(&';') {
                        chars.next();
                        let f = fields(&mut chars, 4);
                        assert_eq!(f[0], 2, "RGB in percent");
                        palette.resize(palette.len().max(i + 1), [0; 3]);
                        palette[i] = [f[1], f[2], f[3]].map(|v| (v * 255 / 100) as u8);
                    } else {
                        color = i;
                    }
                    continue;
                }
                '$' => {
                    x = 0;
                    continue;
                }
                '-' => {
                    (x, band) = (0, band + 1);
                    continue;
                }
                '!' => {
                    let n = num(&mut chars);
                    (chars.next().unwrap(), n)
                }
                c => (c, 1),
            };
            let bits = (ch as u32).checked_sub(63).filter(|b| *b < 64).unwrap();
            for _ in 0..n {
                for k in 0..6 {
                    if bits & (1 << k) != 0 {
                        assert!(x < pw && band * 6 + k < ph, "pixel outside the picture");
                        pixels[(band * 6 + k) * pw + x] = Some(color);
                    }
                }
                x += 1;
            }
        }
        (pw, ph, palette, pixels)
    }

    #[test]
    fn sixel_draws_every_pixel_in_its_colour_resampled_to_the_cells() {
        // Five colours in stripes and a block, 8 pixels a side, onto 2x1 cells of 9x7 pixels:
        // 18 x 7, so one band and a short second one.
        let colours = [
            [200, 60, 120],
            [250, 250, 250],
            [90, 40, 160],
            [0, 0, 0],
            [30, 200, 90],
        ];
        let side = 8;
        let at = |x: usize, y: usize| colours[if x < 2 && y < 2 { 4 } else { (x + y / 3) % 4 }];
        let rgb: Vec<u8> = (0..side * side)
            .flat_map(|i| at(i % side, i / side))
            .collect();
        let pic = Placement {
            area: Rect::new(3, 1, 2, 1),
            side,
            rgb,
        };
        let bytes = show(Protocol::Sixel { cell: [9, 7] }, std::slice::from_ref(&pic));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("\x1b7\x1b[2;4H\x1bP"), "{:?}", &text[..12]);
        assert!(text.ends_with("\x1b\\\x1b8"));
        let start = text.find("\x1bP").unwrap();
        let (pw, ph, palette, pixels) = decode_sixel(&bytes[start..bytes.len() - 2]);
        assert_eq!((pw, ph), (18, 7));
        assert_eq!(palette.len(), 5);
        for y in 0..ph {
            for x in 0..pw {
                let want = at(x * side / pw, y * side / ph);
                let got = palette[pixels[y * pw + x].expect("every pixel drawn")];
                for k in 0..3 {
                    assert!(
                        got[k].abs_diff(want[k]) <= 3,
                        "({x}, {y}): {got:?} vs {want:?}"
                    );
                }
            }
        }
        assert!(clear(Protocol::Sixel { cell: [9, 7] }).is_empty());
    }

    #[test]
    fn sixel_keeps_255_colours_at_most_and_shortens_runs() {
        // Over a thousand colours.
        let side = 32;
        let rgb: Vec<u8> = (0..side * side)
            .flat_map(|p| [p * 37 % 256, p * 91 % 256, p * 13 % 256].map(|v| v as u8))
            .collect();
        let (pw, ph, palette, pixels) = decode_sixel(&sixel(&rgb, side, 40, 30));
        assert_eq!((pw, ph), (40, 30));
        assert!(
            palette.len() <= 255 && palette.len() > 100,
            "{}",
            palette.len()
        );
        assert!(pixels.iter().all(Option::is_some));
        // One colour across: each band is one run.
        let flat = vec![128u8; side * side * 3];
        let bytes = sixel(&flat, side, 200, 12);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.matches("!200~").count(), 2, "{text}");
        let (_, _, palette, pixels) = decode_sixel(&bytes);
        assert_eq!(palette, vec![[127, 127, 127]]);
        assert!(pixels.iter().all(|p| *p == Some(0)));
    }

    /// The payload of every `ESC _G ... ESC \` command of `bytes`, with its keys.
    fn kitty_commands(bytes: &[u8]) -> Vec<(String, String)> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        text.split("\x1b_G")
            .skip(1)
            .map(|c| {
                let body = &c[..c.find("\x1b\\").unwrap()];
                let (keys, data) = body.split_once(';').unwrap_or((body, ""));
                (keys.to_string(), data.to_string())
            })
            .collect()
    }

    #[test]
    fn kitty_sends_a_png_in_chunks_scaled_to_its_cells() {
        // Noise, so the PNG is larger than one 4096-byte chunk.
        let side = 96;
        let rgb: Vec<u8> = (0..side * side * 3)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
            .collect();
        let pic = Placement {
            area: Rect::new(4, 2, 16, 8),
            side,
            rgb,
        };
        let bytes = show(Protocol::Kitty, std::slice::from_ref(&pic));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with("\x1b7\x1b[3;5H\x1b_G"),
            "{:?}",
            &text[..20]
        );
        assert!(text.ends_with("\x1b\\\x1b8"));
        let cmds = kitty_commands(&bytes);
        assert!(cmds.len() > 1, "several chunks");
        assert_eq!(cmds[0].0, "a=T,f=100,q=2,C=1,c=16,r=8,m=1");
        assert!(cmds[1..cmds.len() - 1].iter().all(|c| c.0 == "m=1"));
        assert_eq!(cmds.last().unwrap().0, "m=0");
        assert!(cmds.iter().all(|c| c.1.len() <= 4096));
        let data: String = cmds.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(data, base64(&png(&pic.rgb, side).unwrap()));
        assert_eq!(kitty_commands(&clear(Protocol::Kitty))[0].0, "a=d,d=A,q=2");
    }

    #[test]
    fn iterm2_sends_one_inline_file_sized_in_cells() {
        let pic = Placement {
            area: Rect::new(0, 0, 8, 4),
            side: 2,
            rgb: vec![200; 12],
        };
        let text = String::from_utf8(show(Protocol::Iterm2, std::slice::from_ref(&pic))).unwrap();
        let png = png(&pic.rgb, 2).unwrap();
        let want = format!(
            "\x1b7\x1b[1;1H\x1b]1337;File=inline=1;size={};width=8;height=4;preserveAspectRatio=0:{}\x07\x1b8",
            png.len(),
            base64(&png)
        );
        assert_eq!(text, want);
        // A picture of the wrong size is left out rather than sent garbled.
        let bad = Placement {
            rgb: vec![0; 5],
            ..pic
        };
        assert_eq!(show(Protocol::Iterm2, &[bad]), b"\x1b7\x1b8");
    }
}
