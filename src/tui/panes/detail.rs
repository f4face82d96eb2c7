//! The selected run's detail: its title, the tab bar, and each tab's own module
//! (curves, confusion, ROC, config, log, errors, calibration). Owns the tab, scroll and epoch keys.

use std::ops::Range;

use ratatui::prelude::*;
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};

use super::{calibration, config, confusion, curves, errors, log, roc, step_index};
use crate::tui::action::{Action, DetailTab, Effect, Pane};
use crate::tui::app::App;
use crate::tui::graphics::Placement;
use crate::tui::layout;
use crate::tui::theme::Theme;

/// What the tab bar draws after each title, and between titles.
const TAB_PADDING: &str = " ";
const TAB_DIVIDER: &str = "|";

/// The tab titles as the tab bar shows them: `1 Curves`.
fn tab_labels() -> Vec<String> {
    DetailTab::ALL
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{} {}", i + 1, d.title()))
        .collect()
}

/// The columns each tab's title covers on a tab bar starting at column `x`, from the widths
/// the bar is drawn with (title, padding, divider), so clicks land on what is drawn.
pub fn tab_columns(x: u16) -> Vec<(DetailTab, Range<u16>)> {
    let mut x = x;
    DetailTab::ALL
        .iter()
        .zip(tab_labels())
        .map(|(t, label)| {
            let w = (Line::from(label).width() + TAB_PADDING.len() + TAB_DIVIDER.len()) as u16;
            let r = x..x + w;
            x += w;
            (*t, r)
        })
        .collect()
}

/// Where the selected tab draws on a screen of `size`: inside the detail pane's border, below
/// its tab bar. Scrolling uses it to know how much a tab shows.
pub fn body(size: Rect) -> Rect {
    let inner = Block::bordered().inner(layout::main(size).detail);
    Rect {
        y: inner.y + 1,
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// Tab choice (`1`-`7`, `h`/`l`) and the epoch keys (`[`, `]`, `b`).
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Tab(t) => {
            app.tab = t;
            app.detail_scroll = 0;
            if app.focus == Pane::Experiments {
                app.focus = Pane::Runs;
            }
        }
        Action::NextTab | Action::PrevTab => {
            let i = app.tab.index();
            let n = DetailTab::ALL.len();
            let j = if action == Action::NextTab {
                (i + 1) % n
            } else {
                (i + n - 1) % n
            };
            app.tab = DetailTab::ALL[j];
            app.detail_scroll = 0;
        }
        Action::EpochPrev | Action::EpochNext | Action::EpochBest => {
            step_epoch(app, &action);
            // The epoch keys act on the detail: show it.
            if app.focus == Pane::Experiments {
                app.focus = Pane::Runs;
            }
        }
        _ => {}
    }
    Vec::new()
}

/// Text tabs scroll, within their text; the others move the run selection.
pub fn move_by(app: &mut App, delta: isize) {
    let max = match (app.tab, app.selected_run()) {
        (DetailTab::Config, Some(run)) => config::max_scroll(run, body(app.size)),
        (DetailTab::Log, Some(run)) => log::max_scroll(run, body(app.size)),
        _ => 0,
    };
    let scrolled = |by: isize| {
        (app.detail_scroll as isize)
            .saturating_add(by)
            .clamp(0, max as isize) as u16
    };
    match app.tab {
        DetailTab::Config => app.detail_scroll = scrolled(delta),
        // The log scrolls back from its newest line: down goes towards it, `G` is the newest.
        DetailTab::Log => app.detail_scroll = scrolled(delta.saturating_neg()),
        _ => {
            app.run_sel = step_index(app.run_sel, delta, app.row_count());
            app.cm_epoch = None;
        }
    }
}

fn step_epoch(app: &mut App, action: &Action) {
    let Some(run) = app.selected_run() else {
        return;
    };
    let n = run.completed.len();
    let Some(cur) = app.cm_index(run) else {
        return;
    };
    // The best epoch on the run's own metric: the `best` checkpoint's.
    let best = run
        .best_epoch
        .and_then(|b| run.completed.iter().position(|e| e.epoch == b));
    app.cm_epoch = match action {
        Action::EpochPrev => Some(cur.saturating_sub(1)),
        // Reaching the last epoch goes back to following the latest.
        Action::EpochNext if cur + 1 >= n - 1 => None,
        Action::EpochNext => Some(cur + 1),
        _ if app.cm_epoch.is_some() && app.cm_epoch == best => None,
        _ => best,
    };
    if !matches!(
        app.tab,
        DetailTab::Confusion | DetailTab::Roc | DetailTab::Errors | DetailTab::Calibration
    ) {
        app.tab = DetailTab::Confusion;
    }
}

/// A click on a tab title (they sit on the row below the pane's top border) opens it.
pub fn click(app: &mut App, area: Rect, col: u16, row: u16) {
    if row != area.y + 1 {
        return;
    }
    if let Some((t, _)) = tab_columns(area.x + 1)
        .into_iter()
        .find(|(_, r)| r.contains(&col))
    {
        app.tab = t;
        app.detail_scroll = 0;
    }
}

/// Draws the detail pane; returns the pictures of a tab that has some (the error gallery).
pub fn draw(f: &mut Frame, app: &App, t: &Theme, area: Rect) -> Vec<Placement> {
    let focused = app.focus == Pane::Detail && app.form.is_none();
    let Some(run) = app.selected_run() else {
        let msg = match app.selected_set() {
            Some(s) => format!(
                "CV set {}: {} folds of one experiment. o shows them (one row each), m marks \
                 them all, C compares their mean ± sd and out-of-fold AUC.",
                s.name, s.folds
            ),
            None if app.queue.is_empty() => {
                "No run selected. Launch an experiment with l.".to_string()
            }
            None => "Queued: waits for a free slot.".to_string(),
        };
        let msg = Paragraph::new(msg).wrap(Wrap { trim: true });
        f.render_widget(msg.block(t.block(" Run ", focused)), area);
        return Vec::new();
    };
    let mut title = vec![
        Span::raw(format!(" {} ", run.id)),
        Span::styled(format!("{} ", run.status.label()), t.status(run.status)),
    ];
    // The user's words about the run, read without opening anything.
    if !run.meta.tags.is_empty() {
        let tags: String = run.meta.tags.iter().map(|t| format!("#{t} ")).collect();
        title.push(Span::styled(tags, t.fg(Color::Cyan)));
    }
    if !run.meta.note.is_empty() {
        let note = run.meta.note.replace('\n', " ");
        title.push(Span::styled(
            format!("{} {note} ", t.glyph("✎", "+")),
            t.fg(Color::Yellow),
        ));
    }
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
    let block = t.block(Line::from(title), focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 2 {
        return Vec::new();
    }
    let [tabs_area, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    let tabs = Tabs::new(tab_labels())
        .select(app.tab.index())
        .divider(TAB_DIVIDER)
        .padding("", TAB_PADDING)
        .highlight_style(
            t.fg(Color::Yellow)
                .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
        );
    f.render_widget(tabs, tabs_area);
    match app.tab {
        DetailTab::Curves => curves::draw(f, app, t, run, body),
        DetailTab::Confusion => confusion::draw(f, app, t, run, body),
        DetailTab::Roc => roc::draw(f, app, t, run, body),
        DetailTab::Config => config::draw(f, app, run, body),
        DetailTab::Log => log::draw(f, app, t, run, body),
        DetailTab::Errors => return errors::draw(f, app, t, run, body),
        DetailTab::Calibration => calibration::draw(f, app, t, run, body),
    }
    Vec::new()
}
