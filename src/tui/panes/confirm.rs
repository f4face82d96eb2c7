//! The yes/no prompt before cancelling a run, dropping a queued launch, archiving or deleting
//! runs, or quitting.

use ratatui::prelude::*;
use ratatui::widgets::{Clear, Paragraph, Wrap};

use crate::tui::action::{Action, Effect};
use crate::tui::app::App;
use crate::tui::layout;
use crate::tui::theme::Theme;

/// What a confirmation prompt is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    CancelRun {
        run_id: String,
    },
    CancelQueued {
        ticket: u64,
        name: String,
    },
    Quit {
        active: usize,
    },
    /// Archive (or delete) these runs; `what` says how many and how big (`prune::describe`).
    Prune {
        ids: Vec<String>,
        delete: bool,
        what: String,
    },
}

impl Confirm {
    pub fn question(&self) -> String {
        match self {
            Confirm::CancelRun { run_id, .. } => {
                format!("Cancel run {run_id}? It checkpoints first and can be resumed.")
            }
            Confirm::CancelQueued { name, .. } => format!("Drop queued launch of {name}?"),
            Confirm::Quit { active } => format!(
                "{active} run(s) launched here are queued or running and will be cancelled \
                 (detached runs go on). Quit?"
            ),
            Confirm::Prune {
                delete: true, what, ..
            } => format!("Delete {what} for good?"),
            Confirm::Prune { ids, what, .. } => {
                let (leave, stay) = if ids.len() == 1 {
                    ("It leaves", "stays")
                } else {
                    ("They leave", "stay")
                };
                format!("Archive {what}? {leave} the list and {stay} in runs/.archive/")
            }
        }
    }

    /// Which runs, for a prune: the first few by name.
    pub fn names(&self) -> Option<String> {
        let Confirm::Prune { ids, .. } = self else {
            return None;
        };
        const SHOWN: usize = 3;
        let mut s = ids
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if ids.len() > SHOWN {
            s.push_str(&format!(" and {} more", ids.len() - SHOWN));
        }
        Some(s)
    }
}

/// `y` does what was asked, `n` or Esc drops it; other keys are ignored.
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    let yes = match action {
        Action::Yes => true,
        Action::No | Action::Back => false,
        _ => return Vec::new(),
    };
    let Some(c) = app.confirm.take() else {
        return Vec::new();
    };
    if !yes {
        return Vec::new();
    }
    match c {
        Confirm::CancelRun { run_id } => {
            app.message_about(&run_id, format!("cancelling {run_id}"));
            vec![Effect::Cancel { run_id }]
        }
        Confirm::CancelQueued { ticket, name } => {
            app.queue.retain(|p| p.ticket != ticket);
            app.clamp_run_sel();
            app.message = Some((false, format!("dropped queued {name}")));
            Vec::new()
        }
        Confirm::Quit { .. } => {
            app.should_quit = true;
            vec![Effect::Quit]
        }
        Confirm::Prune { ids, delete, .. } => super::runs::confirmed_prune(app, ids, delete),
    }
}

pub fn draw(f: &mut Frame, c: &Confirm, t: &Theme, area: Rect) {
    let text = c.question();
    let names = c.names();
    let longest = text
        .chars()
        .count()
        .max(names.as_ref().map_or(0, |n| n.chars().count()));
    let w = (longest as u16 + 4).clamp(30, area.width.saturating_sub(4).max(30));
    // Wrapped lines of each paragraph line, and one more as words wrap a little earlier.
    let inner = (w - 2) as usize;
    let rows = |s: &str| s.chars().count().div_ceil(inner).max(1) as u16;
    let h = 5 + rows(&text) + names.as_deref().map_or(0, rows);
    let r = layout::centered(area, w, h);
    f.render_widget(Clear, r);
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::from(text)];
    lines.extend(names.map(|n| Line::styled(n, t.dim())));
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("y", bold),
        Span::raw(" yes   "),
        Span::styled("n", bold),
        Span::raw(" no"),
    ]));
    let p = Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .block(t.block(" Confirm ", true));
    f.render_widget(p, r);
}
