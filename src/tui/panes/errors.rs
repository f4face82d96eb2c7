//! The Errors tab: the selected run's error gallery (`gallery`) for the epoch the confusion and
//! ROC tabs show (`[`, `]`, `b`): its most confident false positives, false negatives or most
//! uncertain tiles (`v` switches), each drawn in half blocks with its centre 32x32 outlined,
//! its short id, label and probability; `O` lays the saliency maps over them where
//! `histoboard errors --saliency` computed some. The shell reads the gallery off the UI thread
//! ([`Effect::LoadGallery`]); it comes back as [`Action::GalleryLoaded`].

use std::sync::Arc;

use ratatui::prelude::*;
use ratatui::widgets::{Paragraph, Wrap};

use super::confusion::epoch_header;
use crate::data::SIDE;
use crate::gallery::{self, Kind, Loaded};
use crate::runs::RunState;
use crate::tui::action::{Action, DetailTab, Effect, Pane};
use crate::tui::app::App;
use crate::tui::graphics::Placement;
use crate::tui::halfblocks::{HalfBlocks, downscale};
use crate::tui::theme::Theme;

/// Which gallery: a run and an epoch (`None` before the run has one).
type Key = (String, Option<usize>);

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorsState {
    pub view: Kind,
    /// Saliency maps over the tiles.
    pub saliency: bool,
    /// The gallery asked of the shell and not back yet.
    pub pending: Option<Key>,
    /// The last gallery read, or why it could not be.
    pub loaded: Option<(Key, Result<Arc<Loaded>, String>)>,
    /// Read the shown gallery again (saliency maps may have been computed since).
    pub stale: bool,
}

impl Default for ErrorsState {
    fn default() -> Self {
        ErrorsState {
            view: Kind::FalsePositive,
            saliency: false,
            pending: None,
            loaded: None,
            stale: false,
        }
    }
}

/// The gallery the Errors tab would show now: the selected run at the epoch the per-epoch
/// tabs show.
fn wanted(app: &App) -> Option<(Key, &RunState)> {
    if app.tab != DetailTab::Errors {
        return None;
    }
    let run = app.selected_run()?;
    let epoch = app.cm_index(run).map(|i| run.completed[i].epoch);
    epoch.map(|e| ((run.id.clone(), Some(e)), run))
}

/// The read the Errors tab needs, unless it has it or has asked for it.
pub fn request(app: &mut App) -> Option<Effect> {
    let (key, run) = wanted(app)?;
    let have = app.errors.loaded.as_ref().map(|l| &l.0) == Some(&key) && !app.errors.stale;
    if have || app.errors.pending.as_ref() == Some(&key) {
        return None;
    }
    let effect = Effect::LoadGallery {
        run_dir: run.dir.clone(),
        run_id: key.0.clone(),
        epoch: key.1,
        best_epoch: run.best_epoch,
    };
    app.errors.pending = Some(key);
    app.errors.stale = false;
    Some(effect)
}

/// A gallery read by the shell.
pub fn loaded(
    app: &mut App,
    run_id: String,
    epoch: Option<usize>,
    result: Result<Arc<Loaded>, String>,
) {
    let key = (run_id, epoch);
    if app.errors.pending.as_ref() == Some(&key) {
        app.errors.pending = None;
    }
    app.errors.loaded = Some((key, result));
}

/// `v` (the next group) and `O` (saliency over the tiles); both show the tab.
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::GalleryView => app.errors.view = app.errors.view.next(),
        Action::ToggleSaliency => {
            app.errors.saliency = !app.errors.saliency;
            app.errors.stale = true;
            app.message = saliency_note(app);
        }
        _ => return Vec::new(),
    }
    app.tab = DetailTab::Errors;
    if app.focus == Pane::Experiments {
        app.focus = Pane::Runs;
    }
    Vec::new()
}

/// Why the overlay shows nothing, and what to do: the maps are computed by the engine, never
/// here.
fn saliency_note(app: &App) -> Option<(bool, String)> {
    if !app.errors.saliency {
        return Some((false, "gallery: saliency off".into()));
    }
    let run = app.selected_run()?;
    if app.cm_index(run).map(|i| run.completed[i].epoch) != run.best_epoch {
        return Some((
            true,
            "saliency maps are the best checkpoint's: b shows the best epoch".into(),
        ));
    }
    let shown = app.errors.loaded.as_ref().and_then(|(k, r)| match r {
        Ok(l) if k.0 == run.id => Some(l.saliency.len()),
        _ => None,
    });
    if shown.is_some_and(|n| n > 0) {
        return Some((false, "gallery: saliency on".into()));
    }
    let dir = app.dir.join("runs").join(&run.id);
    Some((
        true,
        format!(
            "no saliency maps for {}: compute them with `histoboard errors {} --saliency --out \
             errors`, then press O again",
            run.id,
            dir.display()
        ),
    ))
}

/// Side in pixels (and cells) a tile is drawn at: 96 divided evenly.
const SIDES: [usize; 4] = [48, 32, 24, 16];
/// The outline's colour, as in the contact sheet and `data inspect`.
const OUTLINE: [u8; 3] = [255, 220, 0];

/// Draws the gallery in half blocks and returns its tiles at full resolution, for terminals
/// that show pictures ([`crate::tui::graphics`]).
pub fn draw(f: &mut Frame, app: &App, t: &Theme, run: &RunState, area: Rect) -> Vec<Placement> {
    let mut pictures = Vec::new();
    let Some((_, body)) = epoch_header(f, app, t, run, area) else {
        return pictures;
    };
    let [bar, grid] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(body);
    let key = wanted(app).map(|(k, _)| k);
    let got = app
        .errors
        .loaded
        .as_ref()
        .filter(|(k, _)| Some(k) == key.as_ref())
        .map(|(_, r)| r);
    let view = app.errors.view;
    let mut spans = Vec::new();
    for k in Kind::ALL {
        let n = match got {
            Some(Ok(l)) => l.gallery.of(k).len().to_string(),
            _ => "-".into(),
        };
        let style = if k == view {
            t.key().add_modifier(Modifier::UNDERLINED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("{} {n}", k.label()), style));
        spans.push(Span::raw("  "));
    }
    let overlay = if app.errors.saliency { "on" } else { "off" };
    spans.push(Span::styled(
        format!("v view  O saliency {overlay}"),
        t.dim(),
    ));
    let bar_line = Line::from(spans);
    let bar_used = bar_line.width();
    f.render_widget(Paragraph::new(bar_line), bar);
    let loaded = match got {
        None => {
            f.render_widget(
                Paragraph::new("reading the gallery...").style(t.dim()),
                grid,
            );
            return pictures;
        }
        Some(Err(e)) => {
            let text = vec![
                Line::styled(e.clone(), t.fg(Color::Red)),
                Line::styled("b shows the best epoch", t.dim()),
            ];
            f.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), grid);
            return pictures;
        }
        Some(Ok(l)) => l,
    };
    let tiles = loaded.gallery.of(view);
    if tiles.is_empty() {
        f.render_widget(Paragraph::new(view.none()).style(t.dim()), grid);
        return pictures;
    }
    // The largest tiles that show the whole group, else the size that shows the most.
    let layout = |side: usize| {
        let cols = (grid.width as usize + 1) / (side + 1);
        let rows = grid.height as usize / (side / 2 + 2);
        (side, cols.max(1), rows, (cols * rows).min(tiles.len()))
    };
    let sizes = SIDES.map(layout);
    let (side, cols, rows, shown) = sizes
        .iter()
        .find(|l| l.3 == tiles.len())
        .or_else(|| sizes.iter().rev().max_by_key(|l| l.3))
        .copied()
        .unwrap_or(layout(16));
    if shown < tiles.len() {
        let note = format!(
            "  {shown} of {} shown: a larger window shows more",
            tiles.len()
        );
        let w = note.chars().count() as u16;
        // Only where it leaves the view switch and its keys readable.
        if bar_used + w as usize <= bar.width as usize {
            let at = Rect::new(bar.right() - w, bar.y, w, 1);
            f.render_widget(Paragraph::new(note).style(t.dim()), at);
        }
    }
    for (k, p) in tiles.iter().enumerate().take(cols * rows) {
        let (c, r) = (k % cols, k / cols);
        let x = grid.x + (c * (side + 1)) as u16;
        let y = grid.y + (r * (side / 2 + 2)) as u16;
        let px = match loaded.tiles.get(&p.id) {
            Some(px) => match loaded.saliency.get(&p.id).filter(|_| app.errors.saliency) {
                Some(map) => gallery::overlay(px, map),
                None => px.clone(),
            },
            None => vec![128; SIDE * SIDE * 3],
        };
        let mut small = downscale(&px, SIDE, side);
        outline(&mut small, side);
        let full = Rect::new(x, y, side as u16, (side / 2) as u16);
        let img = full.intersection(grid);
        // A picture cut by the edge would be squeezed into what is left: half blocks only.
        if img == full {
            let mut rgb = px;
            outline(&mut rgb, SIDE);
            pictures.push(Placement {
                area: img,
                side: SIDE,
                rgb,
            });
        }
        f.render_widget(
            HalfBlocks {
                rgb: &small,
                width: side,
                height: side,
                theme: *t,
            },
            img,
        );
        let id = format!("{} y={}", gallery::short_id(&p.id), p.label);
        let mistake = (p.prob >= gallery::THRESHOLD) != (p.label == 1);
        let prob_style = if mistake {
            t.fg(Color::Red)
        } else {
            t.fg(Color::Green)
        };
        let caption = vec![
            Line::styled(id, t.dim()),
            Line::styled(format!("p={:.3}", p.prob), prob_style),
        ];
        let cap = Rect::new(x, y + (side / 2) as u16, side as u16, 2).intersection(grid);
        f.render_widget(Paragraph::new(caption), cap);
    }
    pictures
}

/// Marks the ring just outside the centre third (the labelled 32x32 of the 96 px tile).
fn outline(rgb: &mut [u8], side: usize) {
    let (lo, hi) = (side / 3 - 1, 2 * side / 3);
    for y in lo..=hi {
        for x in lo..=hi {
            if x == lo || x == hi || y == lo || y == hi {
                rgb[3 * (y * side + x)..3 * (y * side + x) + 3].copy_from_slice(&OUTLINE);
            }
        }
    }
}
