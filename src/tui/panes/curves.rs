//! The Curves tab: progress, recent batch losses, and loss/AUC/accuracy over epochs (with
//! the matrix and ROC of the shown epoch too on large screens).

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Sparkline};

use super::confusion;
use crate::metrics::Metrics;
use crate::runs::RunState;
use crate::tui::app::App;
use crate::tui::chart::{Series, epoch_chart, roc_chart, series};
use crate::tui::format::fmt_duration;
use crate::tui::theme::Theme;

pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let spark_h = if area.height >= 18 { 3 } else { 1 };
    let [prog, spark_label, spark, charts] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(spark_h),
        Constraint::Min(0),
    ])
    .areas(area);
    f.render_widget(Paragraph::new(progress_line(run, app, t, area.width)), prog);
    // Sparklines take integers: scale losses to keep three decimals.
    let w = spark.width as usize;
    let losses = run.recent_batch_losses(w);
    let last = losses.last().copied();
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
    f.render_widget(Paragraph::new(label).style(t.dim()), spark_label);
    let data: Vec<u64> = losses
        .iter()
        .map(|l| {
            if l.is_finite() {
                (l.max(0.0) * 1000.0) as u64
            } else {
                0
            }
        })
        .collect();
    let sl = Sparkline::default()
        .data(&data)
        .style(t.fg(Color::Magenta))
        .bar_set(t.bars());
    f.render_widget(sl, spark);

    let big = charts.width >= 140 && charts.height >= 24;
    if big {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(charts);
        let [c1, c2, c3] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(top);
        let [c4, c5] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(bottom);
        loss_chart(f, t, run, c1);
        auc_chart(f, t, run, c2);
        acc_chart(f, t, run, c3);
        if let Some(i) = app.cm_index(run) {
            confusion::draw_matrix(f, t, run, i, c4);
            let curve = [(run.id.clone(), &run.completed[i].valid)];
            roc_chart(f, t, &curve, c5, Some(i + 1));
        }
    } else if charts.width >= 120 {
        let [c1, c2, c3] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(charts);
        loss_chart(f, t, run, c1);
        auc_chart(f, t, run, c2);
        acc_chart(f, t, run, c3);
    } else {
        let [c1, c2] = Layout::horizontal([Constraint::Ratio(1, 2); 2]).areas(charts);
        loss_chart(f, t, run, c1);
        auc_chart(f, t, run, c2);
    }
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
    let (s0, m0) = t.series(0);
    let (s1, m1) = t.series(1);
    vec![
        ("train".into(), series(run, |e| metric(&e.train)), s0, m0),
        ("valid".into(), series(run, |e| metric(&e.valid)), s1, m1),
    ]
}

fn loss_chart(f: &mut Frame, t: &Theme, run: &RunState, area: Rect) {
    let s = train_valid(t, run, |m| m.loss);
    let last = run.completed.last().map(|e| e.valid.loss);
    let title = format!(
        " loss{} ",
        last.map_or(String::new(), |l| format!(" {l:.4}"))
    );
    epoch_chart(f, t, title, &s, run.epochs, [0.0, f64::MAX], area);
}

fn auc_chart(f: &mut Frame, t: &Theme, run: &RunState, area: Rect) {
    let s = train_valid(t, run, |m| m.auc);
    let title = format!(
        " AUC{} ",
        run.best_valid_auc()
            .map_or(String::new(), |a| format!(" best {a:.4}"))
    );
    epoch_chart(f, t, title, &s, run.epochs, [0.0, 1.0], area);
}

fn acc_chart(f: &mut Frame, t: &Theme, run: &RunState, area: Rect) {
    let s = train_valid(t, run, |m| m.accuracy);
    epoch_chart(f, t, " accuracy ".into(), &s, run.epochs, [0.0, 1.0], area);
}
