//! The `?` overlay: every key binding, generated from the key map.

use ratatui::prelude::*;
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::action::Action;
use crate::tui::keymap::{self, Binding};
use crate::tui::layout;
use crate::tui::theme::Theme;

/// Scrolls or closes the overlay; `help` is its scroll offset, `None` when closed. `max` is
/// [`max_scroll`]: the offset that shows the last line at the bottom.
pub fn on_action(help: &mut Option<u16>, action: Action, max: u16) {
    let Some(cur) = *help else {
        return;
    };
    let page = 10;
    *help = match action {
        Action::Back | Action::ToggleHelp => None,
        Action::Up => Some(cur.saturating_sub(1)),
        Action::Down => Some(cur.saturating_add(1)),
        Action::PageUp => Some(cur.saturating_sub(page)),
        Action::PageDown => Some(cur.saturating_add(page)),
        Action::Top => Some(0),
        Action::Bottom => Some(max),
        _ => Some(cur),
    }
    .map(|s| s.min(max));
}

/// The overlay's area on a screen of `size`.
fn area(size: Rect) -> Rect {
    layout::centered(size, 72, size.height.saturating_sub(2))
}

/// The largest useful scroll offset on a screen of `size`.
pub fn max_scroll(keys: &[Binding], size: Rect, ascii: bool) -> u16 {
    let lines = keymap::help_lines(keys, ascii).len() as u16;
    lines.saturating_sub(area(size).height.saturating_sub(2))
}

pub fn draw(f: &mut Frame, keys: &[Binding], scroll: u16, t: &Theme, size: Rect) {
    let r = area(size);
    f.render_widget(Clear, r);
    let lines: Vec<Line> = keymap::help_lines(keys, t.ascii)
        .into_iter()
        .map(|(head, text)| match head {
            Some(h) => Line::styled(h, t.fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            None => Line::from(text),
        })
        .collect();
    let max = max_scroll(keys, size, t.ascii);
    let p = Paragraph::new(lines)
        .scroll((scroll.min(max), 0))
        .block(t.block(" Help (Esc closes, j/k g/G scroll) ", true));
    f.render_widget(p, r);
}
