//! The Config tab: the run's resolved configuration as it recorded it.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use crate::runs::RunState;
use crate::tui::app::App;

/// The scroll offset that shows the configuration's last line at the bottom of `area`.
pub fn max_scroll(run: &RunState, area: Rect) -> u16 {
    let lines = run.config.lines().count().min(u16::MAX as usize) as u16;
    lines.saturating_sub(area.height)
}

pub fn draw(f: &mut Frame, app: &App, run: &RunState, area: Rect) {
    let text = if run.config.is_empty() {
        "no configuration recorded yet".to_string()
    } else {
        run.config.clone()
    };
    // The scroll may predate a smaller window or another run.
    let scroll = app.detail_scroll.min(max_scroll(run, area));
    f.render_widget(Paragraph::new(text).scroll((scroll, 0)), area);
}
