//! Dashboard state and its pure transitions: `App::update(Action) -> Vec<Effect>`.
//!
//! `App` owns all the state; `update` handles what concerns the whole dashboard (collector
//! news, the launch queue, focus, mouse) and hands keys to the pane they belong to
//! ([`super::panes`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use ratatui::layout::{Position, Rect};

use crate::experiment::{Experiment, LauncherKind};
use crate::gpu::GpuStat;
use crate::runs::cv::CvSet;
use crate::runs::{RunState, RunStatus};

use super::action::{Action, DetailTab, Effect, Pane};
use super::chart::ChartOpts;
use super::experiments::ExpEntry;
use super::keymap::{self, Binding, Ctx};
use super::layout;
use super::panes;
// The panes' state types, where they were before the panes had modules of their own.
pub use super::panes::compare::{CompareState, CompareTable};
pub use super::panes::confirm::Confirm;
pub use super::panes::errors::ErrorsState;
pub use super::panes::form::FormState;
pub use super::panes::prompt::{Prompt, PromptKind};
pub use super::panes::runs::{RunSort, SortKey};
pub use rows::{RunCounts, RunRow};

mod rows;

/// A launch waiting for a free slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub ticket: u64,
    pub experiment: Experiment,
    pub source: PathBuf,
}

pub struct App {
    pub dir: PathBuf,
    pub ascii: bool,
    pub no_color: bool,
    pub max_concurrent: usize,
    pub keys: Vec<Binding>,
    pub size: Rect,
    /// Wall clock for elapsed times and ETAs (set by ticks; fixed in tests).
    pub now: f64,

    pub focus: Pane,
    pub experiments: Vec<ExpEntry>,
    pub exp_sel: usize,
    /// Known runs, as the `runs` module folded them, in the order the runs pane shows them
    /// (`run_sort`; newest first by default).
    pub runs: Vec<Arc<RunState>>,
    /// Row of the runs pane (among the rows the filter leaves): queued launches first, then runs.
    pub run_sel: usize,
    pub run_sort: RunSort,
    /// What `/` typed over each list (empty: no filter). `exp_sel` indexes the rows it leaves.
    pub run_filter: String,
    pub exp_filter: String,
    /// A one-line input under way (a filter, a run's note or tags).
    pub prompt: Option<Prompt>,
    pub marked: BTreeSet<String>,
    /// The CV sets among `runs` (folds of one `folds = K` launch), each one row of the runs
    /// list; kept with `runs` (see `keeping_run_selection`).
    pub cv_sets: Vec<CvSet>,
    /// Ids of the CV sets shown open, their folds under them.
    pub open_sets: BTreeSet<String>,
    /// Out-of-fold AUC of complete CV sets, by set id, as the shell read it for the comparison.
    pub oof: HashMap<String, f64>,
    /// The header's device line: GPUs where `nvidia-smi` reports some, else the CPU
    /// threads (0 = not known, nothing shown).
    pub gpus: Vec<GpuStat>,
    pub cpu_threads: usize,

    pub tab: DetailTab,
    /// Confusion matrix epoch index into the run's epochs; None follows the latest.
    pub cm_epoch: Option<usize>,
    /// Config: lines scrolled from the top; Log: lines scrolled back from the newest.
    pub detail_scroll: u16,
    /// Smoothing and the loss scale of every chart.
    pub charts: ChartOpts,
    /// The error gallery: its view, overlay, and the gallery read for the selected run.
    pub errors: ErrorsState,
    /// The terminal shows 24-bit colour (`COLORTERM`); else images use the 256-colour palette.
    pub truecolor: bool,

    pub queue: VecDeque<Pending>,
    /// Thread launches holding a slot: ticket -> run id once known.
    pub active: HashMap<u64, Option<String>>,
    next_ticket: u64,

    pub help: Option<u16>,
    pub confirm: Option<Confirm>,
    pub form: Option<FormState>,
    pub compare: Option<CompareState>,
    /// One-line status message (last outcome of an action).
    pub message: Option<(bool, String)>,
    /// The run whose status the message follows ("cancelling x" becomes "x: cancelled"),
    /// with its status when the message was set.
    pub(crate) message_watch: Option<(String, RunStatus)>,
    pub should_quit: bool,
    /// Set by every change that affects the screen; the shell clears it after drawing.
    pub dirty: bool,
}

impl App {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        App {
            dir: dir.into(),
            ascii: false,
            no_color: false,
            max_concurrent: 1,
            keys: keymap::bindings(),
            size: Rect::new(0, 0, 80, 24),
            now: 0.0,
            focus: Pane::Experiments,
            experiments: Vec::new(),
            exp_sel: 0,
            runs: Vec::new(),
            run_sel: 0,
            run_sort: RunSort::default(),
            run_filter: String::new(),
            exp_filter: String::new(),
            prompt: None,
            marked: BTreeSet::new(),
            cv_sets: Vec::new(),
            open_sets: BTreeSet::new(),
            oof: HashMap::new(),
            gpus: Vec::new(),
            cpu_threads: 0,
            tab: DetailTab::Curves,
            cm_epoch: None,
            detail_scroll: 0,
            charts: ChartOpts::default(),
            errors: ErrorsState::default(),
            truecolor: false,
            queue: VecDeque::new(),
            active: HashMap::new(),
            next_ticket: 1,
            help: None,
            confirm: None,
            form: None,
            compare: None,
            message: None,
            message_watch: None,
            should_quit: false,
            dirty: true,
        }
    }

    pub fn experiments_dir(&self) -> PathBuf {
        self.dir.join("experiments")
    }

    /// The key context the next key press is looked up in.
    pub fn ctx(&self) -> Ctx {
        if self.confirm.is_some() {
            Ctx::Confirm
        } else if self.help.is_some() {
            Ctx::Help
        } else if self.prompt.is_some() {
            Ctx::Input
        } else if let Some(f) = &self.form {
            if f.editing.is_some() || f.saving.is_some() {
                Ctx::Input
            } else {
                Ctx::Form
            }
        } else if self.compare.is_some() {
            Ctx::Compare
        } else {
            Ctx::for_pane(self.focus)
        }
    }

    /// Launches of this dashboard that still hold the machine or wait for it.
    pub fn active_here(&self) -> usize {
        self.queue.len() + self.active.len()
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let mut effects = self.apply(action);
        // Whatever changed the run, its epochs or the tab, the Errors tab asks for what it shows.
        effects.extend(panes::errors::request(self));
        effects
    }

    fn apply(&mut self, action: Action) -> Vec<Effect> {
        // Ticks only matter to the screen while something runs (elapsed, ETA).
        if let Action::Tick(now) = action {
            self.now = now;
            if self.runs.iter().any(|r| r.status == RunStatus::Running) {
                self.dirty = true;
            }
            return Vec::new();
        }
        self.dirty = true;
        match action {
            Action::UnknownKey(key) => {
                self.message = Some((true, format!("{key}: no such key here; ? for help")));
            }
            Action::PruneDescribed { ids, delete, what } => {
                panes::runs::ask_prune(self, ids, delete, what);
            }
            Action::Pruned {
                delete,
                gone,
                freed,
                errors,
            } => panes::runs::pruned(self, delete, gone, freed, errors),
            Action::MetaSaved { run_id, result } => panes::runs::meta_saved(self, &run_id, result),
            Action::OofRead(oof) => self.oof.extend(oof),
            Action::GalleryLoaded {
                run_id,
                epoch,
                result,
            } => panes::errors::loaded(self, run_id, epoch, result),
            Action::Resize { width, height } => self.size = Rect::new(0, 0, width, height),
            Action::RunsUpdated(runs) => return self.runs_updated(runs),
            Action::GpusUpdated(gpus) => self.gpus = gpus,
            Action::Outcome(Ok(text)) => self.message = Some((false, text)),
            Action::Outcome(Err(text)) | Action::Notice(text) => self.message = Some((true, text)),
            Action::ExperimentsLoaded(list) => {
                self.experiments = list;
                self.exp_sel = self.exp_sel.min(self.exp_rows().len().saturating_sub(1));
            }
            Action::Launched { ticket, result } => return self.launched(ticket, result),
            Action::Saved(result) => return self.saved(result),
            Action::Click { col, row } => self.click(col, row),
            Action::ScrollUp { col, row } => return self.scroll(col, row, false),
            Action::ScrollDown { col, row } => return self.scroll(col, row, true),
            other => {
                return match self.ctx() {
                    Ctx::Confirm => panes::confirm::on_action(self, other),
                    Ctx::Help => {
                        let max = panes::help::max_scroll(&self.keys, self.size, self.ascii);
                        panes::help::on_action(&mut self.help, other, max);
                        Vec::new()
                    }
                    Ctx::Input if self.prompt.is_some() => panes::prompt::on_action(self, other),
                    Ctx::Input => panes::form::on_input(self, other),
                    Ctx::Form => panes::form::on_action(self, other),
                    Ctx::Compare => panes::compare::on_action(self, other),
                    _ => self.on_main(other),
                };
            }
        }
        Vec::new()
    }

    fn runs_updated(&mut self, runs: Vec<Arc<RunState>>) -> Vec<Effect> {
        self.keeping_run_selection(|app| {
            for r in runs {
                match app.runs.iter_mut().find(|x| x.id == r.id) {
                    Some(x) => *x = r,
                    None => app.runs.push(r),
                }
            }
        });
        self.follow_message();
        // Finished launches give their slot to the next in the queue.
        let runs = &self.runs;
        self.active.retain(|_, id| match id {
            Some(id) => runs
                .iter()
                .find(|r| &r.id == id)
                .is_none_or(|r| r.status.is_active()),
            None => true,
        });
        let mut effects = self.read_oof();
        effects.extend(self.pump());
        effects
    }

    /// Asks the shell for the out-of-fold AUC of the compared CV sets that just completed.
    pub(crate) fn read_oof(&self) -> Vec<Effect> {
        if self.compare.is_none() {
            return Vec::new();
        }
        let marked = self.marked_runs();
        let wanted = crate::runs::cv::sets(&marked)
            .iter()
            .any(|s| s.complete(&marked) && !self.oof.contains_key(&s.id));
        if !wanted {
            return Vec::new();
        }
        let runs = self
            .runs
            .iter()
            .filter(|r| self.marked.contains(&r.id))
            .cloned()
            .collect();
        vec![Effect::ReadOof { runs }]
    }

    fn launched(&mut self, ticket: u64, result: Result<String, String>) -> Vec<Effect> {
        match result {
            Ok(run_id) => {
                if let Some(slot) = self.active.get_mut(&ticket) {
                    *slot = Some(run_id.clone());
                }
                self.message = Some((false, format!("launched {run_id}")));
                Vec::new()
            }
            Err(e) => {
                self.active.remove(&ticket);
                self.message = Some((true, format!("launch failed: {e}")));
                self.pump()
            }
        }
    }

    fn saved(&mut self, result: Result<PathBuf, String>) -> Vec<Effect> {
        let msg = match &result {
            Ok(p) => (false, format!("saved {}", p.display())),
            Err(e) => (true, format!("not saved: {e}")),
        };
        match &mut self.form {
            Some(f) => {
                f.message = Some(msg.clone());
                // The form now edits the variant: its runs, and its title, carry its name.
                if let Ok(path) = &result {
                    if let Some(stem) = path.file_stem() {
                        f.experiment.name = stem.to_string_lossy().into_owned();
                    }
                    f.source = path.clone();
                }
            }
            None => self.message = Some(msg),
        }
        if result.is_ok() {
            vec![Effect::ReloadExperiments]
        } else {
            Vec::new()
        }
    }

    /// Starts queued launches while slots are free.
    fn pump(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        let key = self.row_key();
        while self.active.len() < self.max_concurrent.max(1) {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            self.active.insert(p.ticket, None);
            // The selection moves with its row when a queued row disappears.
            if self.run_sel > 0 {
                self.run_sel -= 1;
            }
            effects.push(Effect::Launch {
                ticket: p.ticket,
                experiment: Box::new(p.experiment),
                source: p.source,
                kind: LauncherKind::Local,
            });
        }
        self.reselect(key);
        effects
    }

    fn ticket(&mut self) -> u64 {
        let t = self.next_ticket;
        self.next_ticket += 1;
        t
    }

    /// Queues (thread), starts (detached) or submits (Slurm) every experiment given.
    pub(crate) fn launch(
        &mut self,
        exps: Vec<Experiment>,
        source: PathBuf,
        kind: LauncherKind,
    ) -> Vec<Effect> {
        let n = exps.len();
        let mut effects = Vec::new();
        let message = match kind {
            LauncherKind::Local => {
                for experiment in exps {
                    let ticket = self.ticket();
                    self.queue.push_back(Pending {
                        ticket,
                        experiment,
                        source: source.clone(),
                    });
                }
                format!("queued {n} run(s)")
            }
            // Detached runs outlive the dashboard, so they cannot wait in its queue.
            LauncherKind::Detached => {
                for experiment in exps {
                    let ticket = self.ticket();
                    effects.push(Effect::Launch {
                        ticket,
                        experiment: Box::new(experiment),
                        source: source.clone(),
                        kind,
                    });
                }
                format!("launching {n} detached run(s)")
            }
            // The scheduler queues them: one submission, one job array.
            LauncherKind::Slurm => {
                effects.push(Effect::Submit {
                    experiments: exps,
                    source,
                });
                format!("submitting {n} run(s) to Slurm")
            }
        };
        self.message = Some((false, message));
        effects.extend(self.pump());
        effects
    }

    pub(crate) fn clamp_run_sel(&mut self) {
        self.run_sel = self.run_sel.min(self.row_count().saturating_sub(1));
    }

    /// Rows half a page of the focused list moves (Ctrl-d / Ctrl-u).
    fn half_page(&self) -> isize {
        let a = layout::main(self.size);
        let rows = match self.focus {
            Pane::Experiments => layout::visible_rows(a.experiments, 0),
            _ => layout::visible_rows(a.runs, 1),
        };
        (rows / 2).max(1) as isize
    }

    /// Moves within the focused pane: a list's selection, or the detail.
    fn move_sel(&mut self, delta: isize) {
        match self.focus {
            Pane::Experiments => panes::experiments::move_by(self, delta),
            Pane::Runs => panes::runs::move_by(self, delta),
            Pane::Detail => panes::detail::move_by(self, delta),
        }
    }

    /// The main screen: focus, help, comparison and quitting here; the rest to its pane.
    fn on_main(&mut self, action: Action) -> Vec<Effect> {
        let page = (self.size.height / 3).max(1) as isize;
        match action {
            Action::Quit => return self.quit(),
            Action::ToggleHelp => self.help = Some(0),
            Action::FocusNext | Action::FocusPrev => {
                let order = [Pane::Experiments, Pane::Runs, Pane::Detail];
                let i = order.iter().position(|p| *p == self.focus).unwrap_or(0);
                let j = if action == Action::FocusNext {
                    (i + 1) % 3
                } else {
                    (i + 2) % 3
                };
                self.focus = order[j];
            }
            Action::Focus(p) => self.focus = p,
            Action::Up => self.move_sel(-1),
            Action::Down => self.move_sel(1),
            Action::PageUp => self.move_sel(-page),
            Action::PageDown => self.move_sel(page),
            Action::Top => self.move_sel(isize::MIN / 2),
            Action::Bottom => self.move_sel(isize::MAX / 2),
            Action::HalfPageUp => self.move_sel(-self.half_page()),
            Action::HalfPageDown => self.move_sel(self.half_page()),
            Action::NextMatch | Action::PrevMatch => self.jump_match(action == Action::NextMatch),
            Action::StartFilter => panes::prompt::open_filter(self),
            // Esc drops the focused list's filter first, then the message.
            Action::Back => match self.focus {
                Pane::Experiments if !self.exp_filter.is_empty() => {
                    panes::prompt::set_filter(self, Pane::Experiments, String::new());
                }
                Pane::Runs if !self.run_filter.is_empty() => {
                    panes::prompt::set_filter(self, Pane::Runs, String::new());
                }
                _ => {
                    self.message = None;
                    self.message_watch = None;
                }
            },
            Action::OpenCompare => {
                if self.marked_runs().len() < 2 {
                    self.message = Some((true, "mark at least two runs (m) to compare".into()));
                } else {
                    self.compare = Some(CompareState::default());
                    return self.read_oof();
                }
            }
            // Each pane's keys act whichever pane has the focus (the key map decides where
            // they are bound).
            Action::Launch | Action::LaunchDetached | Action::LaunchSlurm | Action::Edit => {
                return panes::experiments::on_action(self, action);
            }
            Action::ToggleMark
            | Action::ToggleSet
            | Action::Cancel
            | Action::Resume
            | Action::SortNext
            | Action::SortReverse
            | Action::Archive
            | Action::Delete
            | Action::EditNote
            | Action::EditTags => {
                return panes::runs::on_action(self, action);
            }
            Action::Tab(_)
            | Action::NextTab
            | Action::PrevTab
            | Action::EpochPrev
            | Action::EpochNext
            | Action::EpochBest => return panes::detail::on_action(self, action),
            Action::SmoothMore | Action::SmoothLess | Action::ToggleLogScale => {
                self.chart_key(&action);
                // Show the charts the key changed.
                self.tab = DetailTab::Curves;
                if self.focus == Pane::Experiments {
                    self.focus = Pane::Runs;
                }
            }
            Action::Export => return self.export(),
            Action::GalleryView | Action::ToggleSaliency => {
                return panes::errors::on_action(self, action);
            }
            _ => {}
        }
        Vec::new()
    }

    pub(crate) fn quit(&mut self) -> Vec<Effect> {
        let active = self.active_here();
        if active > 0 {
            self.confirm = Some(Confirm::Quit { active });
            Vec::new()
        } else {
            self.should_quit = true;
            vec![Effect::Quit]
        }
    }

    /// Smoothing and log-scale keys, which every chart follows.
    pub(crate) fn chart_key(&mut self, action: &Action) {
        match action {
            Action::SmoothMore => self.charts.step_smoothing(true),
            Action::SmoothLess => self.charts.step_smoothing(false),
            Action::ToggleLogScale => self.charts.log_loss = !self.charts.log_loss,
            _ => return,
        }
        let text = match action {
            Action::ToggleLogScale if self.charts.log_loss => "loss charts: log scale".into(),
            Action::ToggleLogScale => "loss charts: linear scale".into(),
            _ if self.charts.smoothing > 0.0 => {
                format!("charts: smoothing {}", self.charts.smoothing)
            }
            _ => "charts: smoothing off".into(),
        };
        self.message = Some((false, text));
    }

    /// What export writes: the marked runs when the comparison is open or runs are marked,
    /// else the selected run (or the selected CV set's folds).
    pub fn export_runs(&self) -> Vec<Arc<RunState>> {
        if self.compare.is_some() || !self.marked.is_empty() {
            return self
                .runs
                .iter()
                .filter(|r| self.marked.contains(&r.id))
                .cloned()
                .collect();
        }
        let ids: Vec<&String> = match (self.selected_set(), self.selected_run()) {
            (Some(set), _) => set.runs.iter().collect(),
            (None, Some(r)) => vec![&r.id],
            (None, None) => Vec::new(),
        };
        self.runs
            .iter()
            .filter(|r| ids.contains(&&r.id))
            .cloned()
            .collect()
    }

    /// Asks the shell to export [`App::export_runs`] into `exports/<UTC time>/`.
    pub(crate) fn export(&mut self) -> Vec<Effect> {
        let runs = self.export_runs();
        if runs.is_empty() {
            self.message = Some((
                true,
                "nothing to export: select a run or mark runs (m)".into(),
            ));
            return Vec::new();
        }
        let stamp = crate::runs::paths::utc_stamp(self.now.max(0.0) as u64);
        let dir = self.dir.join("exports").join(stamp);
        self.message = Some((false, format!("exporting {} run(s)...", runs.len())));
        vec![Effect::Export { runs, dir }]
    }

    /// The epoch index the confusion matrix shows for `run`.
    pub fn cm_index(&self, run: &RunState) -> Option<usize> {
        let n = run.completed.len();
        if n == 0 {
            return None;
        }
        Some(self.cm_epoch.unwrap_or(n - 1).min(n - 1))
    }

    /// The comparison table of the marked runs, rows sorted as the user asked.
    pub fn compare_table(&self) -> CompareTable {
        panes::compare::table(self)
    }

    /// Focuses the pane clicked and lets it handle the click.
    fn click(&mut self, col: u16, row: u16) {
        if self.help.is_some()
            || self.confirm.is_some()
            || self.form.is_some()
            || self.prompt.is_some()
        {
            return;
        }
        let a = layout::main(self.size);
        let p = Position::new(col, row);
        if a.experiments.contains(p) {
            self.focus = Pane::Experiments;
            panes::experiments::click(self, a.experiments, row);
        } else if a.runs.contains(p) {
            self.focus = Pane::Runs;
            panes::runs::click(self, a.runs, row);
        } else if a.detail.contains(p) {
            self.focus = Pane::Detail;
            panes::detail::click(self, a.detail, col, row);
        }
    }

    /// The wheel moves in the pane under the pointer, without focusing it.
    fn scroll(&mut self, col: u16, row: u16, down: bool) -> Vec<Effect> {
        let delta = if down { 1 } else { -1 };
        if self.help.is_some() {
            let max = panes::help::max_scroll(&self.keys, self.size, self.ascii);
            let step = if down { Action::Down } else { Action::Up };
            panes::help::on_action(&mut self.help, step, max);
            return Vec::new();
        }
        if self.form.is_some() || self.compare.is_some() {
            return self.update(if down { Action::Down } else { Action::Up });
        }
        let a = layout::main(self.size);
        let p = Position::new(col, row);
        let focus = self.focus;
        self.focus = if a.experiments.contains(p) {
            Pane::Experiments
        } else if a.runs.contains(p) {
            Pane::Runs
        } else {
            Pane::Detail
        };
        self.move_sel(delta);
        self.focus = focus;
        Vec::new()
    }
}
