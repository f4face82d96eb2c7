//! The `?` overlay: every key binding, generated from the key map.

use ratatui::prelude::*;
use ratatui::widgets::{Clear, Paragraph};

use crate::tui::action::Action;
use crate::tui::keymap::{self, Binding};
use crate::tui::layout;
use crate::tui::theme::Theme;

/// Scrolls or closes the overlay; `help` is its scroll offset, `None` when closed.
pub fn on_action(help: &mut Option<u16>, action: Action) {
    match action {
        Action::Back | Action::ToggleHelp => *help = None,
        Action::Up => *help = help.map(|s| s.saturating_sub(1)),
        Action::Down => *help = help.map(|s| s + 1),
        _ => {}
    }
}

pub fn draw(f: &mut Frame, keys: &[Binding], scroll: u16, t: &Theme, area: Rect) {
    let r = layout::centered(area, 72, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let lines: Vec<Line> = keymap::help_lines(keys, t.ascii)
        .into_iter()
        .map(|(head, text)| match head {
            Some(h) => Line::styled(h, t.fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            None => Line::from(text),
        })
        .collect();
    let max_scroll = (lines.len() as u16).saturating_sub(r.height.saturating_sub(2));
    let p = Paragraph::new(lines)
        .scroll((scroll.min(max_scroll), 0))
        .block(t.block(" Help (Esc closes, j/k scroll) ", true));
    f.render_widget(p, r);
}
