//! Dashboard state and its pure transitions: `App::update(Action) -> Vec<Effect>`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ratatui::layout::{Position, Rect};

use crate::experiment::{Experiment, LauncherKind};
use crate::gpu::GpuStat;
use crate::runs::{RunState, RunStatus};

use super::action::{Action, DetailTab, Effect, Pane};
use super::experiments::{self, ExpEntry, FieldView};
use super::keymap::{self, Binding, Ctx};
use super::layout;

/// A launch waiting for a free slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub ticket: u64,
    pub experiment: Experiment,
    pub source: PathBuf,
}

/// What a confirmation prompt is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    CancelRun { run_id: String },
    CancelQueued { ticket: u64, name: String },
    Quit { active: usize },
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
        }
    }
}

/// The hyper-parameter form over one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct FormState {
    /// The file it came from (comments are kept when saving a variant).
    pub source: PathBuf,
    pub experiment: Experiment,
    pub fields: Vec<FieldView>,
    pub selected: usize,
    /// Text being typed for the selected field.
    pub editing: Option<String>,
    /// File name being typed for "save as".
    pub saving: Option<String>,
    /// Last outcome: (is_error, text).
    pub message: Option<(bool, String)>,
    /// Keys changed since the form opened.
    pub changed: BTreeSet<String>,
}

impl FormState {
    pub fn selected_field(&self) -> Option<&FieldView> {
        self.fields.get(self.selected)
    }
}

/// The comparison view's table state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompareState {
    pub sort_col: usize,
    pub reverse: bool,
    pub selected: usize,
}

/// The comparison table, derived from the marked runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareTable {
    pub columns: Vec<String>,
    /// Per row: run id and one cell per column (the first column is the run id).
    pub rows: Vec<(String, Vec<String>)>,
    /// Runs whose configuration could not be read, with the reason.
    pub problems: Vec<String>,
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
    /// Known runs, newest first, as the `runs` module folded them.
    pub runs: Vec<Arc<RunState>>,
    /// Index into [`App::rows`] (queued launches first, then runs).
    pub run_sel: usize,
    pub marked: BTreeSet<String>,
    /// The header's device line: GPUs where `nvidia-smi` reports some, else the CPU
    /// threads (0 = not known, nothing shown).
    pub gpus: Vec<GpuStat>,
    pub cpu_threads: usize,

    pub tab: DetailTab,
    /// Confusion matrix epoch index into the run's epochs; None follows the latest.
    pub cm_epoch: Option<usize>,
    pub detail_scroll: u16,

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
            marked: BTreeSet::new(),
            gpus: Vec::new(),
            cpu_threads: 0,
            tab: DetailTab::Curves,
            cm_epoch: None,
            detail_scroll: 0,
            queue: VecDeque::new(),
            active: HashMap::new(),
            next_ticket: 1,
            help: None,
            confirm: None,
            form: None,
            compare: None,
            message: None,
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

    /// Queued launches shown as rows above the runs.
    pub fn pending_views(&self) -> Vec<RunState> {
        self.queue
            .iter()
            .map(|p| {
                let mut v = RunState::new(format!("queued #{}", p.ticket), "");
                v.experiment = p.experiment.name.clone();
                v.epochs = p.experiment.train.epochs;
                v
            })
            .collect()
    }

    pub fn row_count(&self) -> usize {
        self.queue.len() + self.runs.len()
    }

    /// The run under the cursor (None on a queued row or an empty list).
    pub fn selected_run(&self) -> Option<&RunState> {
        self.run_sel
            .checked_sub(self.queue.len())
            .and_then(|i| self.runs.get(i))
            .map(|r| &**r)
    }

    pub fn selected_experiment(&self) -> Option<&ExpEntry> {
        self.experiments.get(self.exp_sel)
    }

    pub fn marked_runs(&self) -> Vec<&RunState> {
        self.runs
            .iter()
            .filter(|r| self.marked.contains(&r.id))
            .map(|r| &**r)
            .collect()
    }

    /// Launches of this dashboard that still hold the machine or wait for it.
    pub fn active_here(&self) -> usize {
        self.queue.len() + self.active.len()
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
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
            Action::Resize { width, height } => {
                self.size = Rect::new(0, 0, width, height);
                Vec::new()
            }
            Action::RunsUpdated(runs) => self.runs_updated(runs),
            Action::GpusUpdated(gpus) => {
                self.gpus = gpus;
                Vec::new()
            }
            Action::Outcome(Ok(text)) => {
                self.message = Some((false, text));
                Vec::new()
            }
            Action::Outcome(Err(text)) => {
                self.message = Some((true, text));
                Vec::new()
            }
            Action::ExperimentsLoaded(list) => {
                self.experiments = list;
                self.exp_sel = self.exp_sel.min(self.experiments.len().saturating_sub(1));
                Vec::new()
            }
            Action::Launched { ticket, result } => self.launched(ticket, result),
            Action::Saved(result) => self.saved(result),
            Action::Notice(text) => {
                self.message = Some((true, text));
                Vec::new()
            }
            Action::Click { col, row } => self.click(col, row),
            Action::ScrollUp { col, row } => self.scroll(col, row, false),
            Action::ScrollDown { col, row } => self.scroll(col, row, true),
            other => match self.ctx() {
                Ctx::Confirm => self.on_confirm(other),
                Ctx::Help => self.on_help(other),
                Ctx::Input => self.on_input(other),
                Ctx::Form => self.on_form(other),
                Ctx::Compare => self.on_compare(other),
                _ => self.on_main(other),
            },
        }
    }

    fn runs_updated(&mut self, runs: Vec<Arc<RunState>>) -> Vec<Effect> {
        let selected = self.selected_run().map(|r| r.id.clone());
        for r in runs {
            match self.runs.iter_mut().find(|x| x.id == r.id) {
                Some(x) => *x = r,
                None => self.runs.push(r),
            }
        }
        // Newest first; runs not yet started sort by id.
        self.runs.sort_by(|a, b| {
            b.started_at
                .unwrap_or(f64::MAX)
                .total_cmp(&a.started_at.unwrap_or(f64::MAX))
                .then_with(|| b.id.cmp(&a.id))
        });
        if let Some(id) = selected
            && let Some(i) = self.runs.iter().position(|r| r.id == id)
        {
            self.run_sel = self.queue.len() + i;
        }
        self.clamp_run_sel();
        // Finished launches give their slot to the next in the queue.
        let runs = &self.runs;
        self.active.retain(|_, id| match id {
            Some(id) => runs
                .iter()
                .find(|r| &r.id == id)
                .is_none_or(|r| r.status.is_active()),
            None => true,
        });
        self.pump()
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
            Some(f) => f.message = Some(msg.clone()),
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
        effects
    }

    fn ticket(&mut self) -> u64 {
        let t = self.next_ticket;
        self.next_ticket += 1;
        t
    }

    /// Queues (thread), starts (detached) or submits (Slurm) every experiment given.
    fn launch(
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

    fn clamp_run_sel(&mut self) {
        self.run_sel = self.run_sel.min(self.row_count().saturating_sub(1));
    }

    fn move_sel(&mut self, delta: isize) {
        match self.focus {
            Pane::Experiments => {
                self.exp_sel = step_index(self.exp_sel, delta, self.experiments.len());
            }
            Pane::Runs => {
                self.run_sel = step_index(self.run_sel, delta, self.row_count());
                self.cm_epoch = None;
                self.detail_scroll = 0;
            }
            Pane::Detail => match self.tab {
                DetailTab::Config | DetailTab::Log => {
                    self.detail_scroll = (self.detail_scroll as isize + delta).max(0) as u16;
                }
                _ => {
                    self.run_sel = step_index(self.run_sel, delta, self.row_count());
                    self.cm_epoch = None;
                }
            },
        }
    }

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
            Action::Tab(t) => {
                self.tab = t;
                self.detail_scroll = 0;
                if self.focus == Pane::Experiments {
                    self.focus = Pane::Runs;
                }
            }
            Action::NextTab | Action::PrevTab => {
                let i = self.tab.index();
                let n = DetailTab::ALL.len();
                let j = if action == Action::NextTab {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.tab = DetailTab::ALL[j];
                self.detail_scroll = 0;
            }
            Action::Back => self.message = None,
            Action::Launch | Action::LaunchDetached | Action::LaunchSlurm => {
                return match self.selected_experiment() {
                    None => {
                        self.message = Some((true, "no experiment selected".into()));
                        Vec::new()
                    }
                    Some(e) => match &e.result {
                        Ok(exps) if exps.is_empty() => Vec::new(),
                        Ok(exps) => {
                            let kind = match action {
                                Action::LaunchDetached => LauncherKind::Detached,
                                Action::LaunchSlurm => LauncherKind::Slurm,
                                _ => exps[0].launcher,
                            };
                            let (exps, path) = (exps.clone(), e.path.clone());
                            self.launch(exps, path, kind)
                        }
                        Err(err) => {
                            self.message = Some((
                                true,
                                format!("{} is invalid: {}", e.file_name(), err.describe()),
                            ));
                            Vec::new()
                        }
                    },
                };
            }
            Action::Edit => self.open_form(),
            Action::ToggleMark => {
                if let Some(id) = self.selected_run().map(|r| r.id.clone())
                    && !self.marked.remove(&id)
                {
                    self.marked.insert(id);
                }
            }
            Action::OpenCompare => {
                if self.marked_runs().len() < 2 {
                    self.message = Some((true, "mark at least two runs (m) to compare".into()));
                } else {
                    self.compare = Some(CompareState::default());
                }
            }
            Action::Cancel => self.ask_cancel(),
            Action::Resume => {
                if let Some(r) = self.selected_run() {
                    if r.status.is_resumable() {
                        let run_id = r.id.clone();
                        self.message = Some((false, format!("resuming {run_id}")));
                        return vec![Effect::Resume { run_id }];
                    }
                    self.message = Some((
                        true,
                        format!("{} is {}: only stopped runs resume", r.id, r.status.label()),
                    ));
                }
            }
            Action::EpochPrev | Action::EpochNext | Action::EpochBest => self.step_epoch(&action),
            _ => {}
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        let active = self.active_here();
        if active > 0 {
            self.confirm = Some(Confirm::Quit { active });
            Vec::new()
        } else {
            self.should_quit = true;
            vec![Effect::Quit]
        }
    }

    fn ask_cancel(&mut self) {
        // Queued rows come first in the runs pane.
        if let Some(p) = self.queue.get(self.run_sel) {
            self.confirm = Some(Confirm::CancelQueued {
                ticket: p.ticket,
                name: p.experiment.name.clone(),
            });
            return;
        }
        match self.selected_run() {
            Some(r) if r.status.is_active() => {
                self.confirm = Some(Confirm::CancelRun {
                    run_id: r.id.clone(),
                })
            }
            Some(r) => {
                self.message = Some((true, format!("{} is {}", r.id, r.status.label())));
            }
            None => {}
        }
    }

    /// The epoch index the confusion matrix shows for `run`.
    pub fn cm_index(&self, run: &RunState) -> Option<usize> {
        let n = run.completed.len();
        if n == 0 {
            return None;
        }
        Some(self.cm_epoch.unwrap_or(n - 1).min(n - 1))
    }

    fn step_epoch(&mut self, action: &Action) {
        let Some(run) = self.selected_run() else {
            return;
        };
        let n = run.completed.len();
        let Some(cur) = self.cm_index(run) else {
            return;
        };
        // The best epoch on the run's own metric: the `best` checkpoint's.
        let best = run
            .best_epoch
            .and_then(|b| run.completed.iter().position(|e| e.epoch == b));
        self.cm_epoch = match action {
            Action::EpochPrev => Some(cur.saturating_sub(1)),
            // Reaching the last epoch goes back to following the latest.
            Action::EpochNext if cur + 1 >= n - 1 => None,
            Action::EpochNext => Some(cur + 1),
            _ if self.cm_epoch.is_some() && self.cm_epoch == best => None,
            _ => best,
        };
        if !matches!(self.tab, DetailTab::Confusion | DetailTab::Roc) {
            self.tab = DetailTab::Confusion;
        }
    }

    fn on_confirm(&mut self, action: Action) -> Vec<Effect> {
        let yes = match action {
            Action::Yes => true,
            Action::No | Action::Back => false,
            _ => return Vec::new(),
        };
        let Some(c) = self.confirm.take() else {
            return Vec::new();
        };
        if !yes {
            return Vec::new();
        }
        match c {
            Confirm::CancelRun { run_id } => {
                self.message = Some((false, format!("cancelling {run_id}")));
                vec![Effect::Cancel { run_id }]
            }
            Confirm::CancelQueued { ticket, name } => {
                self.queue.retain(|p| p.ticket != ticket);
                self.clamp_run_sel();
                self.message = Some((false, format!("dropped queued {name}")));
                Vec::new()
            }
            Confirm::Quit { .. } => {
                self.should_quit = true;
                vec![Effect::Quit]
            }
        }
    }

    fn on_help(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Back | Action::ToggleHelp => self.help = None,
            Action::Up => self.help = self.help.map(|s| s.saturating_sub(1)),
            Action::Down => self.help = self.help.map(|s| s + 1),
            _ => {}
        }
        Vec::new()
    }

    fn open_form(&mut self) {
        let Some(e) = self.selected_experiment() else {
            return;
        };
        match &e.result {
            Ok(exps) if !exps.is_empty() => {
                let experiment = exps[0].clone();
                let note = (exps.len() > 1).then(|| {
                    (
                        false,
                        format!(
                            "sweep of {} runs: editing the first; its variant is a single run",
                            exps.len()
                        ),
                    )
                });
                self.form = Some(FormState {
                    source: e.path.clone(),
                    fields: experiments::fields(&experiment),
                    experiment,
                    selected: 0,
                    editing: None,
                    saving: None,
                    message: note,
                    changed: BTreeSet::new(),
                });
                // Start on the learning rate, the field people come to nudge.
                if let Some(f) = &mut self.form
                    && let Some(i) = f.fields.iter().position(|x| x.key == "train.lr")
                {
                    f.selected = i;
                }
            }
            Ok(_) => self.message = Some((true, format!("{} has no experiments", e.file_name()))),
            Err(err) => {
                self.message = Some((
                    true,
                    format!("{} is invalid: {}", e.file_name(), err.describe()),
                ))
            }
        }
    }

    fn on_form(&mut self, action: Action) -> Vec<Effect> {
        let existing: BTreeSet<String> = self.experiments.iter().map(|e| e.file_name()).collect();
        let Some(f) = &mut self.form else {
            return Vec::new();
        };
        match action {
            Action::Back => self.form = None,
            Action::ToggleHelp => self.help = Some(0),
            Action::Up => f.selected = step_index(f.selected, -1, f.fields.len()),
            Action::Down => f.selected = step_index(f.selected, 1, f.fields.len()),
            Action::PageUp => f.selected = step_index(f.selected, -10, f.fields.len()),
            Action::PageDown => f.selected = step_index(f.selected, 10, f.fields.len()),
            Action::StepUp | Action::StepDown => {
                if let Some(key) = f.selected_field().map(|x| x.key.clone()) {
                    match experiments::step(&mut f.experiment, &key, action == Action::StepUp) {
                        Ok(()) => {
                            f.fields = experiments::fields(&f.experiment);
                            let v = field_value(&f.fields, &key);
                            f.message = Some((false, format!("{key} = {v}")));
                            f.changed.insert(key);
                        }
                        Err(e) => f.message = Some((true, e)),
                    }
                }
            }
            Action::EditValue => {
                f.editing = f.selected_field().map(|x| x.value.clone());
                f.message = None;
            }
            Action::SaveVariant => {
                let stem = f
                    .source
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.experiment.name.clone());
                f.saving = Some(variant_name(&stem, &existing));
                f.message = None;
            }
            Action::Launch | Action::LaunchDetached | Action::LaunchSlurm => {
                let kind = match action {
                    Action::LaunchDetached => LauncherKind::Detached,
                    Action::LaunchSlurm => LauncherKind::Slurm,
                    _ => f.experiment.launcher,
                };
                let (exp, source) = (f.experiment.clone(), f.source.clone());
                let effects = self.launch(vec![exp], source, kind);
                if let (Some(f), Some(m)) = (&mut self.form, &self.message) {
                    f.message = Some(m.clone());
                }
                return effects;
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_input(&mut self, action: Action) -> Vec<Effect> {
        let exp_dir = self.experiments_dir();
        let Some(f) = &mut self.form else {
            return Vec::new();
        };
        let buf = match (&mut f.editing, &mut f.saving) {
            (Some(b), _) | (None, Some(b)) => b,
            (None, None) => return Vec::new(),
        };
        match action {
            Action::Char(c) => buf.push(c),
            Action::Backspace => {
                buf.pop();
            }
            Action::Back => {
                f.editing = None;
                f.saving = None;
                f.message = None;
            }
            Action::Submit => {
                if let Some(text) = f.editing.clone() {
                    let Some(key) = f.selected_field().map(|x| x.key.clone()) else {
                        return Vec::new();
                    };
                    match experiments::set(&mut f.experiment, &key, text.trim()) {
                        Ok(()) => {
                            f.fields = experiments::fields(&f.experiment);
                            let v = field_value(&f.fields, &key);
                            f.message = Some((false, format!("{key} = {v}")));
                            f.changed.insert(key);
                            f.editing = None;
                        }
                        // Refused on the spot; the text stays so it can be corrected.
                        Err(e) => f.message = Some((true, e)),
                    }
                } else if let Some(name) = f.saving.clone() {
                    return match checked_file_name(name.trim()) {
                        Ok(file) => {
                            let mut experiment = f.experiment.clone();
                            // Runs are named after the experiment: the variant gets its own name.
                            experiment.name = file.trim_end_matches(".toml").to_string();
                            f.saving = None;
                            f.message = Some((false, format!("saving {file}...")));
                            vec![Effect::SaveVariant {
                                original: f.source.clone(),
                                new_path: exp_dir.join(&file),
                                experiment: Box::new(experiment),
                            }]
                        }
                        Err(e) => {
                            f.message = Some((true, e));
                            Vec::new()
                        }
                    };
                }
            }
            _ => {}
        }
        Vec::new()
    }

    /// The comparison table of the marked runs, rows sorted as the user asked.
    pub fn compare_table(&self) -> CompareTable {
        let runs = self.marked_runs();
        let mut problems = Vec::new();
        // Parsed once by `runs` when each run started, not here on every frame.
        let configs: Vec<Option<&Experiment>> = runs
            .iter()
            .map(|r| {
                if r.resolved.is_none() {
                    problems.push(format!("{}: its configuration could not be read", r.id));
                }
                r.resolved.as_deref()
            })
            .collect();
        // Keys that differ anywhere, with each run's value for them.
        let mut keys: Vec<String> = Vec::new();
        let mut values: Vec<HashMap<String, String>> = vec![HashMap::new(); runs.len()];
        if let Some((bi, base)) = configs
            .iter()
            .enumerate()
            .find_map(|(i, c)| Some((i, (*c)?)))
        {
            for (i, c) in configs.iter().enumerate() {
                let Some(c) = c else { continue };
                for (k, a, b) in experiments::diff(base, c) {
                    if !keys.contains(&k) {
                        keys.push(k.clone());
                    }
                    values[bi].insert(k.clone(), a);
                    values[i].insert(k, b);
                }
            }
            // The base value stands for runs that agree with it.
            for k in &keys {
                let base_v = values[bi].get(k).cloned().unwrap_or_default();
                for (i, c) in configs.iter().enumerate() {
                    if c.is_some() {
                        values[i].entry(k.clone()).or_insert_with(|| base_v.clone());
                    }
                }
            }
        }
        // `name` differs by construction and the run column already says it.
        keys.retain(|k| k != "name" && k != "description");
        let mut columns = vec!["run".to_string()];
        columns.extend(keys.iter().cloned());
        columns.extend(
            ["AUC", "acc", "loss", "epochs", "time"]
                .iter()
                .map(|s| s.to_string()),
        );
        let mut rows: Vec<(String, Vec<String>)> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut cells = vec![r.id.clone()];
                for k in &keys {
                    cells.push(values[i].get(k).cloned().unwrap_or_else(|| "?".into()));
                }
                let best = r.best_summary();
                let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.4}"));
                cells.push(f(best.map(|e| e.valid.auc)));
                cells.push(f(best.map(|e| e.valid.accuracy)));
                cells.push(f(best.map(|e| e.valid.loss)));
                cells.push(format!("{}/{}", r.epochs_completed(), r.epochs));
                cells.push(super::format::fmt_duration(
                    r.elapsed_seconds(self.now).unwrap_or(0.0),
                ));
                (r.id.clone(), cells)
            })
            .collect();
        if let Some(st) = &self.compare {
            let col = st.sort_col.min(columns.len() - 1);
            rows.sort_by(|a, b| cmp_cells(&a.1[col], &b.1[col]));
            if st.reverse {
                rows.reverse();
            }
        }
        CompareTable {
            columns,
            rows,
            problems,
        }
    }

    fn on_compare(&mut self, action: Action) -> Vec<Effect> {
        let table = self.compare_table();
        let n_cols = table.columns.len();
        let n_rows = table.rows.len();
        let Some(st) = &mut self.compare else {
            return Vec::new();
        };
        match action {
            Action::Back => self.compare = None,
            Action::SortNext => {
                st.sort_col = (st.sort_col + 1) % n_cols.max(1);
            }
            Action::SortReverse => st.reverse = !st.reverse,
            Action::Up => st.selected = step_index(st.selected, -1, n_rows),
            Action::Down => st.selected = step_index(st.selected, 1, n_rows),
            Action::ToggleMark => {
                if let Some((id, _)) = table.rows.get(st.selected) {
                    self.marked.remove(id);
                    if self.marked.len() < 2 {
                        self.compare = None;
                    } else if let Some(st) = &mut self.compare {
                        st.selected = st.selected.min(self.marked.len() - 1);
                    }
                }
            }
            Action::Quit => return self.quit(),
            Action::ToggleHelp => self.help = Some(0),
            _ => {}
        }
        Vec::new()
    }

    fn click(&mut self, col: u16, row: u16) -> Vec<Effect> {
        if self.help.is_some() || self.confirm.is_some() || self.form.is_some() {
            return Vec::new();
        }
        let a = layout::main(self.size);
        let p = Position::new(col, row);
        if a.experiments.contains(p) {
            self.focus = Pane::Experiments;
            if let Some(i) = layout::list_row(a.experiments, row, self.exp_sel, 0)
                && i < self.experiments.len()
            {
                self.exp_sel = i;
            }
        } else if a.runs.contains(p) {
            self.focus = Pane::Runs;
            if let Some(i) = layout::list_row(a.runs, row, self.run_sel, 1)
                && i < self.row_count()
            {
                self.run_sel = i;
                self.cm_epoch = None;
            }
        } else if a.detail.contains(p) {
            self.focus = Pane::Detail;
            // The tab titles sit on the detail pane's top border.
            if row == a.detail.y + 1 {
                let mut x = a.detail.x + 1;
                for t in DetailTab::ALL {
                    let w = t.title().len() as u16 + 3;
                    if col >= x && col < x + w {
                        self.tab = t;
                        self.detail_scroll = 0;
                    }
                    x += w;
                }
            }
        }
        Vec::new()
    }

    fn scroll(&mut self, col: u16, row: u16, down: bool) -> Vec<Effect> {
        let delta = if down { 1 } else { -1 };
        if self.help.is_some() {
            return self.on_help(if down { Action::Down } else { Action::Up });
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

fn field_value(fields: &[FieldView], key: &str) -> String {
    fields
        .iter()
        .find(|f| f.key == key)
        .map(|f| f.value.clone())
        .unwrap_or_default()
}

fn step_index(cur: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (cur as isize)
        .saturating_add(delta)
        .clamp(0, len as isize - 1) as usize
}

/// `<stem>-2.toml`, or the next free number (`base-2` becomes `base-3`).
pub fn variant_name(stem: &str, existing: &BTreeSet<String>) -> String {
    let root = match stem.rsplit_once('-') {
        Some((r, n)) if n.parse::<u32>().is_ok() => r,
        _ => stem,
    };
    (2..)
        .map(|i| format!("{root}-{i}.toml"))
        .find(|n| !existing.contains(n))
        .unwrap_or_else(|| format!("{root}-new.toml"))
}

/// A bare file name for `experiments/`, `.toml` added when missing.
fn checked_file_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("type a file name".into());
    }
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(format!(
            "{name:?}: a plain file name, saved in experiments/"
        ));
    }
    Ok(
        if Path::new(name).extension().is_some_and(|e| e == "toml") {
            name.to_string()
        } else {
            format!("{name}.toml")
        },
    )
}

/// Numbers compare as numbers, everything else as text.
fn cmp_cells(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}
