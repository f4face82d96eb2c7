//! The dashboard. Reads run events; knows nothing of burn.
//!
//! Structure (after ratatui's component template and gitui): `App` owns the state and its
//! pure `update`; each pane is a module with its key handling and drawing; the shell does
//! the impure rest.
//! - [`action`]: every state change is an `Action`, every side effect an `Effect`;
//! - [`app`]: the state, its pure `update`, and what spans panes (queue, focus, mouse);
//!   `app::rows`: the lists as shown (filtered, sorted), the selection kept on its row;
//! - [`panes`]: one module per pane: [`panes::experiments`], [`panes::runs`],
//!   [`panes::detail`] (tab bar) with its tabs [`panes::curves`], [`panes::confusion`],
//!   [`panes::roc`], [`panes::config`], [`panes::log`], [`panes::errors`] (the error
//!   gallery); [`panes::compare`],
//!   [`panes::form`], [`panes::help`], [`panes::confirm`], [`panes::prompt`] (filter, note
//!   and tags inputs);
//! - [`ui`]: lays out the screen and has each pane draw itself;
//! - [`layout`]: screen geometry, shared by drawing and mouse handling;
//! - [`theme`]: colours and glyphs (`NO_COLOR`, `--ascii`);
//! - [`chart`]: epoch and ROC charts shared by curves, ROC and comparison;
//! - [`halfblocks`]: images (the gallery's tiles) as colour half blocks;
//! - [`format`](mod@format): durations as the dashboard writes them;
//! - [`keymap`]: key bindings as data (key handling, help and hint bar come from it);
//! - [`prefs`]: what the dashboard remembers per project (`.histoboard/ui.toml`);
//! - [`shell`]: the terminal, the redraw loop and the effects;
//! - [`workers`]: the stoppable background threads feeding the shell's one channel;
//! - [`experiments`] / [`source`]: adapters to the `experiment` and `runs` modules;
//! - [`fixture`]: deterministic runs for tests, screenshots and the benchmark.

pub mod action;
pub mod app;
pub mod chart;
pub mod experiments;
pub mod format;
pub mod graphics;
pub mod halfblocks;
pub mod keymap;
pub mod layout;
pub mod panes;
pub mod prefs;
pub mod shell;
pub mod source;
pub mod theme;
pub mod ui;
pub mod workers;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub use action::{Action, DetailTab, Effect, Pane};
pub use app::App;
pub use source::RunsSource;

pub struct TuiOptions {
    /// Holds `experiments/` and `runs/`.
    pub dir: PathBuf,
    /// ASCII borders and markers for terminals without Unicode line drawing or braille.
    pub ascii: bool,
    /// No colours at all (also implied by a non-empty `NO_COLOR`).
    pub no_color: bool,
    /// Runs launched from the dashboard that may run at once (the rest wait queued).
    pub max_concurrent: usize,
    /// Launches, cancels and resumes runs (the engine inside, unseen by the dashboard).
    pub control: Arc<crate::control::Control>,
    /// CPU threads a training run uses here, for the header (0 = not known).
    pub cpu_threads: usize,
}

/// Runs the dashboard until the user quits (or SIGTERM/SIGHUP).
pub fn run(opts: TuiOptions) -> anyhow::Result<()> {
    shell::run(opts)
}

/// An app over `dir` with its experiments and runs loaded, as the dashboard starts.
pub fn load_app(dir: &Path) -> App {
    let mut app = App::new(dir);
    apply_prefs(&mut app, dir);
    app.update(Action::ExperimentsLoaded(experiments::discover(
        &dir.join("experiments"),
    )));
    let mut src = RunsSource::new(dir.join("runs"));
    app.update(Action::RunsUpdated(src.poll()));
    app
}

/// The project's remembered settings (the runs list's sort), before the runs arrive; a file
/// that cannot be read is said in the status line and otherwise ignored.
pub fn apply_prefs(app: &mut App, dir: &Path) {
    let (prefs, warning) = prefs::load(dir);
    app.run_sort = prefs.run_sort();
    if let Some(w) = warning {
        app.message = Some((true, w));
    }
}

/// Renders one frame into a string (one line per row, trailing blanks trimmed).
pub fn render_once(app: &App, width: u16, height: u16) -> String {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(t) => t,
        Err(e) => return format!("cannot create test terminal: {e}"),
    };
    if let Err(e) = terminal.draw(|f| ui::draw(f, app)) {
        return format!("cannot draw: {e}");
    }
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Start-up and frame times of the dashboard over a real `runs/` folder.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub runs: usize,
    pub epochs: usize,
    /// Loading experiments and every run's events, and drawing the first frame.
    pub first_frame: Duration,
    pub frames: usize,
    pub mean_frame: Duration,
    pub max_frame: Duration,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} runs, {} epochs in all: first frame {:.1} ms; {} frames at 160x48: mean {:.2} ms, max {:.2} ms",
            self.runs,
            self.epochs,
            self.first_frame.as_secs_f64() * 1e3,
            self.frames,
            self.mean_frame.as_secs_f64() * 1e3,
            self.max_frame.as_secs_f64() * 1e3
        )
    }
}

/// Measures start-up to first frame and per-frame time (every tab, the comparison of
/// all runs) with ratatui's `TestBackend`, so it runs without a terminal.
pub fn bench(dir: &Path) -> anyhow::Result<BenchReport> {
    let (width, height) = (160, 48);
    let start = Instant::now();
    let mut app = load_app(dir);
    app.update(Action::Resize { width, height });
    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    terminal.draw(|f| ui::draw(f, &app))?;
    let first_frame = start.elapsed();

    let mut times = Vec::new();
    app.update(Action::Focus(Pane::Runs));
    for i in 0..app.runs.len().max(1) {
        let tab = DetailTab::ALL[i % DetailTab::ALL.len()];
        app.update(Action::Tab(tab));
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, &app))?;
        times.push(t.elapsed());
        app.update(Action::ToggleMark);
        app.update(Action::Down);
    }
    if app.marked.len() >= 2 {
        app.update(Action::OpenCompare);
        let t = Instant::now();
        terminal.draw(|f| ui::draw(f, &app))?;
        times.push(t.elapsed());
    }
    let frames = times.len();
    let total: Duration = times.iter().sum();
    Ok(BenchReport {
        runs: app.runs.len(),
        epochs: app.runs.iter().map(|r| r.completed.len()).sum(),
        first_frame,
        frames,
        mean_frame: total / frames.max(1) as u32,
        max_frame: times.iter().max().copied().unwrap_or_default(),
    })
}
