//! The Curves tab: progress, the batch-loss history, and loss/AUC/accuracy over epochs (with
//! the matrix and ROC of the shown epoch too on large screens). Smoothing and the log loss
//! axis are the user's ([`ChartOpts`]).

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Sparkline};

use super::confusion;
use crate::metrics::Metrics;
use crate::runs::RunState;
use crate::tui::app::App;
use crate::tui::chart::{ChartOpts, LineChart, RocCurve, Series, line_chart, roc_chart, series};
use crate::tui::format::fmt_duration;
use crate::tui::theme::Theme;

/// The charts that fit, widest screens first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Panels {
    /// Batch loss, loss, AUC, accuracy; below them the shown epoch's matrix and ROC.
    Big,
    /// Batch loss and loss above AUC and accuracy (tall, not wide enough for the matrix).
    Grid,
    /// Batch loss, loss, AUC, accuracy side by side.
    Four,
    /// Batch loss, loss, AUC.
    Three,
    /// Loss and AUC, the batch loss as a sparkline beside its figures (80 columns).
    Two,
}

impl Panels {
    fn fit(charts: Rect) -> Panels {
        if charts.width >= 140 && charts.height >= 24 {
            Panels::Big
        } else if charts.width >= 110 && charts.height >= 24 {
            Panels::Grid
        } else if charts.width >= 160 {
            Panels::Four
        } else if charts.width >= 110 {
            Panels::Three
        } else {
            Panels::Two
        }
    }
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let opts = app.charts;
    let [prog, info, charts] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(progress_line(run, app, t, area.width)), prog);
    let panels = Panels::fit(charts);
    info_line(f, t, run, opts, info, panels == Panels::Two);

    match panels {
        Panels::Big => {
            let [top, bottom] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(charts);
            let [c1, c2, c3, c4] = Layout::horizontal([Constraint::Ratio(1, 4); 4]).areas(top);
            let [c5, c6] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(bottom);
            batch_chart(f, t, run, opts, c1);
            loss_chart(f, t, run, opts, c2);
            auc_chart(f, t, run, opts, c3);
            acc_chart(f, t, run, opts, c4);
            if let Some(i) = app.cm_index(run) {
                confusion::draw_matrix(f, t, run, i, c5);
                let curve = [RocCurve::of(0, run.id.clone(), &run.completed[i].valid)];
                roc_chart(f, t, &curve, c6, Some(run.completed[i].epoch));
            }
        }
        Panels::Grid => {
            let [top, bottom] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(charts);
            let [c1, c2] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(top);
            let [c3, c4] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(bottom);
            batch_chart(f, t, run, opts, c1);
            loss_chart(f, t, run, opts, c2);
            auc_chart(f, t, run, opts, c3);
            acc_chart(f, t, run, opts, c4);
        }
        Panels::Four => {
            let [c1, c2, c3, c4] = Layout::horizontal([Constraint::Ratio(1, 4); 4]).areas(charts);
            batch_chart(f, t, run, opts, c1);
            loss_chart(f, t, run, opts, c2);
            auc_chart(f, t, run, opts, c3);
            acc_chart(f, t, run, opts, c4);
        }
        Panels::Three => {
            let [c1, c2, c3] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(charts);
            batch_chart(f, t, run, opts, c1);
            loss_chart(f, t, run, opts, c2);
            auc_chart(f, t, run, opts, c3);
        }
        Panels::Two => {
            // A column between the plots: short charts have no side borders.
            let [c1, c2] = Layout::horizontal([Constraint::Ratio(1, 2); 2])
                .spacing(1)
                .areas(charts);
            loss_chart(f, t, run, opts, c1);
            auc_chart(f, t, run, opts, c2);
        }
    }
}

/// The latest batch's figures, the chart settings, and (when there is no batch chart) a
/// sparkline of the batch losses scaled to their own range.
fn info_line(f: &mut Frame, t: &Theme, run: &RunState, opts: ChartOpts, area: Rect, spark: bool) {
    let last = run.recent_batch_losses(1).last().copied();
    let mut label = format!(
        "batch loss {}",
        last.map_or("-".into(), |l| format!("{l:.4}"))
    );
    if let Some(p) = run.progress {
        label.push_str(&format!(
            "  lr {:.2e}  {:.0} img/s",
            p.lr, run.images_per_sec
        ));
    }
    let settings = opts.describe();
    let mut spans = vec![Span::styled(label, t.dim())];
    if !settings.is_empty() {
        spans.push(Span::styled(format!("  [{settings}]"), t.key()));
    }
    let line = Line::from(spans);
    let used = (line.width() as u16 + 2).min(area.width);
    f.render_widget(Paragraph::new(line), area);
    let spark_w = area.width.saturating_sub(used).min(60);
    if !spark || spark_w < 8 {
        return;
    }
    let losses = run.recent_batch_losses(spark_w as usize);
    let finite = losses.iter().copied().filter(|l| l.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), l| {
        (lo.min(l), hi.max(l))
    });
    // Bars from the lowest loss shown, not from zero: the changes are what matters. Eight
    // levels, one per bar glyph, the lowest still visible.
    let span = (hi - lo).max(1e-9);
    let data: Vec<u64> = losses
        .iter()
        .map(|l| {
            if l.is_finite() {
                1 + ((l - lo) / span * 7.0).round() as u64
            } else {
                0
            }
        })
        .collect();
    let sl = Sparkline::default()
        .data(&data)
        .max(8)
        .style(t.fg(Color::Magenta))
        .bar_set(t.bars());
    f.render_widget(
        sl,
        Rect::new(area.x + used, area.y, spark_w, area.height.min(1)),
    );
}

fn progress_line<'a>(run: &RunState, app: &App, t: &Theme, width: u16) -> Line<'a> {
    let frac = run.fraction_done();
    let mut info = format!(" {:>3.0}%", frac * 100.0);
    if let Some(p) = run.progress {
        info.push_str(&format!(
            "  epoch {}/{} batch {}/{}",
            p.epoch, run.epochs, p.batch, p.batches
        ));
    } else {
        info.push_str(&format!(
            "  epoch {}/{}",
            run.epochs_completed(),
            run.epochs
        ));
    }
    if let Some(eta) = run.eta_seconds(app.now) {
        info.push_str(&format!("  ETA {}", fmt_duration(eta)));
    }
    if !run.device.is_empty() {
        info.push_str(&format!("  {}", run.device));
    }
    if let Some(job) = &run.scheduled {
        info.push_str(&format!("  slurm: {}", job.describe));
    }
    let bar_w = (width as usize)
        .saturating_sub(info.chars().count())
        .clamp(4, 40);
    let filled = ((frac * bar_w as f64).round() as usize).min(bar_w);
    Line::from(vec![
        Span::styled(t.glyph("█", "#").repeat(filled), t.status(run.status)),
        Span::styled(t.glyph("░", ".").repeat(bar_w - filled), t.dim()),
        Span::raw(info),
    ])
}

fn train_valid(t: &Theme, run: &RunState, metric: impl Fn(&Metrics) -> f64 + Copy) -> Vec<Series> {
    vec![
        Series::nth(t, 0, "train", series(run, |e| metric(&e.train))),
        Series::nth(t, 1, "valid", series(run, |e| metric(&e.valid))),
    ]
}

/// Every recorded batch loss against fractional epochs, over the epochs it covers so far.
fn batch_chart(f: &mut Frame, t: &Theme, run: &RunState, opts: ChartOpts, area: Rect) {
    let pts = run.batch_loss.points();
    let last = pts.last().map(|p| p.1);
    let title = format!(
        " batch loss{} ",
        last.map_or(String::new(), |l| format!(" {l:.4}"))
    );
    let end = pts.last().map_or(1.0, |p| p.0.ceil().max(1.0));
    let chart = LineChart {
        title,
        series: vec![Series::nth(t, 0, "train", pts)],
        x: [0.0, end],
        x_decimals: if end >= 5.0 { 0 } else { 1 },
        y_limit: [0.0, f64::INFINITY],
        log_y: false,
        smoothing: 0.0,
    };
    line_chart(f, t, &chart.opts(opts, true), area);
}

fn loss_chart(f: &mut Frame, t: &Theme, run: &RunState, opts: ChartOpts, area: Rect) {
    let s = train_valid(t, run, |m| m.loss);
    let last = run.completed.last().map(|e| e.valid.loss);
    let title = format!(
        " loss{}{} ",
        last.map_or(String::new(), |l| format!(" {l:.4}")),
        if opts.log_loss { " (log)" } else { "" }
    );
    let chart = LineChart::epochs(title, s, run.epochs, [0.0, f64::INFINITY]);
    line_chart(f, t, &chart.opts(opts, true), area);
}

fn auc_chart(f: &mut Frame, t: &Theme, run: &RunState, opts: ChartOpts, area: Rect) {
    let s = train_valid(t, run, |m| m.auc);
    let title = format!(
        " AUC{} ",
        run.best_valid_auc()
            .map_or(String::new(), |a| format!(" best {a:.4}"))
    );
    let chart = LineChart::epochs(title, s, run.epochs, [0.0, 1.0]);
    line_chart(f, t, &chart.opts(opts, false), area);
}

fn acc_chart(f: &mut Frame, t: &Theme, run: &RunState, opts: ChartOpts, area: Rect) {
    let s = train_valid(t, run, |m| m.accuracy);
    let chart = LineChart::epochs(" accuracy ".into(), s, run.epochs, [0.0, 1.0]);
    line_chart(f, t, &chart.opts(opts, false), area);
}
