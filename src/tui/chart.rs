//! Chart helpers shared by the curves, ROC and comparison views: series over epochs,
//! smoothing and the log scale, bounds and labels, legends kept off the data, and the line,
//! ROC and reliability charts themselves.

use ratatui::prelude::*;
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Borders, Chart, Dataset, GraphType, LegendPosition};

use super::theme::Theme;
use crate::metrics::Metrics;
use crate::runs::{EpochSummary, RunState};

/// The smoothing weights `z` steps through (TensorBoard's slider, in the steps people use).
pub const SMOOTHING_STEPS: [f64; 5] = [0.0, 0.6, 0.8, 0.9, 0.95];

/// How the charts draw, as the user chose: shared by every chart of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartOpts {
    /// Exponential moving average weight (0 = raw curves only).
    pub smoothing: f64,
    /// Loss charts on a log10 y-axis.
    pub log_loss: bool,
}

impl Default for ChartOpts {
    fn default() -> Self {
        ChartOpts {
            smoothing: 0.0,
            log_loss: false,
        }
    }
}

impl ChartOpts {
    /// The next (or previous) smoothing weight, wrapping around.
    pub fn step_smoothing(&mut self, more: bool) {
        let n = SMOOTHING_STEPS.len();
        let i = SMOOTHING_STEPS
            .iter()
            .position(|w| *w >= self.smoothing)
            .unwrap_or(0);
        let j = if more { (i + 1) % n } else { (i + n - 1) % n };
        self.smoothing = SMOOTHING_STEPS[j];
    }

    /// `smoothing 0.6, log loss`, or empty when the charts are drawn as they come.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.smoothing > 0.0 {
            parts.push(format!("smoothing {}", self.smoothing));
        }
        if self.log_loss {
            parts.push("log loss".to_string());
        }
        parts.join(", ")
    }
}

/// Points of a line, `(x, y)`.
type Points = Vec<(f64, f64)>;

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    pub marker: Marker,
}

impl Series {
    /// Series number `i` of a chart, in the theme's colour or marker for `i`.
    pub fn nth(t: &Theme, i: usize, name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        let (style, marker) = t.series(i);
        Series {
            name: name.into(),
            points,
            style,
            marker,
        }
    }
}

/// `(epoch, value)` for every finished epoch with a finite value.
pub fn series(run: &RunState, f: impl Fn(&EpochSummary) -> f64) -> Vec<(f64, f64)> {
    run.completed
        .iter()
        .map(|e| (e.epoch as f64, f(e)))
        .filter(|(_, y)| y.is_finite())
        .collect()
}

/// The mean over `runs` (a CV set's folds) at every epoch some run has finished with a finite
/// value: one curve for the set, as its table row is one row.
pub fn mean_series(runs: &[&RunState], f: impl Fn(&EpochSummary) -> f64) -> Vec<(f64, f64)> {
    let mut sums: std::collections::BTreeMap<usize, (f64, usize)> = Default::default();
    for (x, y) in runs.iter().flat_map(|r| series(r, &f)) {
        let e = sums.entry(x as usize).or_default();
        e.0 += y;
        e.1 += 1;
    }
    sums.into_iter()
        .map(|(x, (sum, n))| (x as f64, sum / n as f64))
        .collect()
}

/// Exponential moving average with TensorBoard's debiasing (the first points are not pulled
/// towards zero). `weight` 0 returns the points unchanged.
pub fn smooth(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let mut last = 0.0;
    let mut debias = 1.0;
    points
        .iter()
        .map(|&(x, y)| {
            last = last * weight + (1.0 - weight) * y;
            debias *= weight;
            (x, last / (1.0 - debias))
        })
        .collect()
}

/// A line chart: named series over `x`, their values clamped into `y_limit`.
#[derive(Debug, Clone)]
pub struct LineChart {
    pub title: String,
    pub series: Vec<Series>,
    pub x: [f64; 2],
    /// Decimals of the x labels (0 for whole epochs).
    pub x_decimals: usize,
    pub y_limit: [f64; 2],
    pub log_y: bool,
    pub smoothing: f64,
}

impl LineChart {
    /// A chart over epochs `1..=max_epochs`.
    pub fn epochs(
        title: String,
        series: Vec<Series>,
        max_epochs: usize,
        y_limit: [f64; 2],
    ) -> Self {
        LineChart {
            title,
            series,
            x: [1.0, (max_epochs as f64).max(2.0)],
            x_decimals: 0,
            y_limit,
            log_y: false,
            smoothing: 0.0,
        }
    }

    pub fn opts(mut self, opts: ChartOpts, loss: bool) -> Self {
        self.smoothing = opts.smoothing;
        self.log_y = loss && opts.log_loss;
        self
    }
}

/// Y range over the data with a little margin, clamped into `limit`; `limit` itself (or the
/// unit range above its floor when it is open-ended) before there is data.
fn y_bounds(data: &[&[(f64, f64)]], limit: [f64; 2]) -> [f64; 2] {
    let ys = data.iter().flat_map(|d| d.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let floor = if limit[0].is_finite() { limit[0] } else { 0.0 };
    if !lo.is_finite() || !hi.is_finite() {
        return if limit[1].is_finite() {
            [floor, limit[1]]
        } else {
            [floor, floor + 1.0]
        };
    }
    let pad = ((hi - lo) * 0.1).max(0.01);
    [(lo - pad).max(limit[0]), (hi + pad).min(limit[1])]
}

/// A tick label: as few decimals as the axis span needs, exponents for huge or tiny values.
fn tick(v: f64, span: f64) -> String {
    let a = v.abs();
    if a >= 1e5 || (a > 0.0 && a < 1e-3) {
        return format!("{v:.0e}");
    }
    let decimals = match span {
        s if s >= 20.0 => 0,
        s if s >= 2.0 => 1,
        s if s >= 0.05 => 2,
        _ => 3,
    };
    format!("{v:.decimals$}")
}

/// A log-axis label: the value (not its exponent), two significant figures.
fn log_tick(exp10: f64) -> String {
    let v = 10f64.powf(exp10);
    if !(1e-3..1e5).contains(&v) {
        return format!("{v:.0e}");
    }
    let decimals = (1.0 - v.log10().floor()).clamp(0.0, 4.0) as usize;
    format!("{v:.decimals$}")
}

/// Labels at the ends of an axis and its middle (unless the middle would repeat an end).
fn labels(b: [f64; 2], fmt: impl Fn(f64) -> String) -> Vec<Line<'static>> {
    let mid = (b[0] + b[1]) / 2.0;
    let (lo, mid_text, hi) = (fmt(b[0]), fmt(mid), fmt(b[1]));
    if mid_text == lo || mid_text == hi {
        vec![Line::from(lo), Line::from(hi)]
    } else {
        vec![Line::from(lo), Line::from(mid_text), Line::from(hi)]
    }
}

/// An axis over `b` labelled with `decimals` places (epochs, rates); the middle label only
/// where it is exact (epochs 1..8 put it at 4.5, which `4` would misstate).
fn axis<'a>(t: &Theme, b: [f64; 2], decimals: usize) -> Axis<'a> {
    let scale = 10f64.powi(decimals as i32);
    let mid = (b[0] + b[1]) / 2.0 * scale;
    let l = if (mid - mid.round()).abs() < 1e-9 {
        labels(b, |v| format!("{v:.decimals$}"))
    } else {
        vec![
            Line::from(format!("{:.decimals$}", b[0])),
            Line::from(format!("{:.decimals$}", b[1])),
        ]
    };
    Axis::default().bounds(b).labels(l).style(t.dim())
}

/// The y axis: compact labels, in the data's own units on a log axis.
fn y_axis<'a>(t: &Theme, b: [f64; 2], log: bool) -> Axis<'a> {
    let span = b[1] - b[0];
    let l = if log {
        labels(b, log_tick)
    } else {
        labels(b, |v| tick(v, span))
    };
    Axis::default().bounds(b).labels(l).style(t.dim())
}

/// Short charts give up their bottom and side borders: the plot keeps the rows.
fn compact(area: Rect) -> bool {
    area.height < 10
}

fn line<'a>(
    name: Option<String>,
    marker: Marker,
    style: Style,
    data: &'a [(f64, f64)],
) -> Dataset<'a> {
    let d = Dataset::default()
        .marker(marker)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data);
    match name {
        Some(n) => d.name(n),
        None => d,
    }
}

/// The series names as a line of their styles (and markers without colour), for a border;
/// `tight` packs them for narrow charts (`•train ▄valid`).
fn legend_line<'a>(t: &Theme, named: &[(String, Style, Marker)], tight: bool) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (i, (name, style, marker)) in named.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(if tight { " " } else { "  " }));
        }
        let label = match (tight, t.color) {
            (true, false) => format!("{}{name}", Theme::legend_glyph(*marker)),
            _ => t.legend_name(name, *marker),
        };
        spans.push(Span::styled(label, *style));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// The corner of the plot where a legend of `size` cells (in a plot of `plot` cells) covers
/// the fewest data points: the newest data sits at the right, and rises or falls.
fn quiet_corner(
    data: &[&[(f64, f64)]],
    x: [f64; 2],
    y: [f64; 2],
    size: (u16, u16),
    plot: (u16, u16),
) -> LegendPosition {
    let fw = f64::from(size.0) / f64::from(plot.0.max(1));
    let fh = f64::from(size.1) / f64::from(plot.1.max(1));
    let (xs, ys) = (x[1] - x[0], y[1] - y[0]);
    let right = x[1] - fw * xs;
    let left = x[0] + fw * xs;
    let top = y[1] - fh * ys;
    let bottom = y[0] + fh * ys;
    let corners = [
        (LegendPosition::TopRight, true, true),
        (LegendPosition::BottomRight, true, false),
        (LegendPosition::TopLeft, false, true),
        (LegendPosition::BottomLeft, false, false),
    ];
    let inside = |(px, py): (f64, f64), at_right: bool, at_top: bool| {
        let in_x = if at_right { px >= right } else { px <= left };
        let in_y = if at_top { py >= top } else { py <= bottom };
        in_x && in_y
    };
    // Points along each segment too: a line can cross a corner between two epochs.
    let samples = |d: &[(f64, f64)]| -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = d.to_vec();
        for w in d.windows(2) {
            for k in 1..16 {
                let f = f64::from(k) / 16.0;
                out.push((
                    w[0].0 + (w[1].0 - w[0].0) * f,
                    w[0].1 + (w[1].1 - w[0].1) * f,
                ));
            }
        }
        out
    };
    let points: Vec<(f64, f64)> = data.iter().flat_map(|d| samples(d)).collect();
    corners
        .iter()
        .min_by_key(|(_, r, tp)| points.iter().filter(|p| inside(**p, *r, *tp)).count())
        .map_or(LegendPosition::TopRight, |c| c.0)
}

/// Draws a line chart. With smoothing, each series is drawn raw (faint) and smoothed; on a log
/// axis, values that are not positive are left out. The legend goes on the top border beside
/// the title, off the data; when it does not fit there, inside the plot in its emptiest corner.
pub fn line_chart(f: &mut Frame, t: &Theme, c: &LineChart, area: Rect) {
    // Points the axis can show, and the axis' scale.
    let shown = |p: &(f64, f64)| p.1.is_finite() && (!c.log_y || p.1 > 0.0);
    let scale = |pts: Vec<(f64, f64)>| -> Points {
        pts.into_iter()
            .map(|(x, y)| (x, if c.log_y { y.log10() } else { y }))
            .collect()
    };
    let smoothing = c.smoothing > 0.0;
    // (raw, smoothed) per series, on the axis' scale.
    let drawn: Vec<(Points, Points)> = c
        .series
        .iter()
        .map(|s| {
            let raw: Points = s.points.iter().copied().filter(shown).collect();
            let smoothed = if smoothing {
                scale(smooth(&raw, c.smoothing))
            } else {
                Vec::new()
            };
            (scale(raw), smoothed)
        })
        .collect();
    let all: Vec<&[(f64, f64)]> = drawn
        .iter()
        .flat_map(|(r, s)| [r.as_slice(), s.as_slice()])
        .collect();
    let limit = if c.log_y {
        let lo = if c.y_limit[0] > 0.0 {
            c.y_limit[0].log10()
        } else {
            f64::NEG_INFINITY
        };
        [lo, c.y_limit[1].log10()]
    } else {
        c.y_limit
    };
    let yb = if c.log_y && all.iter().all(|d| d.is_empty()) {
        [-1.0, 0.0]
    } else {
        y_bounds(&all, limit)
    };

    let mut datasets = Vec::new();
    if smoothing {
        for (s, (raw, _)) in c.series.iter().zip(&drawn) {
            let (style, marker) = t.faint(s.marker);
            datasets.push(line(None, marker, style, raw));
        }
    }
    let named: Vec<(String, Style, Marker)> = c
        .series
        .iter()
        .map(|s| (s.name.clone(), s.style, s.marker))
        .collect();
    let title = Line::from(c.title.clone());
    // Beside the title on the top border when both fit (with a corner of border to spare),
    // packed tighter if need be. One series needs no legend: the title names it.
    let fits = |l: &Line| title.width() + l.width() + 4 <= area.width as usize;
    let legend = [false, true]
        .into_iter()
        .map(|tight| legend_line(t, &named, tight))
        .find(|l| named.len() > 1 && fits(l));
    let in_border = named.len() < 2 || legend.is_some();
    for (s, (raw, smoothed)) in c.series.iter().zip(&drawn) {
        let pts = if smoothing { smoothed } else { raw };
        let name = (!in_border).then(|| t.legend_name(&s.name, s.marker));
        datasets.push(line(name, s.marker, s.style, pts));
    }

    let mut block = t.block(title, false);
    if let Some(l) = legend {
        block = block.title(l.right_aligned());
    }
    if compact(area) {
        block = block.borders(Borders::TOP);
    }
    let y = y_axis(t, yb, c.log_y);
    let mut chart = Chart::new(datasets)
        .block(block)
        .x_axis(axis(t, c.x, c.x_decimals))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    chart = if in_border {
        chart.legend_position(None)
    } else {
        let w = named
            .iter()
            .map(|(n, _, m)| t.legend_name(n, *m).chars().count())
            .max()
            .unwrap_or(0) as u16
            + 2;
        let h = named.len() as u16 + 2;
        let plot = (area.width.saturating_sub(8), area.height.saturating_sub(4));
        chart.legend_position(Some(quiet_corner(&all, c.x, yb, (w, h), plot)))
    };
    f.render_widget(chart.y_axis(y), area);
}

/// ROC curves with the chance diagonal; the AUC is in the title (one curve) or legend.
/// One curve of [`roc_chart`]: `colour` is its series number (its run's colour everywhere on
/// the screen).
#[derive(Debug, Clone, PartialEq)]
pub struct RocCurve {
    pub colour: usize,
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub auc: f64,
}

impl RocCurve {
    pub fn of(colour: usize, name: impl Into<String>, m: &Metrics) -> RocCurve {
        RocCurve {
            colour,
            name: name.into(),
            points: m.roc.iter().map(|p| (p[0] as f64, p[1] as f64)).collect(),
            auc: m.auc,
        }
    }

    /// A CV set's folds as one curve: their true-positive rates averaged at 101 evenly spaced
    /// false-positive rates (Fawcett's vertical averaging), with the folds' mean AUC. None
    /// without curves.
    pub fn mean(colour: usize, name: impl Into<String>, folds: &[&Metrics]) -> Option<RocCurve> {
        let curves: Vec<&Metrics> = folds
            .iter()
            .copied()
            .filter(|m| !m.roc.is_empty())
            .collect();
        if curves.is_empty() {
            return None;
        }
        // A ROC curve never falls: its TPR at `fpr` is the highest of the points up to it.
        let tpr_at = |m: &Metrics, fpr: f32| {
            m.roc
                .iter()
                .filter(|p| p[0] <= fpr)
                .map(|p| p[1])
                .fold(0f32, f32::max) as f64
        };
        let k = curves.len() as f64;
        let points = (0..=100)
            .map(|i| {
                let fpr = i as f32 / 100.0;
                let tpr = curves.iter().map(|m| tpr_at(m, fpr)).sum::<f64>() / k;
                (fpr as f64, tpr)
            })
            .collect();
        let auc = curves.iter().map(|m| m.auc).sum::<f64>() / k;
        Some(RocCurve {
            colour,
            name: name.into(),
            points,
            auc,
        })
    }
}

pub fn roc_chart(f: &mut Frame, t: &Theme, curves: &[RocCurve], area: Rect, epoch: Option<usize>) {
    let diag = [(0.0, 0.0), (1.0, 1.0)];
    let (chance_style, chance_marker) = t.faint(t.marker());
    let chance = t.legend_name("chance", chance_marker);
    let mut datasets = vec![line(Some(chance), chance_marker, chance_style, &diag)];
    for c in curves {
        let (style, marker) = t.series(c.colour);
        let label = if curves.len() > 1 {
            format!("{} {:.3}", c.name, c.auc)
        } else {
            c.name.clone()
        };
        datasets.push(line(
            Some(t.legend_name(&label, marker)),
            marker,
            style,
            &c.points,
        ));
    }
    let title = match (curves, epoch) {
        ([c], Some(e)) => format!(" ROC, epoch {e}, AUC {:.4} ", c.auc),
        ([c], None) => format!(" ROC, AUC {:.4} ", c.auc),
        _ => " ROC (best epochs) ".to_string(),
    };
    let b = [0.0, 1.0];
    let mut block = t.block(title, false);
    if compact(area) {
        block = block.borders(Borders::TOP);
    }
    // Below the diagonal at the right, where no better-than-chance curve goes.
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(axis(t, b, 1).title("FPR"))
        .y_axis(axis(t, b, 1).title("TPR"))
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Ratio(2, 3), Constraint::Ratio(2, 3)));
    f.render_widget(chart, area);
}

/// The reliability diagram of one split's metrics: each bin's observed tumour rate against
/// its mean predicted probability, beside the diagonal a calibrated model follows.
pub fn reliability_chart(f: &mut Frame, t: &Theme, m: &Metrics, area: Rect, epoch: usize) {
    let diag = [(0.0, 0.0), (1.0, 1.0)];
    let pts: Vec<(f64, f64)> = m
        .reliability
        .iter()
        .map(|b| (b.mean_prob, b.observed))
        .collect();
    let (diag_style, diag_marker) = t.faint(t.marker());
    let (style, marker) = t.series(0);
    let datasets = vec![
        line(None, diag_marker, diag_style, &diag),
        line(None, marker, style, &pts),
    ];
    let title = Line::from(format!(" reliability, epoch {epoch}, ECE {:.4} ", m.ece));
    let mut block = t.block(title.clone(), false);
    // The legend on the top border, off the curve (a small plot has no room inside); left
    // out when it does not fit beside the title.
    let named = [
        ("calibrated".to_string(), diag_style, diag_marker),
        ("valid".to_string(), style, marker),
    ];
    let legend = [false, true]
        .into_iter()
        .map(|tight| legend_line(t, &named, tight))
        .find(|l| title.width() + l.width() + 4 <= area.width as usize);
    if let Some(l) = legend {
        block = block.title(l.right_aligned());
    }
    if compact(area) {
        block = block.borders(Borders::TOP);
    }
    let b = [0.0, 1.0];
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(axis(t, b, 1).title("predicted"))
        .y_axis(axis(t, b, 1).title("observed"))
        .legend_position(None);
    f.render_widget(chart, area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_data_gives_a_finite_unit_range() {
        assert_eq!(y_bounds(&[], [0.0, f64::INFINITY]), [0.0, 1.0]);
        assert_eq!(y_bounds(&[&[]], [0.0, 1.0]), [0.0, 1.0]);
        let b = y_bounds(&[&[(1.0, 0.5), (2.0, 0.3)]], [0.0, f64::INFINITY]);
        assert!(
            (b[0] - 0.28).abs() < 1e-9 && (b[1] - 0.52).abs() < 1e-9,
            "{b:?}"
        );
    }

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(0.6412, 0.4), "0.64");
        assert_eq!(tick(0.9123, 0.02), "0.912");
        assert_eq!(tick(1234.6, 2000.0), "1235");
        assert_eq!(tick(f64::MAX, 1e308), "2e308");
        assert_eq!(log_tick(-1.0), "0.10");
        assert_eq!(log_tick(0.5), "3.2");
        assert_eq!(log_tick(1.3), "20");
    }

    #[test]
    fn folds_average_into_one_roc_curve() {
        let m = |roc: Vec<[f32; 2]>, auc: f64| Metrics {
            roc,
            auc,
            ..Metrics::default()
        };
        // A perfect fold and a chance-level one (a step at 0.5, the second point vertical).
        let perfect = m(vec![[0.0, 0.0], [0.0, 1.0], [1.0, 1.0]], 1.0);
        let chance = m(vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [1.0, 1.0]], 0.5);
        let c = RocCurve::mean(3, "set", &[&perfect, &chance]).expect("a curve");
        assert_eq!((c.colour, c.auc, c.points.len()), (3, 0.75, 101));
        assert_eq!(c.points[0], (0.0, 0.5));
        assert_eq!(c.points[49].1, 0.5);
        assert_eq!(c.points[50], (0.5, 1.0));
        assert_eq!(c.points[100], (1.0, 1.0));
        assert!(RocCurve::mean(0, "none", &[&Metrics::default()]).is_none());
    }

    #[test]
    fn smoothing_is_a_debiased_moving_average() {
        let pts = [(1.0, 1.0), (2.0, 0.0), (3.0, 0.0)];
        assert_eq!(smooth(&pts, 0.0), pts.to_vec());
        let s = smooth(&pts, 0.5);
        // The first point is itself (no pull towards zero), then halves.
        assert_eq!(s[0], (1.0, 1.0));
        assert!((s[1].1 - 1.0 / 3.0).abs() < 1e-12, "{s:?}");
        assert!((s[2].1 - 1.0 / 7.0).abs() < 1e-12, "{s:?}");
    }

    #[test]
    fn smoothing_steps_wrap_both_ways() {
        let mut o = ChartOpts::default();
        o.step_smoothing(true);
        assert_eq!(o.smoothing, 0.6);
        o.step_smoothing(false);
        o.step_smoothing(false);
        assert_eq!(o.smoothing, 0.95);
        o.step_smoothing(true);
        assert_eq!(o.smoothing, 0.0);
    }

    #[test]
    fn legends_avoid_the_newest_data() {
        let rising: Vec<(f64, f64)> = (1..=8).map(|e| (e as f64, 0.6 + 0.04 * e as f64)).collect();
        let falling: Vec<(f64, f64)> = (1..=8).map(|e| (e as f64, 0.7 - 0.05 * e as f64)).collect();
        let corner = |d: &[(f64, f64)], y| quiet_corner(&[d], [1.0, 8.0], y, (9, 4), (40, 12));
        assert_eq!(corner(&rising, [0.6, 0.95]), LegendPosition::BottomRight);
        assert_eq!(corner(&falling, [0.3, 0.7]), LegendPosition::TopRight);
    }
}
