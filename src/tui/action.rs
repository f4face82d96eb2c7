//! Every state change of the dashboard is an [`Action`]; every side effect an [`Effect`].
//!
//! `App::update(action) -> Vec<Effect>` is pure, so the whole dashboard can be driven
//! and tested without a terminal; the shell turns effects into launches, saves and
//! cancellations and feeds their outcomes back as actions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::experiment::{Experiment, LauncherKind};
use crate::gpu::GpuStat;
use crate::runs::{RunMeta, RunState};

use super::experiments::ExpEntry;

/// The three panes of the main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Experiments,
    Runs,
    Detail,
}

/// The selected run's detail views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DetailTab {
    Curves,
    Confusion,
    Roc,
    Config,
    Log,
    Errors,
    Calibration,
}

impl DetailTab {
    pub const ALL: [DetailTab; 7] = [
        DetailTab::Curves,
        DetailTab::Confusion,
        DetailTab::Roc,
        DetailTab::Config,
        DetailTab::Log,
        DetailTab::Errors,
        DetailTab::Calibration,
    ];

    pub fn title(self) -> &'static str {
        match self {
            DetailTab::Curves => "Curves",
            DetailTab::Confusion => "Confusion",
            DetailTab::Roc => "ROC",
            DetailTab::Config => "Config",
            DetailTab::Log => "Log",
            DetailTab::Errors => "Errors",
            DetailTab::Calibration => "Calibration",
        }
    }

    pub fn index(self) -> usize {
        DetailTab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    // Navigation.
    Quit,
    FocusNext,
    FocusPrev,
    Focus(Pane),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    NextTab,
    PrevTab,
    Tab(DetailTab),
    ToggleHelp,
    /// Esc: leave the current overlay or prompt.
    Back,

    // Experiments and runs.
    /// Launch with the experiment's own `launcher` setting.
    Launch,
    LaunchDetached,
    LaunchSlurm,
    Edit,
    Cancel,
    Resume,
    ToggleMark,
    /// Open or close the CV set under the cursor (its folds under one row).
    ToggleSet,
    OpenCompare,
    // Finding, sorting and pruning runs.
    /// `/`: type a filter for the focused list (it narrows as you type).
    StartFilter,
    /// The next / previous row of the filtered list, wrapping round (vim's `n` / `N`).
    NextMatch,
    PrevMatch,
    HalfPageUp,
    HalfPageDown,
    /// Archive / delete the marked runs, else the selected one (after a confirmation).
    Archive,
    Delete,
    /// One-line inputs for the selected run's note and tags.
    EditNote,
    EditTags,
    /// A key bound to nothing where it was pressed (its label): a hint instead of nothing.
    UnknownKey(String),
    /// From the shell: what pruning `ids` would free (`3 runs, 41.2 MB`), to confirm.
    PruneDescribed {
        ids: Vec<String>,
        delete: bool,
        what: String,
    },
    /// From the shell: the runs pruned (they leave the list), bytes freed, and failures.
    Pruned {
        delete: bool,
        gone: Vec<String>,
        freed: u64,
        errors: Vec<String>,
    },
    /// From the shell: the out-of-fold AUC of complete CV sets, by set id.
    OofRead(HashMap<String, f64>),
    /// From the shell: a run's note and tags as saved, or why not.
    MetaSaved {
        run_id: String,
        result: Result<RunMeta, String>,
    },
    /// The epoch the matrix, ROC, errors and calibration tabs show: an earlier / later one;
    /// `EpochBest` jumps to the best one.
    EpochPrev,
    EpochNext,
    EpochBest,

    // Charts, export and the detail tabs.
    /// Charts: the next / previous smoothing weight (0 = off).
    SmoothMore,
    SmoothLess,
    /// Loss charts: linear or log y-axis.
    ToggleLogScale,
    /// Error gallery: the next group (false positives, false negatives, most uncertain).
    GalleryView,
    /// Error gallery: saliency maps over the tiles, or not.
    ToggleSaliency,
    /// From the shell: a run's error gallery for one epoch (`None`: the best), or why not.
    GalleryLoaded {
        run_id: String,
        epoch: Option<usize>,
        result: Result<Arc<crate::gallery::Loaded>, String>,
    },
    /// Writes the charts of what is shown (the marked runs, else the selected one) to files.
    Export,
    /// Clears the text being typed.
    ClearInput,

    // Confirmation prompts.
    Yes,
    No,

    // Hyper-parameter form.
    StepUp,
    StepDown,
    EditValue,
    SaveVariant,

    // Text input (form values, file names).
    Char(char),
    Backspace,
    Submit,

    // Comparison.
    SortNext,
    SortReverse,

    // Mouse.
    Click {
        col: u16,
        row: u16,
    },
    ScrollUp {
        col: u16,
        row: u16,
    },
    ScrollDown {
        col: u16,
        row: u16,
    },

    // From collectors and the shell.
    Resize {
        width: u16,
        height: u16,
    },
    /// Wall clock, unix seconds (elapsed times and ETAs move with it).
    Tick(f64),
    /// Runs that changed, as folded by `runs` (the scheduler's view included).
    RunsUpdated(Vec<Arc<RunState>>),
    ExperimentsLoaded(Vec<ExpEntry>),
    /// The machine's GPUs as last read (changes only).
    GpusUpdated(Vec<GpuStat>),
    Launched {
        ticket: u64,
        result: Result<String, String>,
    },
    Saved(Result<PathBuf, String>),
    /// Outcome of an effect done off the UI thread (a submission, a resume), to show.
    Outcome(Result<String, String>),
    Notice(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Launch {
        /// Ties the launch to the queue entry that asked for it.
        ticket: u64,
        experiment: Box<Experiment>,
        source: PathBuf,
        kind: LauncherKind,
    },
    /// Every run of a sweep in one Slurm job array.
    Submit {
        experiments: Vec<Experiment>,
        source: PathBuf,
    },
    Cancel {
        run_id: String,
    },
    Resume {
        run_id: String,
    },
    /// Read the out-of-fold AUC of the complete CV sets among these runs (their folds'
    /// predictions), for the comparison.
    ReadOof {
        runs: Vec<Arc<RunState>>,
    },
    /// Measure what pruning would free (reads the disk), then ask.
    DescribePrune {
        ids: Vec<String>,
        delete: bool,
    },
    /// Archive (or delete) these runs, as the dashboard knows them (a live one is refused).
    Prune {
        runs: Vec<Arc<RunState>>,
        delete: bool,
    },
    SaveMeta {
        run_id: String,
        meta: RunMeta,
    },
    /// Remember the dashboard's settings (`.histoboard/ui.toml`).
    SaveUi(super::prefs::UiPrefs),
    SaveVariant {
        original: PathBuf,
        new_path: PathBuf,
        experiment: Box<Experiment>,
    },
    /// Reads a run's error gallery (predictions, tile pixels, saliency maps) off the UI thread.
    LoadGallery {
        run_dir: PathBuf,
        run_id: String,
        epoch: Option<usize>,
        best_epoch: Option<usize>,
    },
    /// Writes the runs' charts and comparison table into `dir` (`export::write_all`).
    Export {
        runs: Vec<Arc<RunState>>,
        dir: PathBuf,
    },
    ReloadExperiments,
    Quit,
}
