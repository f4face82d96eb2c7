//! The comparison of the marked runs: a table of the hyper-parameters that differ and the
//! results, sortable by any column, over charts of their validation curves (a CV set's folds
//! averaged into one curve, as they are one row).

use ratatui::prelude::*;
use ratatui::widgets::{Cell, Row, Table};

use super::step_index;
use crate::metrics::Metrics;
use crate::runs::compare;
use crate::tui::action::{Action, Effect};
use crate::tui::app::App;
use crate::tui::chart::{self, LineChart, RocCurve, Series};
use crate::tui::format::fmt_duration;
use crate::tui::theme::Theme;

/// The comparison view's table state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareState {
    pub sort_col: usize,
    pub reverse: bool,
    pub selected: usize,
}

pub use crate::runs::compare::CompareTable;

/// The comparison table of the marked runs (`runs::compare`, the same table `export` writes
/// as CSV), rows sorted as the user asked, the time column in words.
pub fn table(app: &App) -> CompareTable {
    let mut t = compare::table(&app.marked_runs(), app.now, &app.oof);
    if let Some(st) = &app.compare {
        let col = st.sort_col.min(t.columns.len() - 1);
        t.rows.sort_by(|a, b| cmp_cells(&a.1[col], &b.1[col]));
        if st.reverse {
            t.rows.reverse();
        }
    }
    // Seconds sort right; people read `3m05s`.
    if let Some(col) = t.columns.iter().position(|c| c == "time") {
        for (_, cells) in &mut t.rows {
            let time = &mut cells[col];
            *time = time.parse().map_or_else(|_| time.clone(), fmt_duration);
        }
    }
    t
}

/// Numbers compare as numbers (a CV set's `mean±sd` by its mean), everything else as text.
fn cmp_cells(a: &str, b: &str) -> std::cmp::Ordering {
    let number = |s: &str| s.split(['±', ' ']).next().unwrap_or(s).parse::<f64>();
    match (number(a), number(b)) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// Sorting, moving, unmarking (which closes the view below two runs), chart settings, export,
/// help and quit.
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    let table = table(app);
    let n_cols = table.columns.len();
    let n_rows = table.rows.len();
    let Some(st) = &mut app.compare else {
        return Vec::new();
    };
    match action {
        Action::Back => app.compare = None,
        Action::SortNext => {
            st.sort_col = (st.sort_col + 1) % n_cols.max(1);
        }
        Action::SortReverse => st.reverse = !st.reverse,
        Action::Up => st.selected = step_index(st.selected, -1, n_rows),
        Action::Down => st.selected = step_index(st.selected, 1, n_rows),
        Action::ToggleMark => {
            if let Some((id, _)) = table.rows.get(st.selected) {
                // A CV set's row unmarks its folds.
                match table.sets.iter().find(|s| &s.id == id) {
                    Some(set) => app.marked.retain(|m| !set.runs.contains(m)),
                    None => {
                        app.marked.remove(id);
                    }
                }
                let rows = self::table(app).rows.len();
                if app.marked.len() < 2 {
                    app.compare = None;
                } else if let Some(st) = &mut app.compare {
                    st.selected = st.selected.min(rows.saturating_sub(1));
                }
            }
        }
        Action::Quit => return app.quit(),
        Action::ToggleHelp => app.help = Some(0),
        Action::SmoothMore | Action::SmoothLess | Action::ToggleLogScale => app.chart_key(&action),
        Action::Export => return app.export(),
        _ => {}
    }
    Vec::new()
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let table = table(app);
    let st = app.compare.clone().unwrap_or_default();
    let sort_col = st.sort_col.min(table.columns.len().saturating_sub(1));
    let table_h = (table.rows.len() as u16 + 3 + table.problems.len() as u16).min(area.height / 2);
    let [ta, charts] =
        Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(area);
    // One colour per row (a run, or a CV set), the same in the table and in every chart.
    let runs = app.marked_runs();
    let groups = compare::groups(&runs);
    let color_of = |id: &str| groups.iter().position(|g| g.id == id).unwrap_or(0);
    let arrow = match st.reverse {
        false => t.glyph(" ▲", " ^"),
        true => t.glyph(" ▼", " v"),
    };
    let header: Vec<Cell> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == sort_col {
                Cell::from(format!("{c}{arrow}")).style(t.key())
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
            // Run names carry their marker's glyph when there is no colour.
            let glyph = if i == 0 && !t.color { 2 } else { 0 };
            let w = table
                .rows
                .iter()
                .map(|r| r.1[i].chars().count() + glyph)
                .chain([c.chars().count() + 2])
                .max()
                .unwrap_or(4);
            // A long note must not push the figures off the screen; the CSV has it whole.
            Constraint::Length(w.min(40) as u16)
        })
        .collect();
    let rows: Vec<Row> = table
        .rows
        .iter()
        .enumerate()
        .map(|(i, (id, cells))| {
            // The run's colour (or marker) in every chart: the table is their key.
            let (style, marker) = t.series(color_of(id));
            let row = Row::new(cells.iter().enumerate().map(|(j, c)| {
                if j == 0 {
                    Cell::from(t.legend_name(c, marker)).style(style)
                } else {
                    Cell::from(c.clone())
                }
            }));
            if i == st.selected {
                row.style(t.selected(true))
            } else {
                row
            }
        })
        .collect();
    // A CV set is one row of several runs.
    let mut title = match table.sets.len() {
        0 => format!(" Compare {} runs", table.rows.len()),
        n => format!(" Compare {} runs ({n} CV sets)", runs.len()),
    };
    title.push_str(": differing hyper-parameters ");
    if !table.problems.is_empty() {
        title.push_str(&format!("({} unreadable configs) ", table.problems.len()));
    }
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(t.header()))
            .block(t.block(title, true)),
        ta,
    );
    let max_epochs = runs.iter().map(|r| r.epochs).max().unwrap_or(1);
    // A CV set draws one curve, its folds' mean.
    let overlay = |metric: fn(&Metrics) -> f64| -> Vec<Series> {
        groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let points = match g.runs.as_slice() {
                    [r] => chart::series(r, |e| metric(&e.valid)),
                    folds => chart::mean_series(folds, |e| metric(&e.valid)),
                };
                Series::nth(t, i, g.label(), points)
            })
            .collect()
    };
    let opts = app.charts;
    let auc = LineChart::epochs(
        " valid AUC ".into(),
        overlay(|m| m.auc),
        max_epochs,
        [0.0, 1.0],
    );
    let loss_title = format!(" valid loss{} ", if opts.log_loss { " (log)" } else { "" });
    let limit = [0.0, f64::INFINITY];
    let loss = LineChart::epochs(loss_title, overlay(|m| m.loss), max_epochs, limit);
    // Narrow screens keep two charts wide enough to read rather than three squeezed ones.
    let (c1, c2, c3) = if charts.width >= 110 {
        let [c1, c2, c3] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(charts);
        (c1, c2, Some(c3))
    } else {
        let [c1, c2] = Layout::horizontal([Constraint::Ratio(1, 2); 2])
            .spacing(1)
            .areas(charts);
        (c1, c2, None)
    };
    chart::line_chart(f, t, &auc.opts(opts, false), c1);
    chart::line_chart(f, t, &loss.opts(opts, true), c2);
    if let Some(c3) = c3 {
        let curves: Vec<RocCurve> = groups
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                let best: Vec<&Metrics> = g
                    .runs
                    .iter()
                    .filter_map(|r| Some(&r.best_summary()?.valid))
                    .collect();
                match (&g.set, best.as_slice()) {
                    (None, [m]) => Some(RocCurve::of(i, g.label(), m)),
                    (Some(_), folds) => RocCurve::mean(i, g.label(), folds),
                    _ => None,
                }
            })
            .collect();
        chart::roc_chart(f, t, &curves, c3, None);
    }
}
