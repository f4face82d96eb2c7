//! The Log tab: the folder's problems first, then the run's log (the trainer's messages with
//! the run's starts, epochs, cancellations and end), scrolled back from the newest line.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use crate::runs::{LogLevel, RunState};
use crate::tui::{app::App, format::fmt_duration, theme::Theme};

/// The problem lines, and the rows they take at the top of `area`.
fn problem_lines<'a>(run: &RunState, t: &Theme, area: Rect) -> (Vec<Line<'a>>, u16) {
    let lines: Vec<Line> = run
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
    let shown = (lines.len() as u16).min(area.height / 2);
    (lines, shown)
}

/// How far back the log can scroll in `area`: to its first line at the top.
pub fn max_scroll(run: &RunState, area: Rect) -> u16 {
    let problems = run.problems.len() + usize::from(run.problem_count > run.problems.len());
    let rows = area.height - (problems as u16).min(area.height / 2);
    (run.log.len().min(u16::MAX as usize) as u16).saturating_sub(rows)
}

/// `+1m05s` after the run's first start, `-2s` before it (the trainer opens its data first).
fn offset(t: f64, start: f64) -> String {
    let sign = if t < start { '-' } else { '+' };
    format!("{sign}{:>7}", fmt_duration((t - start).abs()))
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let max = max_scroll(run, area);
    // Damage first: it explains whatever the rest of the run shows.
    let (problems, shown) = problem_lines(run, t, area);
    let [problem_area, area] =
        Layout::vertical([Constraint::Length(shown), Constraint::Min(0)]).areas(area);
    if shown > 0 {
        f.render_widget(Paragraph::new(problems), problem_area);
    }
    let h = area.height as usize;
    let skip_from_end = app.detail_scroll.min(max) as usize;
    let n = run.log.len();
    let end = n.saturating_sub(skip_from_end);
    let start = end.saturating_sub(h);
    // Before the `started` event only log lines exist: time them from the first.
    let start_t = run
        .started_at
        .or_else(|| run.log.front().map(|l| l.t))
        .unwrap_or(0.0);
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
                Span::styled(format!("{} ", offset(l.t, start_t)), t.dim()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_signed() {
        assert_eq!(offset(105.0, 100.0), "+     5s");
        assert_eq!(offset(98.0, 100.0), "-     2s");
        assert_eq!(offset(100.0, 100.0), "+     0s");
    }
}
