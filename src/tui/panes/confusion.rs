//! The Confusion tab: the validation confusion matrix of one epoch (stepped with `[`, `]`,
//! `b`) and its metrics. The epoch caption is shared with the ROC tab.

use ratatui::prelude::*;
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use crate::metrics::Confusion;
use crate::runs::RunState;
use crate::tui::{app::App, theme::Theme};

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    if let Some((i, body)) = epoch_header(f, app, t, run, area) {
        draw_matrix(f, t, run, i, body);
    }
}

/// The caption line of the per-epoch tabs (confusion, ROC, calibration): which epoch is shown and how to
/// step. Returns the epoch index and the area below, or `None` before the first epoch ends.
pub fn epoch_header(
    f: &mut Frame,
    app: &App,
    t: &Theme,
    run: &RunState,
    area: Rect,
) -> Option<(usize, Rect)> {
    let Some(i) = app.cm_index(run) else {
        f.render_widget(Paragraph::new("no epoch finished yet"), area);
        return None;
    };
    let [cap, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let e = &run.completed[i];
    let best = run.best_epoch == Some(e.epoch);
    let best = if best { ", best" } else { "" };
    // No epoch chosen: the view follows the latest.
    let follow = app.cm_epoch.map_or(", latest", |_| "");
    let caption = format!("epoch {}/{}{best}{follow}", e.epoch, run.epochs);
    let caption = format!("{caption}   [ / ] step epochs, b best");
    f.render_widget(Paragraph::new(caption).style(t.dim()), cap);
    Some((i, body))
}

/// The validation confusion matrix of epoch index `i` (counts and row rates) and its metrics.
pub fn draw_matrix(f: &mut Frame, t: &Theme, run: &RunState, i: usize, area: Rect) {
    let m = &run.completed[i].valid;
    let c: Confusion = m.confusion;
    let neg = (c.tn + c.fp).max(1) as f64;
    let pos = (c.tp + c.fn_).max(1) as f64;
    let cell = |name: &str, n: u64, rate: f64, good: bool| {
        let color = if good { Color::Green } else { Color::Red };
        // Strong colour for the bulk of a row, plain for small shares.
        let style = if rate >= 0.5 {
            t.fg(color).add_modifier(Modifier::BOLD)
        } else {
            t.fg(color)
        };
        Cell::from(format!("{name} {n:>6} {:>5.1}%", rate * 100.0)).style(style)
    };
    let rows = vec![
        Row::new(vec![
            Cell::from("actual 0 (normal)"),
            cell("TN", c.tn, c.tn as f64 / neg, true),
            cell("FP", c.fp, c.fp as f64 / neg, false),
        ]),
        Row::new(vec![
            Cell::from("actual 1 (tumour)"),
            cell("FN", c.fn_, c.fn_ as f64 / pos, false),
            cell("TP", c.tp, c.tp as f64 / pos, true),
        ]),
    ];
    let table = Table::new(
        rows,
        [
            Constraint::Length(18),
            Constraint::Length(17),
            Constraint::Length(17),
        ],
    )
    .header(Row::new(vec!["valid, t = 0.5", "predicted 0", "predicted 1"]).style(t.header()))
    .block(t.block(
        format!(" confusion, epoch {} ", run.completed[i].epoch),
        false,
    ));
    let [tbl, stats] = Layout::vertical([Constraint::Length(5), Constraint::Min(0)]).areas(area);
    f.render_widget(table, tbl);
    let y = m.youden_confusion;
    let lines = vec![
        Line::from(format!(
            "accuracy {:.4}  precision {:.4}  recall {:.4}  specificity {:.4}",
            m.accuracy, m.precision, m.recall, m.specificity
        )),
        Line::from(format!(
            "F1 {:.4}  AUC {:.4}  AP {:.4}  loss {:.4}  n {}",
            m.f1, m.auc, m.average_precision, m.loss, m.n
        )),
        Line::styled(
            format!(
                "Youden threshold {:.3}: TP {} FP {} TN {} FN {}",
                m.youden_threshold, y.tp, y.fp, y.tn, y.fn_
            ),
            t.dim(),
        ),
    ];
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), stats);
}
