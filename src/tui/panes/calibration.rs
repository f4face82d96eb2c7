//! The Calibration tab: the validation reliability diagram and ECE of the chosen epoch (stepped
//! with `[`, `]`, `b`, as the confusion and ROC tabs are), its bins, and the run's fitted
//! temperature (`calibration.toml`) when it has one.

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Wrap};

use super::confusion::epoch_header;
use crate::runs::{EpochSummary, RunState};
use crate::tui::{app::App, chart::reliability_chart, theme::Theme};

/// Width of the column of figures beside the chart, when the tab is wide enough for both.
const SIDE_WIDTH: u16 = 40;

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let Some((i, body)) = epoch_header(f, app, t, run, area) else {
        return;
    };
    let e = &run.completed[i];
    if body.width >= SIDE_WIDTH + 30 {
        let [chart, side] =
            Layout::horizontal([Constraint::Min(30), Constraint::Length(SIDE_WIDTH)]).areas(body);
        reliability_chart(f, t, &e.valid, chart, e.epoch);
        let mut lines = summary(t, run, e);
        lines.push(Line::raw(""));
        lines.extend(bins(t, e));
        let side = Rect {
            x: side.x + 1,
            width: side.width - 1,
            ..side
        };
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), side);
    } else {
        let lines = summary(t, run, e);
        let [chart, text] =
            Layout::vertical([Constraint::Min(6), Constraint::Length(lines.len() as u16)])
                .areas(body);
        reliability_chart(f, t, &e.valid, chart, e.epoch);
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text);
    }
}

/// The epoch's ECE and what the run's temperature did, or how to fit one.
fn summary<'a>(t: &Theme, run: &RunState, e: &EpochSummary) -> Vec<Line<'a>> {
    let m = &e.valid;
    let ece = if m.ece.is_nan() {
        "ECE unknown (a stream from before ECE was recorded)".to_string()
    } else {
        format!("ECE {:.4} over {} tiles", m.ece, m.n)
    };
    let mut lines = vec![Line::raw(ece)];
    let arrow = t.glyph("→", "->");
    match &run.calibration {
        Some(c) => {
            lines.push(Line::styled(
                format!(
                    "temperature {:.3}, fitted on epoch {}",
                    c.temperature, c.epoch
                ),
                t.fg(Color::Green),
            ));
            lines.push(Line::raw(format!(
                "ECE {:.3} {arrow} {:.3}, NLL {:.3} {arrow} {:.3}",
                c.ece_before, c.ece_after, c.nll_before, c.nll_after
            )));
            if run.best_epoch.is_some_and(|b| b != c.epoch) {
                // Resumed since: the best checkpoint is another model; eval leaves it be.
                lines.push(Line::styled(
                    "stale: the best epoch changed since; calibrate again",
                    t.fg(Color::Yellow),
                ));
            } else if c.epoch != e.epoch {
                lines.push(Line::styled(
                    format!("(this is epoch {}: b shows the best)", e.epoch),
                    t.dim(),
                ));
            }
        }
        None => {
            lines.push(Line::styled("no temperature fitted", t.dim()));
            lines.push(Line::styled(
                format!("histoboard calibrate runs/{}", run.id),
                t.dim(),
            ));
        }
    }
    lines
}

/// The bins as a small table: range, tiles, mean predicted, observed; a bin far off the
/// diagonal stands out.
fn bins<'a>(t: &Theme, e: &EpochSummary) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled(
        "bin        tiles  predicted  observed",
        t.header(),
    )];
    for b in &e.valid.reliability {
        let text = format!(
            "{:.2}-{:.2} {:>6} {:>10.3} {:>9.3}",
            b.lo, b.hi, b.count, b.mean_prob, b.observed
        );
        let off = (b.observed - b.mean_prob).abs() > 0.1;
        lines.push(if off {
            Line::styled(text, t.fg(Color::Yellow))
        } else {
            Line::raw(text)
        });
    }
    lines
}
