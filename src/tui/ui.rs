//! Drawing: lays out the screen and has each pane draw itself from [`App`] alone.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use super::action::Pane;
use super::app::App;
use super::keymap;
use super::layout;
use super::panes::{compare, confirm, detail, experiments, form, help, prompt, runs};
use super::theme::{self, Theme};

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
        compare::draw(f, app, &t, body);
    } else {
        experiments::draw(f, app, &t, a.experiments);
        runs::draw(f, app, &t, a.runs);
        // The detail area shows what the focused list would act on.
        if app.focus == Pane::Experiments {
            experiments::draw_summary(f, app, &t, a.detail);
        } else {
            detail::draw(f, app, &t, a.detail);
        }
    }
    if let Some(state) = &app.form {
        form::draw(f, state, &t, area);
    }
    if let Some(scroll) = app.help {
        help::draw(f, &app.keys, scroll, &t, area);
    }
    if let Some(c) = &app.confirm {
        confirm::draw(f, c, &t, area);
    }
    match &app.prompt {
        Some(p) => prompt::draw(f, app, p, &t, a.hints),
        None => draw_hints(f, app, &t, a.hints),
    }
    if t.ascii {
        theme::asciify(f.buffer_mut());
    }
}

fn draw_header(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    // The same count as the runs pane's title.
    let counts = app.run_counts();
    let mut spans = vec![
        Span::styled(
            " histoboard ",
            t.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        Span::styled(format!("{} ", app.dir.display()), t.dim()),
        Span::raw(format!(
            "| {} runs, {} running, {} queued ",
            counts.total, counts.running, counts.queued
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
        spans.push(Span::styled(msg.clone(), t.outcome(*err)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys of the current context, from the key map, as many as fit (`? help` always).
fn draw_hints(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let mut spans = Vec::new();
    let hints = keymap::hints(&app.keys, app.ctx(), t.ascii);
    for (keys, desc) in keymap::fit_hints(hints, area.width as usize) {
        spans.push(Span::styled(keys, t.key()));
        spans.push(Span::raw(format!(" {desc}  ")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
