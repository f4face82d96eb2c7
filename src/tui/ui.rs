//! Drawing: lays out the screen and has each pane draw itself from [`App`] alone.

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use super::action::Pane;
use super::app::App;
use super::graphics::Placement;
use super::keymap;
use super::layout;
use super::panes::{compare, confirm, detail, experiments, form, help, prompt, runs};
use super::theme::{self, Theme};

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    draw_with_pictures(f, app);
}

/// Draws the whole screen and returns the pictures a terminal with a graphics protocol shows
/// over their half blocks (none while a pop-up covers the panes: pictures sit above text).
pub fn draw_with_pictures(f: &mut Frame, app: &App) -> Vec<Placement> {
    let t = Theme::of(app);
    let mut pictures = Vec::new();
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
            pictures = detail::draw(f, app, &t, a.detail);
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
    if app.form.is_some() || app.help.is_some() || app.confirm.is_some() {
        pictures.clear();
    }
    pictures
}

fn draw_header(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    // The same count as the runs pane's title.
    let c = app.run_counts();
    let title = Span::styled(
        " histoboard ",
        t.fg(Color::Cyan).add_modifier(Modifier::BOLD),
    );
    let dir = vec![Span::styled(format!("{} ", app.dir.display()), t.dim())];
    let mut counts = vec![Span::raw(format!(
        "| {} runs, {} running, {} queued ",
        c.total, c.running, c.queued
    ))];
    if !app.marked.is_empty() {
        counts.push(Span::raw(format!("| {} marked ", app.marked.len())));
    }
    let mut device = Vec::new();
    if !app.gpus.is_empty() {
        let gpus: Vec<String> = app.gpus.iter().map(|g| g.describe()).collect();
        device.push(Span::raw("| "));
        device.push(Span::styled(
            format!("{} ", gpus.join(", ")),
            t.fg(Color::Magenta),
        ));
    } else if app.cpu_threads > 0 {
        device.push(Span::raw(format!("| CPU ({} threads) ", app.cpu_threads)));
    }
    let mut message = Vec::new();
    if let Some((err, msg)) = &app.message {
        message.push(Span::raw("| "));
        message.push(Span::styled(msg.clone(), t.outcome(*err)));
    }
    // The outcome of what the user just did must be readable (an export's folder): on a narrow
    // screen the device, the folder, then the counts give way to it.
    let width = |parts: &[&Vec<Span>]| -> usize {
        title.width()
            + parts
                .iter()
                .flat_map(|p| p.iter())
                .map(Span::width)
                .sum::<usize>()
    };
    let choices: [&[&Vec<Span>]; 4] = [
        &[&dir, &counts, &device, &message],
        &[&dir, &counts, &message],
        &[&counts, &message],
        &[&message],
    ];
    let parts = choices
        .iter()
        .find(|c| message.is_empty() || width(c) <= area.width as usize)
        .unwrap_or(&choices[3]);
    let mut spans = vec![title.clone()];
    spans.extend(parts.iter().flat_map(|p| p.iter().cloned()));
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
