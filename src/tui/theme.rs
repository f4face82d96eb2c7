//! Colours and glyphs, honouring `NO_COLOR` and `--ascii`.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::{self, Marker};
use ratatui::text::Line;
use ratatui::widgets::Block;

use super::app::App;
use crate::runs::RunStatus;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
    /// 24-bit colour for images; else their colours come from the 256-colour palette.
    pub truecolor: bool,
}

const ASCII_BORDER: symbols::border::Set = symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

const ASCII_BARS: symbols::bar::Set = symbols::bar::Set {
    full: "#",
    seven_eighths: "#",
    three_quarters: "=",
    five_eighths: "=",
    half: "-",
    three_eighths: "-",
    one_quarter: "_",
    one_eighth: ".",
    empty: " ",
};

/// Series colours for overlays, distinct on 16-colour terminals.
const PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::LightRed,
    Color::LightBlue,
    Color::White,
    Color::LightGreen,
];

impl Theme {
    pub fn of(app: &App) -> Theme {
        Theme {
            color: !app.no_color,
            ascii: app.ascii,
            truecolor: app.truecolor,
        }
    }

    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Bold yellow: key labels, prompts, the sorted column.
    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// A dimmed bold table header.
    pub fn header(&self) -> Style {
        self.dim().add_modifier(Modifier::BOLD)
    }

    /// An outcome message: red when it is an error, else green.
    pub fn outcome(&self, err: bool) -> Style {
        self.fg(if err { Color::Red } else { Color::Green })
    }

    pub fn selected(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }

    pub fn status(&self, s: RunStatus) -> Style {
        self.fg(match s {
            RunStatus::Queued => Color::Gray,
            RunStatus::Running => Color::Cyan,
            RunStatus::Finished => Color::Green,
            RunStatus::Failed => Color::Red,
            RunStatus::Cancelled => Color::Yellow,
            RunStatus::Lost => Color::Magenta,
            RunStatus::Damaged => Color::Red,
        })
    }

    pub fn marker(&self) -> Marker {
        if self.ascii {
            Marker::Dot
        } else {
            Marker::Braille
        }
    }

    /// Sparkline bars: eighths, or ASCII steps.
    pub fn bars(&self) -> symbols::bar::Set {
        if self.ascii {
            ASCII_BARS
        } else {
            symbols::bar::NINE_LEVELS
        }
    }

    /// Series `i` of an overlay: a colour, or without colour a distinct marker (told apart
    /// in the legend by [`Theme::legend_glyph`]). Braille is kept for faint lines (raw curves
    /// under a smoothed one, the ROC chance line), so no series looks faint.
    pub fn series(&self, i: usize) -> (Style, Marker) {
        if self.color {
            (Style::new().fg(PALETTE[i % PALETTE.len()]), self.marker())
        } else {
            // `--ascii` turns these into `*`, `o` and `#` (see `asciify`).
            let markers = [Marker::Dot, Marker::Bar, Marker::Block];
            (Style::new(), markers[i % markers.len()])
        }
    }

    /// A faint line: the raw curve under its smoothed one, the ROC chance diagonal. Grey where
    /// there is colour; else thin braille dots (ratatui draws chart points in colour only,
    /// never dimmed).
    pub fn faint(&self, marker: Marker) -> (Style, Marker) {
        if self.color {
            (self.dim(), marker)
        } else {
            (Style::new(), Marker::Braille)
        }
    }

    /// What a series' marker looks like, for legends: without colour the marker is all that
    /// tells series apart, and ratatui's legend does not show it.
    pub fn legend_glyph(marker: Marker) -> &'static str {
        match marker {
            Marker::Dot => "•",
            Marker::Bar => "▄",
            Marker::Block | Marker::HalfBlock => "█",
            Marker::Braille => "⠤",
        }
    }

    /// A series' name as legends show it: with its marker when colour cannot tell it apart.
    pub fn legend_name(&self, name: &str, marker: Marker) -> String {
        if self.color {
            name.to_string()
        } else {
            format!("{} {name}", Theme::legend_glyph(marker))
        }
    }

    pub fn block<'a>(&self, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
        let b = Block::bordered().title(title);
        let b = if self.ascii {
            b.border_set(ASCII_BORDER)
        } else {
            b
        };
        if focused {
            b.border_style(if self.color {
                Style::new().fg(Color::Cyan)
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            })
        } else {
            b.border_style(self.dim())
        }
    }

    pub fn ok_mark(&self, ok: bool) -> &'static str {
        match (ok, self.ascii) {
            (true, false) => "✓",
            (false, false) => "✗",
            (true, true) => "+",
            (false, true) => "!",
        }
    }

    /// An image pixel's colour: itself with 24-bit colour, else the nearest of the 256-colour
    /// palette's 6x6x6 cube and grey ramp.
    pub fn rgb(&self, c: [u8; 3]) -> Color {
        if self.truecolor {
            Color::Rgb(c[0], c[1], c[2])
        } else {
            Color::Indexed(ansi256(c))
        }
    }

    /// Picks the Unicode or the ASCII form of a glyph.
    pub fn glyph(&self, unicode: &'static str, ascii: &'static str) -> &'static str {
        if self.ascii { ascii } else { unicode }
    }
}

/// The 256-colour palette index nearest `c`: the 6x6x6 cube (16..=231) or the grey ramp
/// (232..=255), whichever is closer.
pub fn ansi256(c: [u8; 3]) -> u8 {
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let level = |v: u8| {
        (0..6)
            .min_by_key(|&i| (LEVELS[i] as i32 - v as i32).abs())
            .unwrap_or(0)
    };
    let (r, g, b) = (level(c[0]), level(c[1]), level(c[2]));
    let cube = [LEVELS[r], LEVELS[g], LEVELS[b]];
    let mean = (c[0] as u32 + c[1] as u32 + c[2] as u32) / 3;
    let grey_i = ((mean.saturating_sub(8)) / 10).min(23) as u8;
    let grey = 8 + 10 * grey_i;
    let dist = |p: [u8; 3]| -> i32 { (0..3).map(|k| (p[k] as i32 - c[k] as i32).pow(2)).sum() };
    if dist([grey; 3]) < dist(cube) {
        232 + grey_i
    } else {
        16 + 36 * r as u8 + 6 * g as u8 + b as u8
    }
}

/// Replaces the glyphs ratatui hard-codes (chart axes, legends, chart markers) with ASCII,
/// so `--ascii` holds for every widget. Each chart marker gets its own character, so series
/// stay apart without colour: `•` `*`, `▄` `o`, `█` `#`, braille (faint lines) `.`.
pub fn asciify(buf: &mut Buffer) {
    for cell in buf.content.iter_mut() {
        let ascii = match cell.symbol() {
            "│" | "┃" | "║" => "|",
            "─" | "━" | "═" => "-",
            "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" | "╭" | "╮" | "╰" | "╯" => {
                "+"
            }
            "•" => "*",
            "▄" => "o",
            "█" | "▀" => "#",
            // The blank braille pattern is an empty cell.
            "\u{2800}" => " ",
            s if s
                .chars()
                .next()
                .is_some_and(|c| ('\u{2801}'..='\u{28ff}').contains(&c)) =>
            {
                "."
            }
            _ => continue,
        };
        cell.set_symbol(ascii);
    }
}
