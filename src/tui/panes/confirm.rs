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
            // What the trainer does: it stops at the next batch and keeps only whole epochs.
            Confirm::CancelRun { run_id, .. } => format!(
                "Cancel run {run_id}? It stops at the next batch; the epoch under way is dropped. \
                 Resume (r) restarts from the last completed epoch's checkpoint and repeats the \
                 dropped epoch exactly."
            ),
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
    let w = (longest as u16 + 4)
        .clamp(30, area.width.saturating_sub(4).max(30))
        .min(72);
    // The question and the names wrapped, a blank line, the keys, the border.
    let inner = w.saturating_sub(2);
    let h =
        wrapped_lines(&text, inner) + names.as_deref().map_or(0, |n| wrapped_lines(n, inner)) + 4;
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

/// Lines `text` takes when word-wrapped to `width` columns (as the dialog wraps it).
fn wrapped_lines(text: &str, width: u16) -> u16 {
    let width = usize::from(width.max(1));
    let (mut lines, mut col) = (1u16, 0usize);
    for word in text.split_whitespace() {
        let w = word.chars().count();
        if col > 0 && col + 1 + w > width {
            lines += 1;
            col = 0;
        }
        col += if col > 0 { 1 + w } else { w };
        // A word longer than the line runs on over the next lines.
        while col > width {
            lines += 1;
            col -= width;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_counts_lines() {
        assert_eq!(wrapped_lines("one two", 20), 1);
        assert_eq!(wrapped_lines("one two three", 8), 2);
        assert_eq!(wrapped_lines("abcdefghij", 4), 3);
    }
}
