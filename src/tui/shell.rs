//! The thin, impure shell: terminal set-up and restore, the redraw loop over the workers'
//! channel ([`super::workers`]) and the effects (launch, cancel, resume, save, prune).

use std::collections::HashMap;
use std::io::{Stdout, Write, stdout};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Once};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::event::{
    DisableMouseCapture, EnableMouseCapture, Event as TermEvent, MouseButton, MouseEventKind,
};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use super::action::{Action, Effect};
use super::app::App;
use super::experiments;
use super::graphics::{self, Placement, Protocol};
use super::keymap;
use super::prefs;
use super::source::RunsSource;
use super::workers::{self, Msg, POLL};
use super::{TuiOptions, ui};
use crate::control::{Control, Started};
use crate::experiment::LauncherKind;
use crate::runs::{RunMeta, RunState, RunStatus, now_unix, prune};

/// At most ~20 frames per second.
const MIN_FRAME: Duration = Duration::from_millis(50);
/// How long quitting waits for cancelled thread runs to stop.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(30);

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal before the default panic message, so it is readable.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            prev(info);
        }));
    });
}

/// Restores the terminal on every way out of `run`, errors included.
struct TermGuard;

impl Drop for TermGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

pub fn run(opts: TuiOptions) -> anyhow::Result<()> {
    let no_color = opts.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut app = App::new(&opts.dir);
    app.ascii = opts.ascii;
    app.no_color = no_color;
    // The convention terminals follow to say they take 24-bit colour.
    app.truecolor = std::env::var("COLORTERM").is_ok_and(|v| v == "truecolor" || v == "24bit");
    app.max_concurrent = opts.max_concurrent.max(1);
    app.now = now_unix();
    app.cpu_threads = opts.cpu_threads;
    super::apply_prefs(&mut app, &opts.dir);
    app.update(Action::ExperimentsLoaded(experiments::discover(
        &app.experiments_dir(),
    )));

    let term_flag = Arc::new(AtomicBool::new(false));
    let hup_flag = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (signal_hook::consts::SIGTERM, &term_flag),
        (signal_hook::consts::SIGHUP, &hup_flag),
        (signal_hook::consts::SIGINT, &term_flag),
    ] {
        signal_hook::flag::register(sig, Arc::clone(flag))
            .with_context(|| format!("installing handler for signal {sig}"))?;
    }

    install_panic_hook();
    enable_raw_mode().context("switching the terminal to raw mode")?;
    let guard = TermGuard;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)
        .context("entering the alternate screen")?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(stdout())).context("opening the terminal")?;
    let ratatui::layout::Size { width, height } =
        terminal.size().context("reading the terminal size")?;
    app.update(Action::Resize { width, height });

    let (tx, rx) = mpsc::channel();
    let workers = workers::spawn(&tx, &opts.dir).context("starting the dashboard's threads")?;
    let mut shell = Shell {
        control: opts.control,
        tx,
        dir: opts.dir.clone(),
        submissions: Vec::new(),
        prunes: Vec::new(),
        exports: Vec::new(),
        galleries: Vec::new(),
    };
    // Pictures only where colours are drawn at all.
    let graphics = (!no_color && !opts.ascii)
        .then(|| graphics::detect(|k| std::env::var(k).ok(), graphics::cell_pixels))
        .flatten();
    let outcome = event_loop(
        &mut terminal,
        &mut app,
        &mut shell,
        &rx,
        (&term_flag, &hup_flag),
        graphics,
    );
    if graphics == Some(Protocol::Kitty) {
        let _ = terminal
            .backend_mut()
            .write_all(&graphics::clear(Protocol::Kitty));
    }
    // Input is read no more before the terminal is handed back.
    drop(workers);
    drop(guard);
    // After a hang-up the terminal is gone (and writing to it could fail): wait quietly.
    let speak = !hup_flag.load(Ordering::SeqCst);
    // A submission in flight is finished, so that its jobs are recorded in their run folders.
    if speak && shell.submissions.iter().any(|h| !h.is_finished()) {
        eprintln!("histoboard: waiting for the Slurm submission to finish");
    }
    for h in shell.submissions.drain(..) {
        let _ = h.join();
    }
    // A half-deleted run folder helps nobody: pruning in flight is finished too.
    for h in shell.prunes.drain(..) {
        let _ = h.join();
    }
    // An export in flight is finished rather than left half written.
    for h in shell.exports.drain(..) {
        let _ = h.join();
    }
    // Thread runs die with the process: ask them to stop (they keep their last completed
    // epoch's checkpoint) and wait a little.
    let waiting = shell.cancel_thread_runs(&app);
    if !waiting.is_empty() {
        if speak {
            eprintln!(
                "histoboard: waiting for {} run(s) to stop: {}",
                waiting.len(),
                waiting.join(", ")
            );
        }
        wait_for_stop(&opts.dir, &waiting, speak);
    }
    outcome
}

fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &mut App,
    shell: &mut Shell,
    rx: &Receiver<Msg>,
    (term_flag, hup_flag): (&AtomicBool, &AtomicBool),
    graphics: Option<Protocol>,
) -> anyhow::Result<()> {
    let mut last_draw: Option<Instant> = None;
    let mut shown: Vec<Placement> = Vec::new();
    loop {
        if term_flag.load(Ordering::SeqCst) || hup_flag.load(Ordering::SeqCst) {
            return Ok(());
        }
        if app.dirty && last_draw.is_none_or(|t| t.elapsed() >= MIN_FRAME) {
            let mut pictures = Vec::new();
            terminal
                .draw(|f| pictures = ui::draw_with_pictures(f, app))
                .context("drawing")?;
            if let Some(p) = graphics
                && pictures != shown
            {
                show_pictures(terminal, app, p, &pictures).context("drawing pictures")?;
                shown = pictures;
            }
            app.dirty = false;
            last_draw = Some(Instant::now());
        }
        // Wake for the next frame when one is due, else for the signal flags.
        let wait = match (app.dirty, last_draw) {
            (true, Some(t)) => MIN_FRAME.saturating_sub(t.elapsed()),
            _ => POLL,
        };
        let first = match rx.recv_timeout(wait) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => anyhow::bail!("event collectors stopped"),
        };
        // Handle everything that is waiting before drawing again.
        for msg in std::iter::once(first).chain(rx.try_iter()) {
            let action = match msg {
                Msg::Act(a) => Some(a),
                Msg::Term(ev) => translate(app, ev),
            };
            if let Some(a) = action {
                for effect in app.update(a) {
                    shell.perform(effect);
                }
            }
            if app.should_quit {
                return Ok(());
            }
        }
    }
}

/// Replaces the pictures on the screen. Kitty deletes its own; iTerm2's and sixel's are the
/// cells' contents, so every cell is drawn again first, over the old ones. Sixel pictures are
/// sized in pixels, from the cell size the terminal reports now (a font change alters it).
fn show_pictures(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    app: &App,
    p: Protocol,
    pictures: &[Placement],
) -> anyhow::Result<()> {
    let p = match (p, graphics::cell_pixels()) {
        (Protocol::Sixel { .. }, Some(cell)) => Protocol::Sixel { cell },
        _ => p,
    };
    if p.pictures_are_cells() {
        terminal.clear()?;
        terminal.draw(|f| ui::draw(f, app))?;
    }
    let mut out = graphics::clear(p);
    out.extend(graphics::show(p, pictures));
    let w = terminal.backend_mut();
    w.write_all(&out)?;
    w.flush()?;
    Ok(())
}

/// A terminal event as an action, through the key map.
fn translate(app: &App, ev: TermEvent) -> Option<Action> {
    match ev {
        TermEvent::Key(k) => keymap::key_action(&app.keys, app.ctx(), &k),
        TermEvent::Resize(width, height) => Some(Action::Resize { width, height }),
        TermEvent::Mouse(m) => {
            let (col, row) = (m.column, m.row);
            match m.kind {
                MouseEventKind::Down(MouseButton::Left) => Some(Action::Click { col, row }),
                MouseEventKind::ScrollUp => Some(Action::ScrollUp { col, row }),
                MouseEventKind::ScrollDown => Some(Action::ScrollDown { col, row }),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Performs effects through [`Control`]; outcomes come back to the app as actions.
struct Shell {
    control: Arc<Control>,
    tx: Sender<Msg>,
    dir: PathBuf,
    /// Slurm submissions running off the UI thread.
    submissions: Vec<JoinHandle<()>>,
    /// Archiving and deleting off the UI thread (deleting checkpoints can take a while on a
    /// shared file system).
    prunes: Vec<JoinHandle<()>>,
    /// Chart exports running off the UI thread (PNGs take a moment).
    exports: Vec<JoinHandle<()>>,
    /// Error galleries being read (tiles from a zip) off the UI thread.
    galleries: Vec<JoinHandle<()>>,
}

impl Shell {
    fn send(&self, a: Action) {
        // The loop owns the receiver for as long as effects are performed.
        let _ = self.tx.send(Msg::Act(a));
    }

    fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::Launch {
                ticket,
                experiment,
                source,
                kind,
            } => {
                let exps = std::slice::from_ref(&*experiment);
                let result = match self.control.launch(exps, &source, kind) {
                    Ok(Started::Runs(ids)) => Ok(ids.join(", ")),
                    Ok(Started::Submitted(msg)) => Ok(msg),
                    Err(e) => Err(format!("{e:#}")),
                };
                self.send(Action::Launched { ticket, result });
            }
            Effect::Submit {
                experiments,
                source,
            } => {
                // Off the UI thread: a busy controller can take seconds to answer sbatch.
                let (control, tx) = (self.control.clone(), self.tx.clone());
                self.submissions.retain(|h| !h.is_finished());
                self.submissions.push(thread::spawn(move || {
                    let result = match control.launch(&experiments, &source, LauncherKind::Slurm) {
                        Ok(Started::Submitted(msg)) => Ok(msg),
                        Ok(Started::Runs(ids)) => Ok(format!("started {}", ids.join(", "))),
                        Err(e) => Err(format!("{e:#}")),
                    };
                    let _ = tx.send(Msg::Act(Action::Outcome(result)));
                }));
            }
            Effect::Cancel { run_id } => {
                let run_dir = self.control.runs_dir().join(&run_id);
                if let Err(e) = self.control.cancel(&run_dir) {
                    self.send(Action::Notice(format!("cannot cancel {run_id}: {e:#}")));
                }
            }
            Effect::Resume { run_id } => {
                let run_dir = self.control.runs_dir().join(&run_id);
                let result = self
                    .control
                    .resume(&run_dir, LauncherKind::Local)
                    .map_err(|e| format!("cannot resume {run_id}: {e:#}"));
                self.send(Action::Outcome(result));
            }
            Effect::ReadOof { runs } => {
                let refs: Vec<&RunState> = runs.iter().map(|r| &**r).collect();
                self.send(Action::OofRead(crate::runs::compare::oof_aucs(&refs)));
            }
            Effect::DescribePrune { ids, delete } => {
                let what = prune::describe(&self.control.runs_dir(), &ids);
                self.send(Action::PruneDescribed { ids, delete, what });
            }
            Effect::Prune { runs, delete } => {
                let (runs_dir, tx) = (self.control.runs_dir(), self.tx.clone());
                self.prunes.retain(|h| !h.is_finished());
                self.prunes.push(thread::spawn(move || {
                    let _ = tx.send(Msg::Act(prune_runs(&runs_dir, &runs, delete)));
                }));
            }
            Effect::SaveMeta { run_id, meta } => {
                self.send(save_meta(&self.control.runs_dir(), run_id, meta));
            }
            Effect::SaveUi(p) => {
                if let Err(e) = prefs::save(&self.dir, &p) {
                    self.send(Action::Notice(format!("settings not saved: {e:#}")));
                }
            }
            Effect::SaveVariant {
                original,
                new_path,
                experiment,
            } => {
                let r = experiments::save_variant(&original, &new_path, &experiment)
                    .map(|()| new_path.clone());
                self.send(Action::Saved(r));
            }
            Effect::Export { runs, dir } => {
                let (tx, base) = (self.tx.clone(), self.dir.clone());
                self.exports.retain(|h| !h.is_finished());
                self.exports.push(thread::spawn(move || {
                    let result = export(&runs, &dir, &base);
                    let _ = tx.send(Msg::Act(Action::Outcome(result)));
                }));
            }
            Effect::LoadGallery {
                run_dir,
                run_id,
                epoch,
                best_epoch,
            } => {
                let tx = self.tx.clone();
                self.galleries.retain(|h| !h.is_finished());
                self.galleries.push(thread::spawn(move || {
                    let result = crate::gallery::load(
                        &run_dir,
                        epoch,
                        best_epoch,
                        crate::gallery::DEFAULT_TOP,
                    )
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"));
                    let _ = tx.send(Msg::Act(Action::GalleryLoaded {
                        run_id,
                        epoch,
                        result,
                    }));
                }));
            }
            Effect::ReloadExperiments => {
                let list = experiments::discover(&self.dir.join("experiments"));
                self.send(Action::ExperimentsLoaded(list));
            }
            Effect::Quit => {}
        }
    }

    /// Cancels every active thread run (each stops at its next batch, keeping its last
    /// completed epoch's checkpoint); detached runs go on.
    fn cancel_thread_runs(&self, app: &App) -> Vec<String> {
        // Runs not seen yet count as active: they may be loading their data.
        self.control.cancel_threads(|id| {
            app.runs
                .iter()
                .find(|r| r.id == id)
                .is_none_or(|r| r.status.is_active())
        })
    }
}

/// Archives (or deletes) `runs`, as the dashboard knows them, each through `runs::prune` (which
/// refuses a live one); the outcome for the app.
pub fn prune_runs(runs_dir: &Path, runs: &[Arc<RunState>], delete: bool) -> Action {
    let (mut gone, mut freed, mut errors) = (Vec::new(), 0, Vec::new());
    for r in runs {
        let done = if delete {
            prune::remove(runs_dir, r).map(|bytes| freed += bytes)
        } else {
            prune::archive(runs_dir, r).map(|_| ())
        };
        match done {
            Ok(()) => gone.push(r.id.clone()),
            Err(e) => {
                let e = format!("{e:#}");
                errors.push(if e.contains(&r.id) {
                    e
                } else {
                    format!("{}: {e}", r.id)
                });
            }
        }
    }
    Action::Pruned {
        delete,
        gone,
        freed,
        errors,
    }
}

/// Writes a run's note and tags to its folder; the outcome for the app.
pub fn save_meta(runs_dir: &Path, run_id: String, meta: RunMeta) -> Action {
    let result = meta
        .write(&runs_dir.join(&run_id))
        .map(|()| meta)
        .map_err(|e| format!("{run_id}: {e:#}"));
    Action::MetaSaved { run_id, result }
}

/// Writes the runs' charts and table into `dir`, or `dir-2`, `dir-3`... when an export of the
/// same second is there; says where (from `base`, the folder the header shows).
fn export(runs: &[Arc<crate::runs::RunState>], dir: &Path, base: &Path) -> Result<String, String> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("export: creating {}: {e}", parent.display()))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = dir.to_path_buf();
    let mut n = 1;
    // create_dir (not _all) fails on an existing folder: no export writes over another.
    while let Err(e) = std::fs::create_dir(&out) {
        if e.kind() != std::io::ErrorKind::AlreadyExists || n > 100 {
            return Err(format!("export: creating {}: {e}", out.display()));
        }
        n += 1;
        out = parent.join(format!("{name}-{n}"));
    }
    let refs: Vec<&crate::runs::RunState> = runs.iter().map(|r| &**r).collect();
    let shown = out.strip_prefix(base).unwrap_or(&out);
    match crate::export::write_all(&refs, &out, now_unix()) {
        Ok(files) => Ok(format!(
            "exported to {}/ ({} run(s), {} files)",
            shown.display(),
            runs.len(),
            files.len()
        )),
        Err(e) => Err(format!("export to {} failed: {e:#}", out.display())),
    }
}

/// Waits until the given runs stop (or a timeout), watching their event files.
fn wait_for_stop(dir: &Path, ids: &[String], speak: bool) {
    let mut src = RunsSource::new(dir.join("runs"));
    let mut status: HashMap<String, RunStatus> = HashMap::new();
    let start = Instant::now();
    while start.elapsed() < CHECKPOINT_WAIT {
        for r in src.poll() {
            status.insert(r.id.clone(), r.status);
        }
        if ids
            .iter()
            .all(|id| status.get(id).is_none_or(|s| !s.is_active()))
        {
            return;
        }
        thread::sleep(POLL);
    }
    if speak {
        eprintln!("histoboard: runs still stopping after {CHECKPOINT_WAIT:?}; leaving them");
    }
}
