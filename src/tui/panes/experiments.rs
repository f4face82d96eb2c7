//! The experiments list (one row per file of `experiments/`), launching from it, and the
//! selected file's summary, shown in the detail area while this pane has the focus.

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Wrap};

use super::{form, launcher_kind, step_index};
use crate::tui::action::{Action, Effect, Pane};
use crate::tui::app::App;
use crate::tui::experiments::ExpEntry;
use crate::tui::layout;
use crate::tui::theme::Theme;

/// Launches (`l`, `L`, `S`) and the form (`e`), on the selected experiment.
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    if action == Action::Edit {
        form::open(app);
        return Vec::new();
    }
    let Some(e) = app.selected_experiment() else {
        app.message = Some((true, "no experiment selected".into()));
        return Vec::new();
    };
    match &e.result {
        Ok(exps) if exps.is_empty() => Vec::new(),
        Ok(exps) => {
            let kind = launcher_kind(&action, exps[0].launcher);
            let (exps, path) = (exps.clone(), e.path.clone());
            app.launch(exps, path, kind)
        }
        Err(err) => {
            app.message = Some((
                true,
                format!("{} is invalid: {}", e.file_name(), err.describe()),
            ));
            Vec::new()
        }
    }
}

pub fn move_by(app: &mut App, delta: isize) {
    app.exp_sel = step_index(app.exp_sel, delta, app.exp_rows().len());
}

pub fn click(app: &mut App, area: Rect, row: u16) {
    if let Some(i) = layout::list_row(area, row, app.exp_sel, 0)
        && i < app.exp_rows().len()
    {
        app.exp_sel = i;
    }
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Experiments && app.form.is_none();
    if app.experiments.is_empty() {
        let p = Paragraph::new("no experiments/*.toml")
            .style(t.dim())
            .block(t.block(" Experiments ", focused));
        f.render_widget(p, area);
        return;
    }
    let rows = app.exp_rows();
    let visible = layout::visible_rows(area, 0);
    let off = layout::offset(app.exp_sel, visible);
    let lines: Vec<Line> = rows
        .iter()
        .map(|&i| &app.experiments[i])
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
    let total = app.experiments.len();
    let title = if app.exp_filter.is_empty() {
        format!(" Experiments ({total}) ")
    } else {
        format!(
            " Experiments ({} of {total}, /{}) ",
            rows.len(),
            app.exp_filter
        )
    };
    f.render_widget(Paragraph::new(lines).block(t.block(title, focused)), area);
}

/// The selected file at a glance: its settings, or where and why it is invalid.
pub fn draw_summary(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(e) = app.selected_experiment() else {
        let p = Paragraph::new("Put experiment TOML files in experiments/.")
            .block(t.block(" Experiment ", false));
        f.render_widget(p, area);
        return;
    };
    let p = Paragraph::new(summary_lines(e, t))
        .wrap(Wrap { trim: false })
        .block(t.block(format!(" {} ", e.file_name()), false));
    f.render_widget(p, area);
}

fn summary_lines<'a>(e: &'a ExpEntry, t: &Theme) -> Vec<Line<'a>> {
    let exps = match &e.result {
        Err(err) => {
            return vec![
                Line::styled(
                    format!("{} invalid", t.ok_mark(false)),
                    t.fg(Color::Red).add_modifier(Modifier::BOLD),
                ),
                Line::styled(err.describe(), t.fg(Color::Red)),
                Line::from(""),
                Line::styled(
                    format!(
                        "experiments/{}: the list reloads when the file changes",
                        e.file_name()
                    ),
                    t.dim(),
                ),
            ];
        }
        Ok(exps) => exps,
    };
    let Some(first) = exps.first() else {
        return vec![Line::from("no experiments in this file")];
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(
            first.name.clone(),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(if exps.len() > 1 {
            format!("  sweep of {} runs", exps.len())
        } else {
            String::new()
        }),
    ])];
    if !first.description.is_empty() {
        lines.push(Line::styled(first.description.clone(), t.dim()));
    }
    // A sweep shows every value its runs take.
    lines.extend(e.summary.iter().map(|(key, vals)| {
        Line::from(vec![
            Span::styled(format!("{key:<18}"), t.fg(Color::Cyan)),
            Span::raw(vals.clone()),
        ])
    }));
    lines
}
