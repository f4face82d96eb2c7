//! Images in the terminal as half blocks: each cell is `▀` with the upper pixel as its
//! foreground and the lower as its background (24-bit colour, else the 256-colour palette; see
//! [`Theme::rgb`]). With `--ascii`, a cell is a space in the two pixels' mean colour; without
//! colour, a character of a dark-to-light ramp.
//!
//! Not `ratatui-image`: its 8.1 release resolves against our ratatui 0.29 and image 0.25, but
//! adds second copies of rand (0.8, with rand_core 0.6 and getrandom 0.2) and thiserror (1.x)
//! to `cargo tree -d`, and its terminal graphics (kitty, sixel, iTerm2) need a stateful
//! protocol object per image, encoded for its area and queried from the terminal at start-up,
//! which fits neither the pure `App::update` nor a `&App` draw. Half blocks need neither.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::Widget;

use super::theme::Theme;

/// An RGB image (row-major, 3 bytes a pixel), `width` cells wide and `height / 2` high.
pub struct HalfBlocks<'a> {
    pub rgb: &'a [u8],
    pub width: usize,
    pub height: usize,
    pub theme: Theme,
}

impl Widget for HalfBlocks<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        const RAMP: &[u8] = b"@%#*+=-:. ";
        let px = |x: usize, y: usize| -> [u8; 3] {
            let i = 3 * (y.min(self.height - 1) * self.width + x);
            self.rgb
                .get(i..i + 3)
                .map_or([0; 3], |p| [p[0], p[1], p[2]])
        };
        if self.width == 0 || self.height == 0 {
            return;
        }
        let rows = self.height.div_ceil(2).min(area.height as usize);
        let cols = self.width.min(area.width as usize);
        for cy in 0..rows {
            for cx in 0..cols {
                let (top, bottom) = (px(cx, 2 * cy), px(cx, 2 * cy + 1));
                let cell = &mut buf[(area.x + cx as u16, area.y + cy as u16)];
                if !self.theme.color {
                    let lum = |p: [u8; 3]| {
                        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
                    };
                    let l = (lum(top) + lum(bottom)) / 2.0;
                    let k = ((l / 256.0) * RAMP.len() as f32) as usize;
                    cell.set_char(RAMP[k.min(RAMP.len() - 1)] as char)
                        .set_style(Style::reset());
                } else if self.theme.ascii {
                    let mean = [0, 1, 2].map(|k| ((top[k] as u16 + bottom[k] as u16) / 2) as u8);
                    cell.set_char(' ')
                        .set_style(Style::new().bg(self.theme.rgb(mean)));
                } else {
                    cell.set_char('▀').set_style(
                        Style::new()
                            .fg(self.theme.rgb(top))
                            .bg(self.theme.rgb(bottom)),
                    );
                }
            }
        }
    }
}

/// `rgb` (a square of `side` pixels) averaged down to `to` pixels a side (`side` a multiple).
pub fn downscale(rgb: &[u8], side: usize, to: usize) -> Vec<u8> {
    let f = (side / to.max(1)).max(1);
    let mut out = Vec::with_capacity(to * to * 3);
    for y in 0..to {
        for x in 0..to {
            let mut s = [0u32; 3];
            for yy in y * f..(y + 1) * f {
                for xx in x * f..(x + 1) * f {
                    let i = 3 * (yy * side + xx);
                    for (k, v) in s.iter_mut().enumerate() {
                        *v += *rgb.get(i + k).unwrap_or(&0) as u32;
                    }
                }
            }
            out.extend(s.map(|v| (v / (f * f) as u32) as u8));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    #[test]
    fn each_cell_holds_two_pixels() {
        // 1x2: red above blue.
        let rgb = [255, 0, 0, 0, 0, 255];
        let mut buf = Buffer::empty(Rect::new(0, 0, 1, 1));
        let theme = Theme {
            color: true,
            ascii: false,
            truecolor: true,
        };
        HalfBlocks {
            rgb: &rgb,
            width: 1,
            height: 2,
            theme,
        }
        .render(buf.area, &mut buf);
        let c = &buf[(0, 0)];
        assert_eq!(c.symbol(), "▀");
        assert_eq!((c.fg, c.bg), (Color::Rgb(255, 0, 0), Color::Rgb(0, 0, 255)));
        let theme = Theme {
            truecolor: false,
            ..theme
        };
        HalfBlocks {
            rgb: &rgb,
            width: 1,
            height: 2,
            theme,
        }
        .render(buf.area, &mut buf);
        let c = &buf[(0, 0)];
        assert_eq!((c.fg, c.bg), (Color::Indexed(196), Color::Indexed(21)));
    }

    #[test]
    fn downscaling_averages_blocks() {
        let rgb: Vec<u8> = [10u8, 20, 30, 40].iter().flat_map(|&v| [v; 3]).collect();
        assert_eq!(downscale(&rgb, 2, 1), vec![25; 3]);
    }
}
