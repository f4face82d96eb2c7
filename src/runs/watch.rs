//! Watches a runs folder: discovers run folders and tails each one's events into a [`RunState`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::paths::{RunPaths, now_unix};
use super::state::{RunState, RunStatus, Scheduled};
use super::tail::{Tail, TailError};

/// Seconds a running run may stay silent before its trainer process is checked.
pub const DEFAULT_QUIET_S: f64 = 10.0;

/// What changed in the runs folder since the previous poll.
#[derive(Debug, Clone)]
pub enum RunUpdate {
    /// A run appeared or changed; its full current state.
    Changed(Arc<RunState>),
    /// The run's folder (or its `events.jsonl`) disappeared.
    Removed(String),
    /// A line or file of this run could not be read; the rest of the run still loads.
    Error { run_id: String, error: TailError },
}

struct Watched {
    tail: Tail,
    state: RunState,
    /// The stream was found missing (and flagged) at the last poll.
    missing_stream: bool,
    /// `config.toml` was looked for since the stream was (re)read.
    config_checked: bool,
    /// Modification time of `meta.toml` when last read (None: not there).
    meta_modified: Option<std::time::SystemTime>,
    /// The same for `calibration.toml`.
    calibration_modified: Option<std::time::SystemTime>,
}

/// Incrementally follows every run under a runs folder. Polling stats each known
/// `events.jsonl` and reads only what was appended; nothing is read when sizes are unchanged.
pub struct RunsWatcher {
    dir: PathBuf,
    runs: BTreeMap<String, Watched>,
    states: BTreeMap<String, Arc<RunState>>,
    quiet_s: f64,
    /// The scheduler's latest word per run id (Slurm runs only), folded in at each poll.
    scheduled: BTreeMap<String, Scheduled>,
}

impl RunsWatcher {
    /// Watches `runs_dir` (which may not exist yet).
    pub fn new(runs_dir: impl Into<PathBuf>) -> RunsWatcher {
        RunsWatcher {
            dir: runs_dir.into(),
            runs: BTreeMap::new(),
            states: BTreeMap::new(),
            quiet_s: DEFAULT_QUIET_S,
            scheduled: BTreeMap::new(),
        }
    }

    /// Takes the scheduler's latest states (new and changed ones; earlier ones are kept). The
    /// next poll folds them into the runs, and marks lost a run whose task ended without it.
    pub fn set_scheduled(&mut self, states: BTreeMap<String, Scheduled>) {
        self.scheduled.extend(states);
    }

    /// How long a running run may be silent before its pid is checked (default 10 s).
    pub fn with_quiet_after(mut self, seconds: f64) -> RunsWatcher {
        self.quiet_s = seconds;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Current state of every run, by id (ids sort by start time within an experiment).
    pub fn states(&self) -> &BTreeMap<String, Arc<RunState>> {
        &self.states
    }

    pub fn get(&self, id: &str) -> Option<&RunState> {
        self.states.get(id).map(|s| &**s)
    }

    /// Discovers new runs, reads appended events, checks silent runs for a dead trainer.
    /// A missing runs folder is not an error (nothing has run yet).
    pub fn poll(&mut self) -> Vec<RunUpdate> {
        let mut updates = Vec::new();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let present = self.discover();
        let gone: Vec<String> = self
            .runs
            .keys()
            .filter(|id| !present.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.runs.remove(&id);
            self.states.remove(&id);
            updates.push(RunUpdate::Removed(id));
        }
        for id in present {
            if !self.runs.contains_key(&id) {
                let paths = RunPaths::new(self.dir.join(&id));
                self.runs.insert(
                    id.clone(),
                    Watched {
                        tail: Tail::new(paths.events()),
                        state: RunState::new(id.clone(), paths.dir),
                        missing_stream: false,
                        config_checked: false,
                        meta_modified: None,
                        calibration_modified: None,
                    },
                );
                changed.insert(id);
            }
        }
        let now = now_unix();
        let quiet = self.quiet_s;
        let scheduled = &self.scheduled;
        // New runs hold whole files to fold: spread them over threads (the initial load of a
        // full runs folder); known runs usually have a line or two and stay on this thread.
        let (mut fresh, mut known): (Vec<_>, Vec<_>) = self
            .runs
            .iter_mut()
            .partition(|(id, _)| changed.contains(*id));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let mut results = Vec::with_capacity(fresh.len() + known.len());
        if fresh.len() >= 4 && threads > 1 {
            let chunk = fresh.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = fresh
                    .chunks_mut(chunk)
                    .map(|part| {
                        scope.spawn(move || {
                            part.iter_mut()
                                .map(|(id, run)| step(id, run, now, quiet, scheduled.get(*id)))
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                for h in handles {
                    // `step` does not panic; if it ever did, surface it here as it would have
                    // been surfaced on this thread.
                    results.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
                }
            });
        } else {
            results.extend(
                fresh
                    .iter_mut()
                    .map(|(id, run)| step(id, run, now, quiet, scheduled.get(*id))),
            );
        }
        results.extend(
            known
                .iter_mut()
                .map(|(id, run)| step(id, run, now, quiet, scheduled.get(*id))),
        );
        for (id, run_changed, errors) in results {
            if run_changed {
                changed.insert(id.clone());
            }
            updates.extend(errors.into_iter().map(|error| RunUpdate::Error {
                run_id: id.clone(),
                error,
            }));
        }
        for id in changed {
            if let Some(run) = self.runs.get(&id) {
                let state = Arc::new(run.state.clone());
                self.states.insert(id.clone(), state.clone());
                updates.push(RunUpdate::Changed(state));
            }
        }
        updates
    }

    /// Ids of sub-folders holding an `events.jsonl`, or a `launch.toml` (queued elsewhere).
    fn discover(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return ids;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            // Known runs skip the stat: their tail notices a vanished file itself, and a
            // vanished folder drops out of the listing. A folder with a run's files but no
            // stream is listed too, as damaged, rather than silently missing.
            let paths = RunPaths::new(entry.path());
            if self.runs.contains_key(name)
                || paths.events().is_file()
                || paths.launch().is_file()
                || paths.config().is_file()
                || paths.checkpoints().is_dir()
            {
                ids.insert(name.to_string());
            }
        }
        ids
    }
}

/// Reads what was appended to one run's stream and folds it in. Returns the id, whether the
/// state changed, and the unreadable lines.
fn step(
    id: &str,
    run: &mut Watched,
    now: f64,
    quiet_s: f64,
    scheduled: Option<&Scheduled>,
) -> (String, bool, Vec<TailError>) {
    let mut changed = false;
    let mut errors = Vec::new();
    let paths = RunPaths::new(&run.state.dir);
    changed |= refresh_meta(run, &paths);
    changed |= refresh_calibration(run, &paths);
    if !run.tail.path().exists() {
        changed |= run.state.apply_scheduler(scheduled.cloned());
        // A task queued elsewhere that ended before writing a stream lost its trainer too.
        changed |= run.state.check_lost(now, quiet_s);
        // No stream: a run queued elsewhere (launch.toml only) is fine; otherwise the run's
        // history is gone. Keep what was read before, flagged, rather than show it as new.
        let queued = paths.launch().is_file() && !paths.checkpoints().is_dir();
        if !queued && !run.missing_stream {
            run.missing_stream = true;
            let what = if run.state.records > 0 {
                "events.jsonl was deleted; showing what was read before"
            } else {
                "events.jsonl is missing: the run's history is unknown"
            };
            run.state.note_problem(what);
            if run.state.records == 0 {
                run.state.status = RunStatus::Damaged;
            }
            changed = true;
        }
        return (id.to_string(), changed, errors);
    }
    if std::mem::take(&mut run.missing_stream) {
        // The stream is back (a new attempt, or restored): fold it afresh.
        run.tail = Tail::new(paths.events());
        run.state = fresh_state(id, &mut run.state);
        run.config_checked = false;
        changed = true;
    }
    let (records, restarted) = run.tail.poll_detect_restart();
    if restarted {
        // The file was replaced: what was folded from it no longer holds.
        run.state = fresh_state(id, &mut run.state);
        run.config_checked = false;
        changed = true;
    }
    for rec in records {
        match rec {
            Ok(rec) => {
                run.state.apply(&rec);
                changed = true;
            }
            Err(error) => {
                run.state.note_problem(error.to_string());
                errors.push(error);
                changed = true;
            }
        }
    }
    if run.state.records > 0 && !run.config_checked {
        // Written before the stream, so a started run without it was damaged afterwards.
        run.config_checked = true;
        if !paths.config().is_file() {
            run.state.note_problem(format!(
                "{} is missing: the run cannot be resumed or evaluated",
                paths.config().display()
            ));
            changed = true;
        }
    }
    changed |= run.state.apply_scheduler(scheduled.cloned());
    changed |= run.state.check_lost(now, quiet_s);
    (id.to_string(), changed, errors)
}

/// A state to fold a replaced stream into afresh, keeping what does not come from the stream.
fn fresh_state(id: &str, old: &mut RunState) -> RunState {
    let mut st = RunState::new(id, old.dir.clone());
    st.meta = std::mem::take(&mut old.meta);
    st.calibration = old.calibration.take();
    st
}

/// Whether `path` changed (appeared, went, was rewritten) since `seen`, which it updates:
/// one `stat`.
fn file_changed(path: &Path, seen: &mut Option<std::time::SystemTime>) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    modified != std::mem::replace(seen, modified)
}

/// Re-reads the run's note and tags when `meta.toml` changed.
fn refresh_meta(run: &mut Watched, paths: &RunPaths) -> bool {
    if !file_changed(&paths.meta(), &mut run.meta_modified) {
        return false;
    }
    match super::meta::RunMeta::read(&paths.dir) {
        Ok(meta) => run.state.meta = meta,
        Err(e) => run.state.note_problem(format!("{e:#}")),
    }
    true
}

/// Re-reads the run's fitted temperature when `calibration.toml` changed (a broken file is
/// a problem of the run, and no temperature).
fn refresh_calibration(run: &mut Watched, paths: &RunPaths) -> bool {
    if !file_changed(&paths.calibration(), &mut run.calibration_modified) {
        return false;
    }
    run.state.calibration = super::calibration::Calibration::read(&paths.dir).unwrap_or_else(|e| {
        run.state.note_problem(format!("{e:#}"));
        None
    });
    true
}

/// Handle to a collector thread; dropping it stops the thread and waits for it.
pub struct Collector {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Collector {
    /// Asks the thread to stop and waits for it (at most one poll).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.handle.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Polls `runs_dir` every `interval` on a thread and sends each update, mapped by `map`, into
/// `sender` (e.g. the dashboard's event channel). Stops when the returned [`Collector`] is
/// stopped or dropped, or when the receiver hangs up.
pub fn spawn_collector<T, F>(
    runs_dir: impl Into<PathBuf>,
    interval: Duration,
    sender: Sender<T>,
    map: F,
) -> Collector
where
    T: Send + 'static,
    F: Fn(RunUpdate) -> T + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut watcher = RunsWatcher::new(runs_dir);
    let handle = std::thread::Builder::new()
        .name("runs-collector".into())
        .spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let started = Instant::now();
                for update in watcher.poll() {
                    if sender.send(map(update)).is_err() {
                        return;
                    }
                }
                // Unparked early by `stop`.
                if let Some(rest) = interval.checked_sub(started.elapsed()) {
                    std::thread::park_timeout(rest);
                }
            }
        })
        .ok();
    Collector { stop, handle }
}

/// Figures from [`bench_load`].
#[derive(Debug, Clone)]
pub struct LoadBench {
    pub runs: usize,
    pub epochs: usize,
    pub bytes: u64,
    /// The first poll: discover and fold every run.
    pub initial: Duration,
    /// Mean of later polls with nothing new.
    pub steady: Duration,
}

/// Times a fresh watcher's first poll of `dir` and the mean of `polls` idle polls after it.
pub fn bench_load(dir: &Path, polls: usize) -> LoadBench {
    let mut watcher = RunsWatcher::new(dir).with_quiet_after(f64::INFINITY);
    let t = Instant::now();
    let updates = watcher.poll();
    let initial = t.elapsed();
    drop(updates);
    let t = Instant::now();
    for _ in 0..polls {
        let quiet = watcher.poll();
        debug_assert!(quiet.is_empty());
    }
    let steady = t.elapsed() / polls.max(1) as u32;
    let bytes = watcher
        .states()
        .values()
        .filter_map(|s| std::fs::metadata(RunPaths::new(&s.dir).events()).ok())
        .map(|m| m.len())
        .sum();
    LoadBench {
        runs: watcher.states().len(),
        epochs: watcher.states().values().map(|s| s.completed.len()).sum(),
        bytes,
        initial,
        steady,
    }
}
