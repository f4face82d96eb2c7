//! The Config tab: the run's resolved configuration as it recorded it.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use crate::runs::RunState;
use crate::tui::app::App;

pub fn draw(f: &mut Frame, app: &App, run: &RunState, area: Rect) {
    let text = if run.config.is_empty() {
        "no configuration recorded yet".to_string()
    } else {
        run.config.clone()
    };
    f.render_widget(Paragraph::new(text).scroll((app.detail_scroll, 0)), area);
}
