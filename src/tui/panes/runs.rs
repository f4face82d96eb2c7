//! The runs table (queued launches first, then runs, newest first): marking, cancelling
//! and resuming the selected run.

use ratatui::prelude::*;
use ratatui::widgets::{Cell, Row, Table};

use super::confirm::Confirm;
use super::step_index;
use crate::runs::RunStatus;
use crate::tui::action::{Action, Effect, Pane};
use crate::tui::app::App;
use crate::tui::format::fmt_duration;
use crate::tui::layout;
use crate::tui::theme::Theme;

/// Mark (`m`), cancel (`c`, after a confirmation) and resume (`r`) the selected row.
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::ToggleMark => {
            if let Some(id) = app.selected_run().map(|r| r.id.clone())
                && !app.marked.remove(&id)
            {
                app.marked.insert(id);
            }
        }
        Action::Cancel => ask_cancel(app),
        Action::Resume => {
            if let Some(r) = app.selected_run() {
                if r.status.is_resumable() {
                    let run_id = r.id.clone();
                    app.message = Some((false, format!("resuming {run_id}")));
                    return vec![Effect::Resume { run_id }];
                }
                app.message = Some((
                    true,
                    format!("{} is {}: only stopped runs resume", r.id, r.status.label()),
                ));
            }
        }
        _ => {}
    }
    Vec::new()
}

fn ask_cancel(app: &mut App) {
    // Queued rows come first in the runs pane.
    if let Some(p) = app.queue.get(app.run_sel) {
        app.confirm = Some(Confirm::CancelQueued {
            ticket: p.ticket,
            name: p.experiment.name.clone(),
        });
        return;
    }
    match app.selected_run() {
        Some(r) if r.status.is_active() => {
            app.confirm = Some(Confirm::CancelRun {
                run_id: r.id.clone(),
            })
        }
        Some(r) => {
            app.message = Some((true, format!("{} is {}", r.id, r.status.label())));
        }
        None => {}
    }
}

/// Moves the selection; the detail follows the new run from its latest epoch and top.
pub fn move_by(app: &mut App, delta: isize) {
    app.run_sel = step_index(app.run_sel, delta, app.row_count());
    app.cm_epoch = None;
    app.detail_scroll = 0;
}

pub fn click(app: &mut App, area: Rect, row: u16) {
    if let Some(i) = layout::list_row(area, row, app.run_sel, 1)
        && i < app.row_count()
    {
        app.run_sel = i;
        app.cm_epoch = None;
    }
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Runs && app.form.is_none();
    let wide = area.width >= 90;
    let mid = area.width >= 66;
    let mut columns = vec![
        ("", Constraint::Length(2)),
        ("status", Constraint::Length(9)),
        ("run", Constraint::Min(12)),
        ("epoch", Constraint::Length(7)),
        ("AUC", Constraint::Length(6)),
        ("elapsed", Constraint::Length(7)),
    ];
    // The scheduler's word beside the run's own, once any run went to Slurm.
    let slurm = wide && app.runs.iter().any(|r| r.scheduled.is_some());
    for (show, column) in [
        (mid, ("ETA", Constraint::Length(6))),
        (wide, ("device", Constraint::Length(18))),
        (slurm, ("slurm", Constraint::Length(22))),
    ] {
        columns.extend(show.then_some(column));
    }
    let (header, widths): (Vec<_>, Vec<_>) = columns.into_iter().unzip();
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
            let mark = if app.marked.contains(&r.id) {
                t.glyph("●", "*")
            } else {
                " "
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
        .header(Row::new(header).style(t.header()))
        .column_spacing(1)
        .block(t.block(title, focused));
    f.render_widget(table, area);
}
