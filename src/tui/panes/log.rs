//! The Log tab: the folder's problems first, then the run's log, scrolled from the end.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use crate::runs::{LogLevel, RunState};
use crate::tui::{app::App, format::fmt_duration, theme::Theme};

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    // Damage first: it explains whatever the rest of the run shows.
    let problems: Vec<Line> = run
        .problems
        .iter()
        .map(|p| Line::styled(format!("! {p}"), t.fg(Color::Red)))
        .chain((run.problem_count > run.problems.len()).then(|| {
            Line::styled(
                format!("! ... and {} more", run.problem_count - run.problems.len()),
                t.fg(Color::Red),
            )
        }))
        .collect();
    let shown = (problems.len() as u16).min(area.height / 2);
    let [problem_area, area] =
        Layout::vertical([Constraint::Length(shown), Constraint::Min(0)]).areas(area);
    if shown > 0 {
        f.render_widget(Paragraph::new(problems), problem_area);
    }
    let h = area.height as usize;
    let skip_from_end = app.detail_scroll as usize;
    let n = run.log.len();
    let end = n.saturating_sub(skip_from_end);
    let start = end.saturating_sub(h);
    let start_t = run.started_at.unwrap_or(0.0);
    let lines: Vec<Line> = run
        .log
        .iter()
        .skip(start)
        .take(end - start)
        .map(|l| {
            let style = match l.level {
                LogLevel::Info => Style::new(),
                LogLevel::Warn => t.fg(Color::Yellow),
                LogLevel::Error => t.fg(Color::Red),
            };
            Line::from(vec![
                Span::styled(format!("+{:>7} ", fmt_duration(l.t - start_t)), t.dim()),
                Span::styled(l.message.clone(), style),
            ])
        })
        .collect();
    if lines.is_empty() {
        f.render_widget(Paragraph::new("no log lines yet").style(t.dim()), area);
    } else {
        f.render_widget(Paragraph::new(lines), area);
    }
}
