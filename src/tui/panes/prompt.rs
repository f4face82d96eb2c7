//! One-line inputs over the main screen, typed on the bottom line: a list's filter (`/`,
//! applied as you type) and the selected run's note (`i`) and tags (`t`).

use ratatui::prelude::*;
use ratatui::widgets::Paragraph;

use crate::runs::RunMeta;
use crate::tui::action::{Action, Effect, Pane};
use crate::tui::app::App;
use crate::tui::keymap::{self, Ctx};
use crate::tui::theme::Theme;

#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
    /// Why the text was refused (the prompt stays open to correct it).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PromptKind {
    /// The filter of the experiments or the runs list.
    Filter(Pane),
    /// `was`: the text it opened with, so that Enter on it writes nothing.
    Note {
        run_id: String,
        was: String,
    },
    Tags {
        run_id: String,
        was: String,
    },
}

/// `/`: edits the focused list's filter (the runs', from the detail).
pub fn open_filter(app: &mut App) {
    let pane = match app.focus {
        Pane::Experiments => Pane::Experiments,
        _ => Pane::Runs,
    };
    let text = match pane {
        Pane::Experiments => app.exp_filter.clone(),
        _ => app.run_filter.clone(),
    };
    app.prompt = Some(Prompt {
        kind: PromptKind::Filter(pane),
        text,
        error: None,
    });
}

/// Sets a list's filter; the cursor stays on its row while it matches, else goes to the first.
pub fn set_filter(app: &mut App, pane: Pane, text: String) {
    match pane {
        Pane::Experiments => {
            let cur = app.exp_rows().get(app.exp_sel).copied();
            app.exp_filter = text;
            let rows = app.exp_rows();
            app.exp_sel = cur
                .and_then(|c| rows.iter().position(|&i| i == c))
                .unwrap_or(0);
        }
        _ => {
            let before = app.selected_run().map(|r| r.id.clone());
            app.keeping_run_selection(|app| app.run_filter = text);
            if app.selected_run().map(|r| r.id.clone()) != before {
                app.run_sel = 0;
                app.cm_epoch = None;
                app.detail_scroll = 0;
            }
        }
    }
}

/// `i` / `t` on a run: its note or tags, prefilled, to edit.
pub fn open_meta(app: &mut App, tags: bool) {
    let Some(r) = app.selected_run() else {
        app.message = Some((true, "select a run to write its note or tags".into()));
        return;
    };
    let run_id = r.id.clone();
    // One line: a note written elsewhere on several lines is shown joined.
    let was = if tags {
        r.meta.tags.join(", ")
    } else {
        r.meta.note.replace('\n', " ")
    };
    let kind = if tags {
        PromptKind::Tags {
            run_id,
            was: was.clone(),
        }
    } else {
        PromptKind::Note {
            run_id,
            was: was.clone(),
        }
    };
    app.prompt = Some(Prompt {
        kind,
        text: was,
        error: None,
    });
}

/// Typing, Backspace, Enter (accept) and Esc (a filter is cleared, a note left as it was).
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    let Some(p) = &mut app.prompt else {
        return Vec::new();
    };
    match action {
        Action::Char(c) => {
            p.text.push(c);
            p.error = None;
        }
        Action::Backspace => {
            p.text.pop();
            p.error = None;
        }
        Action::Back => {
            if let Some(Prompt {
                kind: PromptKind::Filter(pane),
                ..
            }) = app.prompt.take()
            {
                set_filter(app, pane, String::new());
            }
            return Vec::new();
        }
        Action::Submit => return submit(app),
        _ => return Vec::new(),
    }
    // A filter narrows the list as it is typed.
    if let PromptKind::Filter(pane) = p.kind {
        let text = p.text.clone();
        set_filter(app, pane, text);
    }
    Vec::new()
}

fn submit(app: &mut App) -> Vec<Effect> {
    let Some(p) = app.prompt.take() else {
        return Vec::new();
    };
    let (run_id, was, tags) = match &p.kind {
        PromptKind::Filter(_) => return Vec::new(),
        PromptKind::Note { run_id, was } => (run_id.clone(), was.clone(), false),
        PromptKind::Tags { run_id, was } => (run_id.clone(), was.clone(), true),
    };
    let Some(run) = app.runs.iter().find(|r| r.id == run_id) else {
        app.message = Some((true, format!("{run_id} is no longer listed: nothing saved")));
        return Vec::new();
    };
    let mut meta = run.meta.clone();
    if tags {
        match RunMeta::parse_tags(&p.text) {
            Ok(t) => meta.tags = t,
            Err(e) => {
                app.prompt = Some(Prompt {
                    error: Some(format!("{e}")),
                    ..p
                });
                return Vec::new();
            }
        }
    } else {
        meta.note = p.text.trim().to_string();
    }
    let what = if tags { "tags" } else { "note" };
    if p.text.trim() == was.trim() || meta == run.meta {
        app.message = Some((false, format!("{what} of {run_id} unchanged")));
        return Vec::new();
    }
    app.message = Some((false, format!("saving the {what} of {run_id}")));
    vec![Effect::SaveMeta { run_id, meta }]
}

/// The bottom line while typing: what is typed and where, then the keys.
pub fn draw(f: &mut Frame, app: &App, p: &Prompt, t: &Theme, area: Rect) {
    let label = match &p.kind {
        PromptKind::Filter(Pane::Experiments) => "filter experiments /".to_string(),
        PromptKind::Filter(_) => "filter runs /".to_string(),
        PromptKind::Note { run_id, .. } => format!("note for {run_id}: "),
        PromptKind::Tags { run_id, .. } => format!("tags for {run_id} (comma-separated): "),
    };
    let hints: String = keymap::hints(&app.keys, Ctx::Input, t.ascii)
        .into_iter()
        .map(|(k, d)| format!("  {k} {d}"))
        .collect();
    let error = p
        .error
        .as_ref()
        .map(|e| format!("  {e}"))
        .unwrap_or_default();
    let cursor = t.glyph("▏", "_");
    // The end of a long text is where one types: show that.
    let room = (area.width as usize)
        .saturating_sub(label.chars().count() + 1 + error.chars().count() + hints.chars().count())
        .max(8);
    let n = p.text.chars().count();
    let shown: String = p.text.chars().skip(n.saturating_sub(room)).collect();
    let line = Line::from(vec![
        Span::styled(label, t.key()),
        Span::raw(shown),
        Span::styled(cursor, t.key()),
        Span::styled(error, t.outcome(true)),
        Span::styled(hints, t.dim()),
    ]);
    f.render_widget(Paragraph::new(line), area);
}
