//! Drawing: every pane is a function of [`App`] and nothing else.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::{self, Marker};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Clear, Dataset, GraphType, LegendPosition, Paragraph, Row, Sparkline,
    Table, Tabs, Wrap,
};

use crate::metrics::{Confusion, Metrics};
use crate::runs::{EpochSummary, LogLevel};

use super::action::{DetailTab, Pane};
use super::app::App;
use super::experiments::ExpEntry;
use super::format::fmt_duration;
use super::keymap;
use super::layout::{self, Areas};
use crate::runs::{RunState, RunStatus};

/// Colours and glyphs, honouring `NO_COLOR` and `--ascii`.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

const ASCII_BORDER: symbols::border::Set = symbols::border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

const ASCII_BARS: symbols::bar::Set = symbols::bar::Set {
    full: "#",
    seven_eighths: "#",
    three_quarters: "=",
    five_eighths: "=",
    half: "-",
    three_eighths: "-",
    one_quarter: "_",
    one_eighth: ".",
    empty: " ",
};

/// Series colours for overlays, distinct on 16-colour terminals.
const PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::LightRed,
    Color::LightBlue,
    Color::White,
    Color::LightGreen,
];

impl Theme {
    pub fn of(app: &App) -> Theme {
        Theme {
            color: !app.no_color,
            ascii: app.ascii,
        }
    }

    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    fn selected(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        }
    }

    fn status(&self, s: RunStatus) -> Style {
        self.fg(match s {
            RunStatus::Queued => Color::Gray,
            RunStatus::Running => Color::Cyan,
            RunStatus::Finished => Color::Green,
            RunStatus::Failed => Color::Red,
            RunStatus::Cancelled => Color::Yellow,
            RunStatus::Lost => Color::Magenta,
            RunStatus::Damaged => Color::Red,
        })
    }

    pub fn marker(&self) -> Marker {
        if self.ascii {
            Marker::Dot
        } else {
            Marker::Braille
        }
    }

    /// Series `i` of an overlay: a colour, or without colour a distinct marker.
    fn series(&self, i: usize) -> (Style, Marker) {
        if self.color {
            (Style::new().fg(PALETTE[i % PALETTE.len()]), self.marker())
        } else {
            let markers = [
                Marker::Braille,
                Marker::Dot,
                Marker::Block,
                Marker::Bar,
                Marker::HalfBlock,
            ];
            let m = if self.ascii {
                Marker::Dot
            } else {
                markers[i % markers.len()]
            };
            (Style::new(), m)
        }
    }

    pub fn block<'a>(&self, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
        let b = Block::bordered().title(title);
        let b = if self.ascii {
            b.border_set(ASCII_BORDER)
        } else {
            b
        };
        if focused {
            b.border_style(if self.color {
                Style::new().fg(Color::Cyan)
            } else {
                Style::new().add_modifier(Modifier::BOLD)
            })
        } else {
            b.border_style(self.dim())
        }
    }

    fn ok_mark(&self, ok: bool) -> &'static str {
        match (ok, self.ascii) {
            (true, false) => "✓",
            (false, false) => "✗",
            (true, true) => "+",
            (false, true) => "!",
        }
    }
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let t = Theme::of(app);
    let area = f.area();
    let a = layout::main(area);
    draw_header(f, app, &t, a.header);
    if app.compare.is_some() {
        let body = Rect::new(
            area.x,
            a.header.bottom(),
            area.width,
            a.hints.y - a.header.bottom(),
        );
        draw_compare(f, app, &t, body);
    } else {
        draw_main(f, app, &t, &a);
    }
    if app.form.is_some() {
        draw_form(f, app, &t, area);
    }
    if let Some(scroll) = app.help {
        draw_help(f, app, &t, area, scroll);
    }
    if let Some(c) = &app.confirm {
        let text = c.question();
        let w = (text.len() as u16 + 4).clamp(30, area.width.saturating_sub(4).max(30));
        let r = layout::centered(area, w, 6);
        f.render_widget(Clear, r);
        let p = Paragraph::new(vec![
            Line::from(text),
            Line::from(""),
            Line::from(vec![
                Span::styled("y", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" yes   "),
                Span::styled("n", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" no"),
            ]),
        ])
        .wrap(Wrap { trim: true })
        .block(t.block(" Confirm ", true));
        f.render_widget(p, r);
    }
    draw_hints(f, app, &t, a.hints);
    if t.ascii {
        asciify(f.buffer_mut());
    }
}

/// Replaces the line-drawing glyphs ratatui hard-codes (chart axes, legends) with
/// ASCII, so `--ascii` holds for every widget.
fn asciify(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let ascii = match cell.symbol() {
            "│" | "┃" | "║" => "|",
            "─" | "━" | "═" => "-",
            "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" | "╭" | "╮" | "╰" | "╯" => {
                "+"
            }
            _ => continue,
        };
        cell.set_symbol(ascii);
    }
}

fn draw_main(f: &mut Frame, app: &App, t: &Theme, a: &Areas) {
    draw_experiments(f, app, t, a.experiments);
    draw_runs(f, app, t, a.runs);
    if app.focus == Pane::Experiments {
        draw_experiment_detail(f, app, t, a.detail);
    } else {
        draw_run_detail(f, app, t, a.detail);
    }
}

fn draw_header(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let running = app
        .runs
        .iter()
        .filter(|r| r.status == RunStatus::Running)
        .count();
    let mut spans = vec![
        Span::styled(
            " histoboard ",
            t.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{} ", app.dir.display()), t.dim()),
        Span::raw(format!(
            "| {} runs, {running} running, {} queued ",
            app.runs.len(),
            app.queue.len()
        )),
    ];
    if !app.marked.is_empty() {
        spans.push(Span::raw(format!("| {} marked ", app.marked.len())));
    }
    if !app.gpus.is_empty() {
        let gpus: Vec<String> = app.gpus.iter().map(|g| g.describe()).collect();
        spans.push(Span::raw("| "));
        spans.push(Span::styled(
            format!("{} ", gpus.join(", ")),
            t.fg(Color::Magenta),
        ));
    } else if app.cpu_threads > 0 {
        spans.push(Span::raw(format!("| CPU ({} threads) ", app.cpu_threads)));
    }
    if let Some((err, msg)) = &app.message {
        spans.push(Span::raw("| "));
        spans.push(Span::styled(
            msg.clone(),
            if *err {
                t.fg(Color::Red)
            } else {
                t.fg(Color::Green)
            },
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_hints(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let ctx = app.ctx();
    let mut spans = Vec::new();
    for (keys, desc) in keymap::hints(&app.keys, ctx, t.ascii) {
        spans.push(Span::styled(
            keys,
            t.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {desc}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_experiments(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Experiments && app.form.is_none();
    let visible = layout::visible_rows(area, 0);
    let off = layout::offset(app.exp_sel, visible);
    let lines: Vec<Line> = app
        .experiments
        .iter()
        .enumerate()
        .skip(off)
        .take(visible)
        .map(|(i, e)| {
            let (mark, style) = match &e.result {
                Ok(_) => (t.ok_mark(true), t.fg(Color::Green)),
                Err(_) => (t.ok_mark(false), t.fg(Color::Red)),
            };
            let extra = match &e.result {
                Ok(v) if v.len() > 1 => format!(" ({} runs)", v.len()),
                _ => String::new(),
            };
            let mut line = Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::raw(e.name.clone()),
                Span::styled(extra, t.dim()),
            ]);
            if i == app.exp_sel {
                line = line.style(t.selected(focused));
            }
            line
        })
        .collect();
    let title = format!(" Experiments ({}) ", app.experiments.len());
    let mut p = Paragraph::new(lines).block(t.block(title, focused));
    if app.experiments.is_empty() {
        p = Paragraph::new("no experiments/*.toml")
            .style(t.dim())
            .block(t.block(" Experiments ", focused));
    }
    f.render_widget(p, area);
}

fn draw_runs(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Runs && app.form.is_none();
    let wide = area.width >= 90;
    let mid = area.width >= 66;
    let mut header = vec!["", "status", "run", "epoch", "AUC", "elapsed"];
    let mut widths = vec![
        Constraint::Length(2),
        Constraint::Length(9),
        Constraint::Min(12),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    if mid {
        header.push("ETA");
        widths.push(Constraint::Length(6));
    }
    if wide {
        header.push("device");
        widths.push(Constraint::Length(18));
    }
    // The scheduler's word beside the run's own, once any run went to Slurm.
    let slurm = wide && app.runs.iter().any(|r| r.scheduled.is_some());
    if slurm {
        header.push("slurm");
        widths.push(Constraint::Length(22));
    }
    let visible = layout::visible_rows(area, 1);
    let off = layout::offset(app.run_sel, visible);
    let pending = app.pending_views();
    let rows: Vec<Row> = pending
        .iter()
        .chain(app.runs.iter().map(|r| &**r))
        .enumerate()
        .skip(off)
        .take(visible)
        .map(|(i, r)| {
            let marked = app.marked.contains(&r.id);
            let mark = match (marked, t.ascii) {
                (false, _) => " ",
                (true, false) => "●",
                (true, true) => "*",
            };
            // A damaged folder is flagged on every row it appears in.
            let flag = if r.problem_count > 0 { "!" } else { " " };
            let name = if r.id.starts_with("queued #") {
                format!("{} ({})", r.experiment, r.id)
            } else {
                r.id.clone()
            };
            let mut cells = vec![
                Cell::from(Line::from(vec![
                    Span::styled(mark, t.fg(Color::Yellow)),
                    Span::styled(flag, t.fg(Color::Red).add_modifier(Modifier::BOLD)),
                ])),
                // A run the scheduler holds says why it has not started (`pending`).
                Cell::from(match &r.scheduled {
                    Some(job) if job.waiting && r.status == RunStatus::Queued => "pending",
                    _ => r.status.label(),
                })
                .style(t.status(r.status)),
                Cell::from(name),
                Cell::from(format!("{}/{}", r.epochs_completed(), r.epochs)),
                Cell::from(r.best_valid_auc().map_or("-".into(), |a| format!("{a:.3}"))),
                Cell::from(r.elapsed_seconds(app.now).map_or("-".into(), fmt_duration)),
            ];
            if mid {
                cells.push(Cell::from(
                    r.eta_seconds(app.now).map_or("-".into(), fmt_duration),
                ));
            }
            if wide {
                cells.push(Cell::from(r.device.clone()));
            }
            if slurm {
                cells.push(Cell::from(
                    r.scheduled
                        .as_ref()
                        .map_or(String::new(), |j| j.describe.clone()),
                ));
            }
            let row = Row::new(cells);
            if i == app.run_sel {
                row.style(t.selected(focused))
            } else {
                row
            }
        })
        .collect();
    let title = format!(" Runs ({}) ", app.runs.len() + pending.len());
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
        .column_spacing(1)
        .block(t.block(title, focused));
    f.render_widget(table, area);
}

fn draw_experiment_detail(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(e) = app.selected_experiment() else {
        let p = Paragraph::new("Put experiment TOML files in experiments/.")
            .block(t.block(" Experiment ", false));
        f.render_widget(p, area);
        return;
    };
    let lines = experiment_lines(e, t);
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(t.block(format!(" {} ", e.file_name()), false));
    f.render_widget(p, area);
}

/// Keys worth seeing at a glance before launching.
const SUMMARY_KEYS: [&str; 10] = [
    "data.source",
    "data.limit",
    "model.arch",
    "model.filters",
    "train.epochs",
    "train.batch_size",
    "train.optimizer",
    "train.lr",
    "train.schedule",
    "train.device",
];

fn experiment_lines<'a>(e: &'a ExpEntry, t: &Theme) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    match &e.result {
        Err(err) => {
            lines.push(Line::styled(
                format!("{} invalid", t.ok_mark(false)),
                t.fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
            lines.push(Line::styled(err.describe(), t.fg(Color::Red)));
            lines.push(Line::from(""));
            lines.push(Line::styled(
                format!(
                    "experiments/{}: the list reloads when the file changes",
                    e.file_name()
                ),
                t.dim(),
            ));
        }
        Ok(exps) => {
            let Some(first) = exps.first() else {
                lines.push(Line::from("no experiments in this file"));
                return lines;
            };
            lines.push(Line::from(vec![
                Span::styled(
                    first.name.clone(),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(if exps.len() > 1 {
                    format!("  sweep of {} runs", exps.len())
                } else {
                    String::new()
                }),
            ]));
            if !first.description.is_empty() {
                lines.push(Line::styled(first.description.clone(), t.dim()));
            }
            let fields = super::experiments::fields(first);
            for key in SUMMARY_KEYS {
                if let Some(fv) = fields.iter().find(|x| x.key == key) {
                    // A sweep: show every value the runs take.
                    let mut vals: Vec<String> = vec![fv.value.clone()];
                    for other in &exps[1..] {
                        let of = super::experiments::fields(other);
                        if let Some(v) = of.iter().find(|x| x.key == key)
                            && !vals.contains(&v.value)
                        {
                            vals.push(v.value.clone());
                        }
                    }
                    lines.push(Line::from(vec![
                        Span::styled(format!("{key:<18}"), t.fg(Color::Cyan)),
                        Span::raw(vals.join(", ")),
                    ]));
                }
            }
        }
    }
    lines
}

fn draw_run_detail(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Detail && app.form.is_none();
    let Some(run) = app.selected_run() else {
        let msg = if app.queue.is_empty() {
            "No run selected. Launch an experiment with l."
        } else {
            "Queued: waits for a free slot."
        };
        f.render_widget(Paragraph::new(msg).block(t.block(" Run ", focused)), area);
        return;
    };
    let mut title = vec![
        Span::raw(format!(" {} ", run.id)),
        Span::styled(format!("{} ", run.status.label()), t.status(run.status)),
    ];
    if run.problem_count > 0 {
        title.push(Span::styled(
            format!(
                "! {} problem{} in its folder (5 Log) ",
                run.problem_count,
                if run.problem_count == 1 { "" } else { "s" }
            ),
            t.fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    let title = Line::from(title);
    let block = t.block(title, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 2 {
        return;
    }
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let titles: Vec<String> = DetailTab::ALL
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{} {}", i + 1, d.title()))
        .collect();
    let tabs = Tabs::new(titles)
        .select(app.tab.index())
        .divider("|")
        .padding("", " ")
        .highlight_style(
            t.fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        );
    f.render_widget(tabs, tabs_area);
    match app.tab {
        DetailTab::Curves => draw_curves(f, app, t, run, body),
        DetailTab::Confusion => draw_confusion_tab(f, app, t, run, body),
        DetailTab::Roc => draw_roc_tab(f, app, t, run, body),
        DetailTab::Config => {
            let text = if run.config.is_empty() {
                "no configuration recorded yet".to_string()
            } else {
                run.config.clone()
            };
            f.render_widget(Paragraph::new(text).scroll((app.detail_scroll, 0)), body);
        }
        DetailTab::Log => draw_log(f, app, t, run, body),
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
    let (full, empty) = if t.ascii { ("#", ".") } else { ("█", "░") };
    Line::from(vec![
        Span::styled(full.repeat(filled), t.status(run.status)),
        Span::styled(empty.repeat(bar_w - filled), t.dim()),
        Span::raw(info),
    ])
}

fn draw_curves(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
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
        .bar_set(if t.ascii {
            ASCII_BARS
        } else {
            symbols::bar::NINE_LEVELS
        });
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
            draw_confusion(f, t, run, i, c4);
            roc_chart(
                f,
                t,
                &[(run.id.clone(), &run.completed[i].valid)],
                c5,
                Some(i + 1),
            );
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

/// One line of a chart: name, points, style and marker.
type Series = (String, Vec<(f64, f64)>, Style, Marker);

fn series(run: &RunState, f: impl Fn(&EpochSummary) -> f64) -> Vec<(f64, f64)> {
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

/// A line chart of named series over epochs.
fn epoch_chart(
    f: &mut Frame,
    t: &Theme,
    title: String,
    series: &[Series],
    max_epochs: usize,
    ylimit: [f64; 2],
    area: Rect,
) {
    let data: Vec<&[(f64, f64)]> = series.iter().map(|s| s.1.as_slice()).collect();
    let yb = y_bounds(&data, ylimit);
    let xb = x_bounds(max_epochs);
    let datasets: Vec<Dataset> = series
        .iter()
        .map(|(name, pts, style, marker)| {
            Dataset::default()
                .name(name.clone())
                .marker(*marker)
                .graph_type(GraphType::Line)
                .style(*style)
                .data(pts)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(t.block(title, false))
        .x_axis(
            Axis::default()
                .bounds(xb)
                .labels(axis_labels(xb, 0))
                .style(t.dim()),
        )
        .y_axis(
            Axis::default()
                .bounds(yb)
                .labels(axis_labels(yb, 2))
                .style(t.dim()),
        )
        .legend_position(Some(LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    f.render_widget(chart, area);
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

fn epoch_caption(app: &App, run: &RunState, i: usize) -> String {
    let e = &run.completed[i];
    let best = run.best_epoch == Some(e.epoch);
    let follow = if app.cm_epoch.is_none() {
        ", latest"
    } else {
        ""
    };
    format!(
        "epoch {}/{}{}{}",
        e.epoch,
        run.epochs,
        if best { ", best" } else { "" },
        follow
    )
}

/// The caption line of the per-epoch tabs (confusion, ROC): which epoch is shown and how to
/// step. Returns the epoch index and the area below, or `None` before the first epoch ends.
fn epoch_tab_header(
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
    f.render_widget(
        Paragraph::new(format!(
            "{}   [ / ] step epochs, b best",
            epoch_caption(app, run, i)
        ))
        .style(t.dim()),
        cap,
    );
    Some((i, body))
}

fn draw_confusion_tab(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let Some((i, body)) = epoch_tab_header(f, app, t, run, area) else {
        return;
    };
    draw_confusion(f, t, run, i, body);
}

/// The validation confusion matrix (counts and row rates) and its metrics.
fn draw_confusion(f: &mut Frame, t: &Theme, run: &RunState, i: usize, area: Rect) {
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
    .header(
        Row::new(vec!["valid, t = 0.5", "predicted 0", "predicted 1"])
            .style(t.dim().add_modifier(Modifier::BOLD)),
    )
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

fn draw_roc_tab(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
    let Some((i, body)) = epoch_tab_header(f, app, t, run, area) else {
        return;
    };
    roc_chart(
        f,
        t,
        &[("valid".to_string(), &run.completed[i].valid)],
        body,
        Some(run.completed[i].epoch),
    );
}

/// ROC curves with the chance diagonal; the AUC is in the title (one curve) or legend.
fn roc_chart(
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
    let mut datasets = vec![
        Dataset::default()
            .name("chance")
            .marker(t.marker())
            .graph_type(GraphType::Line)
            .style(t.dim())
            .data(&diag),
    ];
    for (i, ((name, m), p)) in curves.iter().zip(&pts).enumerate() {
        let (style, marker) = t.series(i);
        let label = if curves.len() > 1 {
            format!("{name} {:.3}", m.auc)
        } else {
            name.clone()
        };
        datasets.push(
            Dataset::default()
                .name(label)
                .marker(marker)
                .graph_type(GraphType::Line)
                .style(style)
                .data(p),
        );
    }
    let title = match (curves, epoch) {
        ([(_, m)], Some(e)) => format!(" ROC, epoch {e}, AUC {:.4} ", m.auc),
        ([(_, m)], None) => format!(" ROC, AUC {:.4} ", m.auc),
        _ => " ROC (best epochs) ".to_string(),
    };
    let b = [0.0, 1.0];
    let chart = Chart::new(datasets)
        .block(t.block(title, false))
        .x_axis(
            Axis::default()
                .title("FPR")
                .bounds(b)
                .labels(axis_labels(b, 1))
                .style(t.dim()),
        )
        .y_axis(
            Axis::default()
                .title("TPR")
                .bounds(b)
                .labels(axis_labels(b, 1))
                .style(t.dim()),
        )
        .legend_position(Some(LegendPosition::BottomRight))
        .hidden_legend_constraints((Constraint::Ratio(2, 3), Constraint::Ratio(2, 3)));
    f.render_widget(chart, area);
}

fn draw_log(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) {
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

fn draw_help(f: &mut Frame, app: &App, t: &Theme, area: Rect, scroll: u16) {
    let r = layout::centered(area, 72, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let lines: Vec<Line> = keymap::help_lines(&app.keys, t.ascii)
        .into_iter()
        .map(|(head, text)| match head {
            Some(h) => Line::styled(h, t.fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            None => Line::from(text),
        })
        .collect();
    let max_scroll = (lines.len() as u16).saturating_sub(r.height.saturating_sub(2));
    let p = Paragraph::new(lines)
        .scroll((scroll.min(max_scroll), 0))
        .block(t.block(" Help (Esc closes, j/k scroll) ", true));
    f.render_widget(p, r);
}

fn draw_form(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(form) = &app.form else { return };
    let r = layout::centered(area, 100, area.height.saturating_sub(2));
    f.render_widget(Clear, r);
    let title = format!(
        " Edit {} ({}) ",
        form.experiment.name,
        form.source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let block = t.block(title, true);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let [list, help, input, msg] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(2),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let visible = list.height as usize;
    let off = layout::offset(form.selected, visible);
    let key_w = form.fields.iter().map(|x| x.key.len()).max().unwrap_or(10) + 2;
    let lines: Vec<Line> = form
        .fields
        .iter()
        .enumerate()
        .skip(off)
        .take(visible)
        .map(|(i, fv)| {
            let changed = form.changed.contains(&fv.key);
            let mut line = Line::from(vec![
                Span::styled(if changed { "* " } else { "  " }, t.fg(Color::Yellow)),
                Span::styled(format!("{:<key_w$}", fv.key), t.fg(Color::Cyan)),
                Span::raw(format!("{:<24} ", fv.value)),
                Span::styled(fv.kind.clone(), t.dim()),
            ]);
            if i == form.selected {
                line = line.style(t.selected(true));
            }
            line
        })
        .collect();
    f.render_widget(Paragraph::new(lines), list);
    if let Some(fv) = form.selected_field() {
        f.render_widget(
            Paragraph::new(fv.help.clone())
                .style(t.dim())
                .wrap(Wrap { trim: true }),
            help,
        );
    }
    let prompt = if let Some(buf) = &form.editing {
        let key = form.selected_field().map_or("", |x| x.key.as_str());
        Some(format!("{key} = {buf}_"))
    } else {
        form.saving
            .as_ref()
            .map(|buf| format!("save as experiments/{buf}_"))
    };
    if let Some(p) = prompt {
        f.render_widget(
            Paragraph::new(p).style(t.fg(Color::Yellow).add_modifier(Modifier::BOLD)),
            input,
        );
    }
    if let Some((err, m)) = &form.message {
        f.render_widget(
            Paragraph::new(m.clone()).style(if *err {
                t.fg(Color::Red)
            } else {
                t.fg(Color::Green)
            }),
            msg,
        );
    }
}

fn draw_compare(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let table = app.compare_table();
    let st = app.compare.clone().unwrap_or_default();
    let sort_col = st.sort_col.min(table.columns.len().saturating_sub(1));
    let table_h = (table.rows.len() as u16 + 3 + table.problems.len() as u16).min(area.height / 2);
    let [ta, charts] =
        Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(area);
    // Colour of each run, the same in the table and in every chart.
    let runs = app.marked_runs();
    let color_of = |id: &str| runs.iter().position(|r| r.id == id).unwrap_or(0);
    let arrow = match (st.reverse, t.ascii) {
        (false, false) => " ▲",
        (true, false) => " ▼",
        (false, true) => " ^",
        (true, true) => " v",
    };
    let header: Vec<Cell> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == sort_col {
                Cell::from(format!("{c}{arrow}"))
                    .style(t.fg(Color::Yellow).add_modifier(Modifier::BOLD))
            } else {
                Cell::from(c.clone())
            }
        })
        .collect();
    let widths: Vec<Constraint> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let w = table
                .rows
                .iter()
                .map(|r| r.1[i].chars().count())
                .chain([c.chars().count() + 2])
                .max()
                .unwrap_or(4);
            Constraint::Length(w as u16)
        })
        .collect();
    let rows: Vec<Row> = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, (id, cells))| {
            let (style, _) = t.series(color_of(id));
            let row = Row::new(
                cells
                    .iter()
                    .enumerate()
                    .map(|(j, c)| {
                        if j == 0 {
                            Cell::from(c.clone()).style(style)
                        } else {
                            Cell::from(c.clone())
                        }
                    })
                    .collect::<Vec<_>>(),
            );
            if i == st.selected {
                row.style(t.selected(true))
            } else {
                row
            }
        })
        .collect();
    let mut title = format!(
        " Compare {} runs: differing hyper-parameters ",
        table.rows.len()
    );
    if !table.problems.is_empty() {
        title.push_str(&format!("({} unreadable configs) ", table.problems.len()));
    }
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(t.dim().add_modifier(Modifier::BOLD)))
            .block(t.block(title, true)),
        ta,
    );
    let max_epochs = runs.iter().map(|r| r.epochs).max().unwrap_or(1);
    let overlay = |metric: fn(&Metrics) -> f64| -> Vec<Series> {
        runs.iter()
            .enumerate()
            .map(|(i, r)| {
                let (s, m) = t.series(i);
                (r.id.clone(), series(r, |e| metric(&e.valid)), s, m)
            })
            .collect()
    };
    let [c1, c2, c3] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(charts);
    epoch_chart(
        f,
        t,
        " valid AUC ".into(),
        &overlay(|m| m.auc),
        max_epochs,
        [0.0, 1.0],
        c1,
    );
    epoch_chart(
        f,
        t,
        " valid loss ".into(),
        &overlay(|m| m.loss),
        max_epochs,
        [0.0, f64::MAX],
        c2,
    );
    let curves: Vec<(String, &Metrics)> = runs
        .iter()
        .filter_map(|r| Some((r.id.clone(), &r.best_summary()?.valid)))
        .collect();
    roc_chart(f, t, &curves, c3, None);
}
