//! Chart helpers shared by the curves, ROC and comparison views: series over epochs,
//! their bounds and labels, and the epoch and ROC charts themselves.

use ratatui::prelude::*;
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, LegendPosition};

use super::theme::Theme;
use crate::metrics::Metrics;
use crate::runs::{EpochSummary, RunState};

/// One line of a chart: name, points, style and marker.
pub type Series = (String, Vec<(f64, f64)>, Style, Marker);

/// `(epoch, value)` for every finished epoch with a finite value.
pub fn series(run: &RunState, f: impl Fn(&EpochSummary) -> f64) -> Vec<(f64, f64)> {
    run.completed
        .iter()
        .map(|e| (e.epoch as f64, f(e)))
        .filter(|(_, y)| y.is_finite())
        .collect()
}

fn x_bounds(max_epochs: usize) -> [f64; 2] {
    [1.0, (max_epochs as f64).max(2.0)]
}

/// Y range over the data with a little margin, clamped into `limit`.
fn y_bounds(data: &[&[(f64, f64)]], limit: [f64; 2]) -> [f64; 2] {
    let ys = data.iter().flat_map(|d| d.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    if !lo.is_finite() {
        return limit;
    }
    let pad = ((hi - lo) * 0.1).max(0.01);
    [(lo - pad).max(limit[0]), (hi + pad).min(limit[1])]
}

fn axis_labels(b: [f64; 2], decimals: usize) -> Vec<Line<'static>> {
    let mid = (b[0] + b[1]) / 2.0;
    // A middle label that rounds onto an end (epochs 1..2) would repeat it.
    let mid_text = format!("{mid:.decimals$}");
    let ends_text = [
        format!("{:.decimals$}", b[0]),
        format!("{:.decimals$}", b[1]),
    ];
    let values: Vec<f64> = if ends_text.contains(&mid_text) {
        vec![b[0], b[1]]
    } else {
        vec![b[0], mid, b[1]]
    };
    values
        .iter()
        .map(|v| Line::from(format!("{v:.decimals$}")))
        .collect()
}

/// An axis over `bounds`, labelled at its ends (and middle) with `decimals` places.
fn axis<'a>(t: &Theme, bounds: [f64; 2], decimals: usize) -> Axis<'a> {
    Axis::default()
        .bounds(bounds)
        .labels(axis_labels(bounds, decimals))
        .style(t.dim())
}

/// A line chart of named series over epochs.
pub fn epoch_chart(
    f: &mut Frame,
    t: &Theme,
    title: String,
    series: &[Series],
    max_epochs: usize,
    ylimit: [f64; 2],
    area: Rect,
) {
    let data: Vec<&[(f64, f64)]> = series.iter().map(|s| s.1.as_slice()).collect();
    let datasets: Vec<Dataset> = series
        .iter()
        .map(|(name, pts, style, marker)| line(name.clone(), *marker, *style, pts))
        .collect();
    let chart = Chart::new(datasets)
        .block(t.block(title, false))
        .x_axis(axis(t, x_bounds(max_epochs), 0))
        .y_axis(axis(t, y_bounds(&data, ylimit), 2))
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    f.render_widget(chart, area);
}

fn line<'a>(name: String, marker: Marker, style: Style, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .name(name)
        .marker(marker)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data)
}

/// ROC curves with the chance diagonal; the AUC is in the title (one curve) or legend.
pub fn roc_chart(
    f: &mut Frame,
    t: &Theme,
    curves: &[(String, &Metrics)],
    area: Rect,
    epoch: Option<usize>,
) {
    let diag = [(0.0, 0.0), (1.0, 1.0)];
    let pts: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|(_, m)| m.roc.iter().map(|p| (p[0] as f64, p[1] as f64)).collect())
        .collect();
    let mut datasets = vec![line("chance".into(), t.marker(), t.dim(), &diag)];
    for (i, ((name, m), p)) in curves.iter().zip(&pts).enumerate() {
        let (style, marker) = t.series(i);
        let label = if curves.len() > 1 {
            format!("{name} {:.3}", m.auc)
        } else {
            name.clone()
        };
        datasets.push(line(label, marker, style, p));
    }
    let title = match (curves, epoch) {
        ([(_, m)], Some(e)) => format!(" ROC, epoch {e}, AUC {:.4} ", m.auc),
        ([(_, m)], None) => format!(" ROC, AUC {:.4} ", m.auc),
        _ => " ROC (best epochs) ".to_string(),
    };
    let b = [0.0, 1.0];
    let chart = Chart::new(datasets)
        .block(t.block(title, false))
        .x_axis(axis(t, b, 1).title("FPR"))
        .y_axis(axis(t, b, 1).title("TPR"))
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Ratio(2, 3), Constraint::Ratio(2, 3)));
    f.render_widget(chart, area);
}
