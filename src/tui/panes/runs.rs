//! The runs table (queued launches first, then runs, in the order the user sorted them, as
//! the filter leaves them): marking, cancelling, resuming, archiving and deleting runs, and
//! their notes and tags.

use std::cmp::Ordering;
use std::sync::Arc;

use ratatui::prelude::*;
use ratatui::widgets::{Cell, Row, Table};
use serde::{Deserialize, Serialize};

use super::confirm::Confirm;
use super::prompt;
use super::step_index;
use crate::runs::cv::{self, CvSet};
use crate::runs::prune::human_bytes;
use crate::runs::{RunMeta, RunState, RunStatus};
use crate::tui::action::{Action, Effect, Pane};
use crate::tui::app::{App, RunRow};
use crate::tui::format::{fit_end, fit_middle, fmt_duration, fmt_started};
use crate::tui::layout;
use crate::tui::prefs::UiPrefs;
use crate::tui::theme::Theme;

/// What the runs list is sorted by (`s` steps through them in column order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    Status,
    Name,
    Experiment,
    Auc,
    Duration,
    #[default]
    Started,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Status,
        SortKey::Name,
        SortKey::Experiment,
        SortKey::Auc,
        SortKey::Duration,
        SortKey::Started,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Status => "status",
            SortKey::Name => "name",
            SortKey::Experiment => "experiment",
            SortKey::Auc => "AUC",
            SortKey::Duration => "duration",
            SortKey::Started => "started",
        }
    }

    /// Figures and times read best largest first (best AUC, newest); words A to Z.
    fn descending(self) -> bool {
        matches!(self, SortKey::Auc | SortKey::Duration | SortKey::Started)
    }

    /// Which rows come first, in words, the natural way round and reversed.
    fn first(self) -> [&'static str; 2] {
        match self {
            SortKey::Status => ["active first", "finished first"],
            SortKey::Name | SortKey::Experiment => ["A to Z", "Z to A"],
            SortKey::Auc => ["best first", "worst first"],
            SortKey::Duration => ["longest first", "shortest first"],
            SortKey::Started => ["newest first", "oldest first"],
        }
    }
}

/// The runs list's order: a column, and whether it is reversed from its natural direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSort {
    pub key: SortKey,
    pub reverse: bool,
}

impl RunSort {
    /// Whether values go down the list largest first, as drawn next to the column title.
    pub fn descending(self) -> bool {
        self.key.descending() != self.reverse
    }
}

/// Runs needing attention first.
fn status_rank(s: RunStatus) -> u8 {
    match s {
        RunStatus::Running => 0,
        RunStatus::Queued => 1,
        RunStatus::Failed => 2,
        RunStatus::Lost => 3,
        RunStatus::Damaged => 4,
        RunStatus::Cancelled => 5,
        RunStatus::Finished => 6,
    }
}

/// Orders `runs` as `sort` says; ties (and the default) newest first.
pub fn sort_runs(runs: &mut [Arc<RunState>], sort: RunSort, now: f64) {
    runs.sort_by(|a, b| cmp_runs(a, b, sort, now));
}

fn cmp_runs(a: &RunState, b: &RunState, sort: RunSort, now: f64) -> Ordering {
    // Runs not started yet count as newest.
    let newest = b
        .started_at
        .unwrap_or(f64::MAX)
        .total_cmp(&a.started_at.unwrap_or(f64::MAX))
        .then_with(|| b.id.cmp(&a.id));
    // A figure a run does not have yet goes last, whichever the direction.
    let figure = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => {
            let o = x.total_cmp(&y);
            if sort.descending() { o.reverse() } else { o }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let flip = |o: Ordering| if sort.reverse { o.reverse() } else { o };
    let primary = match sort.key {
        SortKey::Started => return flip(newest),
        SortKey::Status => flip(status_rank(a.status).cmp(&status_rank(b.status))),
        SortKey::Name => flip(a.id.cmp(&b.id)),
        SortKey::Experiment => flip(a.experiment.cmp(&b.experiment)),
        SortKey::Auc => figure(a.best_valid_auc(), b.best_valid_auc()),
        SortKey::Duration => figure(a.elapsed_seconds(now), b.elapsed_seconds(now)),
    };
    primary.then(newest)
}

/// A filter's words, lower-cased: a row matches when it contains every one.
pub fn filter_terms(filter: &str) -> Vec<String> {
    filter.split_whitespace().map(str::to_lowercase).collect()
}

/// Whether a row contains every term in its id, experiment, status (as the list shows it),
/// tags or note (`#paper` looks in the tags only).
pub fn matches(r: &RunState, terms: &[String]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let tags: Vec<String> = r.meta.tags.iter().map(|t| t.to_lowercase()).collect();
    let hay = [
        r.id.to_lowercase(),
        r.experiment.to_lowercase(),
        status_label(r).to_string(),
        r.meta.note.to_lowercase(),
    ];
    terms.iter().all(|t| match t.strip_prefix('#') {
        Some(tag) => tags.iter().any(|x| x.contains(tag)),
        None => tags.iter().chain(&hay).any(|x| x.contains(t.as_str())),
    })
}

/// The status as the list shows it: a run the scheduler holds says why it has not started.
fn status_label(r: &RunState) -> &'static str {
    match &r.scheduled {
        Some(job) if job.waiting && r.status == RunStatus::Queued => "pending",
        _ => r.status.label(),
    }
}

/// Mark (`m`), open a CV set (`o`), cancel (`c`), resume (`r`), sort (`s`, `S`), archive
/// (`a`), delete (`D`), note (`i`) and tags (`t`).
pub fn on_action(app: &mut App, action: Action) -> Vec<Effect> {
    // On a CV set's row, marking and pruning take its folds; what acts on one run asks for one.
    if let Some(set) = app.selected_set().cloned() {
        match action {
            Action::ToggleMark => {
                let all = set.runs.iter().all(|id| app.marked.contains(id));
                for id in &set.runs {
                    if all {
                        app.marked.remove(id);
                    } else {
                        app.marked.insert(id.clone());
                    }
                }
                return Vec::new();
            }
            Action::ToggleSet => {
                toggle_set(app);
                return Vec::new();
            }
            Action::Cancel | Action::Resume | Action::EditNote | Action::EditTags => {
                app.message = Some((
                    true,
                    format!("{} is a CV set: o opens it, to pick one fold", set.name),
                ));
                return Vec::new();
            }
            _ => {}
        }
    }
    match action {
        Action::ToggleMark => {
            if let Some(id) = app.selected_run().map(|r| r.id.clone())
                && !app.marked.remove(&id)
            {
                app.marked.insert(id);
            }
        }
        Action::ToggleSet => toggle_set(app),
        Action::Cancel => ask_cancel(app),
        Action::Resume => {
            if let Some(r) = app.selected_run() {
                if r.status.is_resumable() {
                    let run_id = r.id.clone();
                    app.message_about(&run_id, format!("resuming {run_id}"));
                    return vec![Effect::Resume { run_id }];
                }
                app.message = Some((
                    true,
                    format!("{} is {}: only stopped runs resume", r.id, r.status.label()),
                ));
            }
        }
        Action::SortNext | Action::SortReverse => return sort(app, action == Action::SortNext),
        Action::Archive => return prune_targets(app, false),
        Action::Delete => return prune_targets(app, true),
        Action::EditNote => prompt::open_meta(app, false),
        Action::EditTags => prompt::open_meta(app, true),
        _ => {}
    }
    Vec::new()
}

/// `o`: opens or closes the CV set under the cursor; on one of an open set's folds, closes
/// its set. The cursor stays on the set's row.
fn toggle_set(app: &mut App) {
    let id = match (app.selected_set(), app.selected_run()) {
        (Some(s), _) => s.id.clone(),
        (None, Some(r)) => match app.cv_sets.iter().find(|s| s.runs.contains(&r.id)) {
            Some(s) => s.id.clone(),
            None => {
                app.message = Some((true, format!("{} is not in a CV set", r.id)));
                return;
            }
        },
        (None, None) => return,
    };
    let open = !app.open_sets.remove(&id);
    if open {
        app.open_sets.insert(id.clone());
    }
    if let Some(row) = app.run_rows().iter().position(|row| match row {
        RunRow::Set(k) => app.cv_sets[*k].id == id,
        _ => false,
    }) {
        app.run_sel = row;
    }
    app.clamp_run_sel();
}

/// `s`: the next column, in its natural direction; `S`: the other way. Remembered.
fn sort(app: &mut App, next: bool) -> Vec<Effect> {
    let mut s = app.run_sort;
    if next {
        let i = SortKey::ALL.iter().position(|k| *k == s.key).unwrap_or(0);
        s = RunSort {
            key: SortKey::ALL[(i + 1) % SortKey::ALL.len()],
            reverse: false,
        };
    } else {
        s.reverse = !s.reverse;
    }
    app.run_sort = s;
    app.keeping_run_selection(|_| {});
    let order = s.key.first()[usize::from(s.reverse)];
    app.message = Some((false, format!("runs by {}, {order}", s.key.label())));
    vec![Effect::SaveUi(UiPrefs::with_run_sort(s))]
}

fn ask_cancel(app: &mut App) {
    if let Some(p) = app.selected_queued() {
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

/// Why a run may not be pruned now, if it may not: a live one must be cancelled first.
pub fn refusal(r: &RunState) -> Option<String> {
    r.status
        .is_active()
        .then(|| format!("{} is {}: cancel it first (c)", r.id, status_label(r)))
}

/// `a` / `D`: the marked runs, else the selected one. Live runs refuse the whole request, so
/// that what the confirmation counts is what goes.
fn prune_targets(app: &mut App, delete: bool) -> Vec<Effect> {
    let runs: Vec<&RunState> = match app.selected_set() {
        _ if !app.marked.is_empty() => app.marked_runs(),
        Some(set) => app.set_runs(set),
        None => app.selected_run().into_iter().collect(),
    };
    if runs.is_empty() {
        let why = if app.selected_queued().is_some() {
            "a queued launch has no folder yet: c drops it"
        } else {
            "no run selected"
        };
        app.message = Some((true, why.into()));
        return Vec::new();
    }
    if let Some(why) = runs.iter().find_map(|r| refusal(r)) {
        app.message = Some((true, why));
        return Vec::new();
    }
    let ids = runs.iter().map(|r| r.id.clone()).collect();
    vec![Effect::DescribePrune { ids, delete }]
}

/// The shell measured what goes: ask.
pub fn ask_prune(app: &mut App, ids: Vec<String>, delete: bool, what: String) {
    app.confirm = Some(Confirm::Prune { ids, delete, what });
}

/// `y` to a prune: the runs as the dashboard knows them now (a run that came alive since the
/// question is refused), for the shell to archive or delete.
pub fn confirmed_prune(app: &mut App, ids: Vec<String>, delete: bool) -> Vec<Effect> {
    let runs: Vec<Arc<RunState>> = app
        .runs
        .iter()
        .filter(|r| ids.contains(&r.id))
        .cloned()
        .collect();
    if let Some(why) = runs.iter().find_map(|r| refusal(r)) {
        app.message = Some((true, why));
        return Vec::new();
    }
    if runs.is_empty() {
        return Vec::new();
    }
    let verb = if delete { "deleting" } else { "archiving" };
    app.message = Some((false, format!("{verb} {} run(s)", runs.len())));
    vec![Effect::Prune { runs, delete }]
}

/// The shell pruned: the runs gone leave the list, marks and launch slots.
pub fn pruned(app: &mut App, delete: bool, gone: Vec<String>, freed: u64, errors: Vec<String>) {
    app.keeping_run_selection(|app| app.runs.retain(|r| !gone.contains(&r.id)));
    app.marked.retain(|id| !gone.contains(id));
    app.active
        .retain(|_, id| id.as_ref().is_none_or(|id| !gone.contains(id)));
    let n = gone.len();
    let runs = if n == 1 { "run" } else { "runs" };
    let mut msg = match (delete, n) {
        (_, 0) => String::new(),
        (true, _) => format!("deleted {n} {runs}, {} freed", human_bytes(freed)),
        (false, _) => format!("archived {n} {runs} to runs/.archive/"),
    };
    if !errors.is_empty() {
        if !msg.is_empty() {
            msg.push_str("; ");
        }
        msg.push_str(&errors.join("; "));
    }
    app.message = Some((!errors.is_empty(), msg));
}

/// The shell saved (or not) a run's note and tags: shown at once, before the watcher sees them.
pub fn meta_saved(app: &mut App, run_id: &str, result: Result<RunMeta, String>) {
    match result {
        Ok(meta) => {
            app.keeping_run_selection(|app| {
                if let Some(r) = app.runs.iter_mut().find(|r| r.id == run_id) {
                    Arc::make_mut(r).meta = meta;
                }
            });
            app.message = Some((false, format!("saved the note and tags of {run_id}")));
        }
        Err(e) => app.message = Some((true, format!("not saved: {e}"))),
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

/// A column of the table: its title, width and the sort it shows.
struct Col {
    title: &'static str,
    width: u16,
    sort: Option<SortKey>,
}

impl Col {
    fn new(title: &'static str, width: u16, sort: Option<SortKey>) -> Col {
        Col { title, width, sort }
    }
}

/// The text after a run's name: a note marker and its tags.
fn name_suffix(r: &RunState, note_mark: &str) -> (String, String) {
    let note = if r.meta.note.is_empty() {
        String::new()
    } else {
        format!(" {note_mark}")
    };
    let tags: String = r.meta.tags.iter().map(|t| format!(" #{t}")).collect();
    (note, tags)
}

/// The run cell: the name cut in the middle (its end tells runs apart), the note marker, then
/// as many tags as fit.
fn name_cell<'a>(name: &str, r: &RunState, width: usize, t: &Theme) -> Line<'a> {
    let ell = t.glyph("…", "~");
    let (note, tags) = name_suffix(r, t.glyph("✎", "+"));
    let name_n = name.chars().count();
    let note_n = note.chars().count();
    let name_w = name_n.min(width.saturating_sub(note_n));
    let name = fit_middle(name, name_w, ell);
    let rest = width.saturating_sub(name.chars().count() + note_n);
    // A tag cut to less than a few letters says nothing.
    let tags = if rest >= 4 {
        fit_end(&tags, rest, ell)
    } else {
        String::new()
    };
    Line::from(vec![
        Span::raw(name),
        Span::styled(note, t.fg(Color::Yellow)),
        Span::styled(tags, t.fg(Color::Cyan)),
    ])
}

/// The name a row shows: a queued launch says which experiment waits.
fn row_name(r: &RunState) -> String {
    if r.id.starts_with("queued #") {
        format!("{} ({})", r.experiment, r.id)
    } else {
        r.id.clone()
    }
}

/// What a CV set's row says for `status`: running while a fold runs, then queued, finished
/// when every fold has, else its most pressing fold's (failed, lost ...).
fn set_status(runs: &[&RunState]) -> RunStatus {
    let any = |s: RunStatus| runs.iter().any(|r| r.status == s);
    if any(RunStatus::Running) {
        RunStatus::Running
    } else if any(RunStatus::Queued) {
        RunStatus::Queued
    } else {
        runs.iter()
            .map(|r| r.status)
            .min_by_key(|s| status_rank(*s))
            .unwrap_or(RunStatus::Finished)
    }
}

/// A CV set's name cell: `▸ cv: 5 folds, 3 done, 1 running`.
fn set_text(app: &App, set: &CvSet, arrow: &str) -> String {
    let runs = app.set_runs(set);
    let count = |s: RunStatus| runs.iter().filter(|r| r.status == s).count();
    format!(
        "{arrow} {}: {} folds, {} done, {} running",
        set.name,
        set.folds,
        count(RunStatus::Finished),
        count(RunStatus::Running)
    )
}

/// A CV set's row: its folds marked, their status, done and running counts, the mean ± sd of
/// their best validation AUC, their time together.
fn set_cells(app: &App, set: &CvSet, cols: &[Col], t: &Theme) -> Vec<Cell<'static>> {
    let runs = app.set_runs(set);
    let status = set_status(&runs);
    let aucs: Vec<f64> = runs.iter().filter_map(|r| r.best_valid_auc()).collect();
    let auc = match aucs.as_slice() {
        [] => "-".to_string(),
        [a] => format!("{a:.3}"),
        _ => {
            let (m, sd) = cv::mean_sd(&aucs);
            format!("{m:.3}±{sd:.3}")
        }
    };
    let marked = runs.iter().all(|r| app.marked.contains(&r.id));
    let flag = runs.iter().any(|r| r.problem_count > 0);
    let arrow = if app.open_sets.contains(&set.id) {
        t.glyph("▾", "v")
    } else {
        t.glyph("▸", ">")
    };
    let ell = t.glyph("…", "~");
    let text = set_text(app, set, arrow);
    let elapsed: f64 = runs.iter().filter_map(|r| r.elapsed_seconds(app.now)).sum();
    let started = runs
        .iter()
        .filter_map(|r| r.started_at)
        .min_by(|a, b| a.total_cmp(b));
    cols.iter()
        .map(|c| match c.title {
            "" => Cell::from(Line::from(vec![
                Span::styled(
                    if marked { t.glyph("●", "*") } else { " " },
                    t.fg(Color::Yellow),
                ),
                Span::styled(
                    if flag { "!" } else { " " },
                    t.fg(Color::Red).add_modifier(Modifier::BOLD),
                ),
            ])),
            "status" => Cell::from(status.label()).style(t.status(status)),
            "run" => Cell::from(fit_end(&text, c.width as usize, ell)),
            "experiment" => Cell::from(fit_end(&set.name, c.width as usize, ell)),
            "AUC" => Cell::from(auc.clone()),
            "elapsed" => Cell::from(if started.is_some() {
                fmt_duration(elapsed)
            } else {
                "-".into()
            }),
            "started" => Cell::from(started.map_or("-".into(), fmt_started)),
            "device" => Cell::from(fit_end(
                runs.first().map_or("", |r| r.device.as_str()),
                c.width as usize,
                ell,
            )),
            // Per-run figures (epochs, ETA, the scheduler's word) have no one value for a set.
            _ => Cell::from("-"),
        })
        .collect()
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Runs && app.form.is_none();
    let pending = app.pending_views();
    let rows = app.run_rows();
    let view = |row: &RunRow| -> Option<&RunState> {
        match *row {
            RunRow::Queued(i) => Some(&pending[i]),
            RunRow::Run(i) => Some(&app.runs[i]),
            RunRow::Set(_) => None,
        }
    };
    // Folds of an open CV set sit indented under its row.
    let in_open_set = |id: &str| {
        app.cv_sets
            .iter()
            .any(|s| app.open_sets.contains(&s.id) && s.runs.iter().any(|r| r == id))
    };
    // A set's AUC is its folds' mean ± sd.
    let auc_w = if app.cv_sets.is_empty() { 6 } else { 11 };
    let inner = area.width.saturating_sub(2);
    // The run column wants its longest name (with note marker and tags), within reason.
    // Measured over every row, not the filtered ones, so that columns stay put while typing.
    let every_row = || pending.iter().chain(app.runs.iter().map(|r| &**r));
    let longest = every_row()
        .map(|r| {
            let (note, tags) = name_suffix(r, "+");
            row_name(r).chars().count() + note.chars().count() + tags.chars().count()
        })
        .chain(
            app.cv_sets
                .iter()
                .map(|s| set_text(app, s, "+").chars().count()),
        )
        .max()
        .unwrap_or(0);
    let need = longest.clamp(12, 30) as u16;
    let exp_w = every_row()
        .map(|r| r.experiment.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(11, 24) as u16;
    // In screen order, each with when it is shown: always, or (optional ones, most useful
    // first) while the run column keeps `need` (the run id already starts with the
    // experiment's name, so that column can wait for room).
    let slurm = app.runs.iter().any(|r| r.scheduled.is_some());
    let all = [
        (Col::new("", 2, None), None),
        (Col::new("status", 9, Some(SortKey::Status)), None),
        (Col::new("run", 0, Some(SortKey::Name)), None),
        (
            Col::new("experiment", exp_w, Some(SortKey::Experiment)),
            Some(0),
        ),
        (Col::new("epoch", 7, None), None),
        (Col::new("AUC", auc_w, Some(SortKey::Auc)), None),
        (Col::new("elapsed", 8, Some(SortKey::Duration)), None),
        (Col::new("ETA", 6, None), Some(1)),
        (Col::new("started", 11, Some(SortKey::Started)), Some(2)),
        (Col::new("device", 18, None), Some(3)),
        (
            Col::new("slurm", 22, None),
            Some(if slurm { 4 } else { u8::MAX }),
        ),
    ];
    let used = |shown: &[bool]| -> u16 {
        let n = shown.iter().filter(|s| **s).count() as u16;
        let w: u16 = all
            .iter()
            .zip(shown)
            .filter(|(_, s)| **s)
            .map(|((c, _), _)| c.width)
            .sum();
        w + n.saturating_sub(1)
    };
    let mut shown: Vec<bool> = all.iter().map(|(_, p)| p.is_none()).collect();
    for p in 0..=4 {
        if let Some(i) = all.iter().position(|(_, q)| *q == Some(p)) {
            shown[i] = true;
            if inner.saturating_sub(used(&shown)) < need {
                shown[i] = false;
            }
        }
    }
    // Room beyond the longest name stays at the right, where it does not part names from
    // their figures.
    let run_w = inner
        .saturating_sub(used(&shown))
        .min((longest as u16).max(need));
    let cols: Vec<Col> = all
        .into_iter()
        .zip(shown)
        .filter(|(_, s)| *s)
        .map(|((mut c, _), _)| {
            if c.title == "run" {
                c.width = run_w;
            }
            c
        })
        .collect();
    let arrow = if app.run_sort.descending() {
        t.glyph("▼", "v")
    } else {
        t.glyph("▲", "^")
    };
    let sorted_shown = cols.iter().any(|c| c.sort == Some(app.run_sort.key));
    let header: Vec<Cell> = cols
        .iter()
        .map(|c| {
            if c.sort == Some(app.run_sort.key) {
                Cell::from(format!("{}{arrow}", c.title)).style(t.key())
            } else {
                Cell::from(c.title)
            }
        })
        .collect();
    let widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.width)).collect();
    let ell = t.glyph("…", "~");

    let visible = layout::visible_rows(area, 1);
    let off = layout::offset(app.run_sel, visible);
    let table_rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(off)
        .take(visible)
        .map(|(i, row)| {
            let selected = |row: Row<'static>| {
                if i == app.run_sel {
                    row.style(t.selected(focused))
                } else {
                    row
                }
            };
            let Some(r) = view(row) else {
                let RunRow::Set(k) = *row else {
                    unreachable!("only set rows have no run")
                };
                return selected(Row::new(set_cells(app, &app.cv_sets[k], &cols, t)));
            };
            let mark = if app.marked.contains(&r.id) {
                t.glyph("●", "*")
            } else {
                " "
            };
            // A damaged folder is flagged on every row it appears in.
            let flag = if r.problem_count > 0 { "!" } else { " " };
            let cells = cols.iter().map(|c| match c.title {
                "" => Cell::from(Line::from(vec![
                    Span::styled(mark, t.fg(Color::Yellow)),
                    Span::styled(flag, t.fg(Color::Red).add_modifier(Modifier::BOLD)),
                ])),
                "status" => Cell::from(status_label(r)).style(t.status(r.status)),
                "run" if in_open_set(&r.id) => Cell::from(name_cell(
                    &format!("  {}", row_name(r)),
                    r,
                    c.width as usize,
                    t,
                )),
                "run" => Cell::from(name_cell(&row_name(r), r, c.width as usize, t)),
                "experiment" => Cell::from(fit_end(&r.experiment, c.width as usize, ell)),
                "epoch" => Cell::from(format!("{}/{}", r.epochs_completed(), r.epochs)),
                "AUC" => Cell::from(r.best_valid_auc().map_or("-".into(), |a| format!("{a:.3}"))),
                "elapsed" => {
                    Cell::from(r.elapsed_seconds(app.now).map_or("-".into(), fmt_duration))
                }
                "ETA" => Cell::from(r.eta_seconds(app.now).map_or("-".into(), fmt_duration)),
                "started" => Cell::from(r.started_at.map_or("-".into(), fmt_started)),
                "device" => Cell::from(fit_end(&r.device, c.width as usize, ell)),
                _ => Cell::from(
                    r.scheduled
                        .as_ref()
                        .map_or(String::new(), |j| j.describe.clone()),
                ),
            });
            selected(Row::new(cells.collect::<Vec<_>>()))
        })
        .collect();
    let total = app.run_counts().total;
    let mut title = if app.run_filter.is_empty() {
        format!(" Runs ({total}) ")
    } else {
        format!(" Runs ({} of {total}, /{}) ", rows.len(), app.run_filter)
    };
    // Sorted by a column too narrow to show here: the title says by what (newest first, the
    // default, goes without saying).
    if !sorted_shown && app.run_sort != RunSort::default() {
        title.push_str(&format!("by {}{arrow} ", app.run_sort.key.label()));
    }
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(t.header()))
        .column_spacing(1)
        .block(t.block(title, focused));
    f.render_widget(table, area);
}
