//! The dashboard's background threads (after bottom and gitui): terminal input, the runs
//! watcher, the Slurm and GPU pollers, the experiments folder watcher and a clock tick, all
//! feeding the shell's one channel. Each is an owned [`Worker`] that is stopped and joined
//! when dropped, as `runs::watch::Collector` is.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crossterm::event::{self, Event as TermEvent};

use super::action::Action;
use super::experiments;
use super::source::{RunsSource, SlurmUpdate, SlurmWatcher};
use crate::runs::now_unix;

/// Runs folder poll period: quick enough to feel live, cheap when idle.
pub const POLL: Duration = Duration::from_millis(250);
/// Experiments folder re-scan period.
const EXP_POLL: Duration = Duration::from_secs(2);
/// GPU utilisation and memory refresh.
const GPU_POLL: Duration = Duration::from_secs(2);
/// How long the input worker waits for a key before checking whether it should stop.
const INPUT_POLL: Duration = Duration::from_millis(100);
/// How long quitting waits for workers busy in an external command (squeue, nvidia-smi).
const JOIN_WAIT: Duration = Duration::from_secs(2);

/// What the workers send the shell.
pub enum Msg {
    Term(TermEvent),
    Act(Action),
}

/// A thread calling one step again and again; dropping the handle stops and joins it.
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    /// Calls `step` now and then `period` after each call, until stopped or until `step`
    /// returns false (its receiver hung up, or there is nothing to watch).
    pub fn spawn(
        name: &str,
        period: Duration,
        mut step: impl FnMut() -> bool + Send + 'static,
    ) -> io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::Builder::new().name(name.into()).spawn(move || {
            while !flag.load(Ordering::SeqCst) && step() {
                let until = Instant::now() + period;
                // Woken early by `stop`; a spurious wake-up sleeps again.
                while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                    thread::park_timeout(until.saturating_duration_since(Instant::now()));
                }
            }
        })?;
        Ok(Worker {
            stop,
            handle: Some(handle),
        })
    }

    /// Asks the thread to stop after its current step, without waiting for it.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }

    fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Every worker of the dashboard. Dropping it stops them all at once, then joins them; one
/// still blocked in an external command after `JOIN_WAIT` is left to end with the process.
pub struct Workers(Vec<Worker>);

impl Drop for Workers {
    fn drop(&mut self) {
        self.0.iter().for_each(Worker::stop);
        let deadline = Instant::now() + JOIN_WAIT;
        while self.0.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        for mut w in self.0.drain(..) {
            if !w.is_finished() {
                w.handle = None;
            }
        }
    }
}

fn send(tx: &Sender<Msg>, action: Action) -> bool {
    tx.send(Msg::Act(action)).is_ok()
}

/// Starts every worker over the dashboard folder `dir`, each sending into `tx`.
pub fn spawn(tx: &Sender<Msg>, dir: &Path) -> io::Result<Workers> {
    let mut v = Vec::new();
    let t = tx.clone();
    // Polled rather than blocking in `read`, so that the worker can be stopped.
    v.push(Worker::spawn(
        "input",
        Duration::ZERO,
        move || match event::poll(INPUT_POLL) {
            Ok(true) => event::read().is_ok_and(|ev| t.send(Msg::Term(ev)).is_ok()),
            Ok(false) => true,
            Err(_) => false,
        },
    )?);
    // The scheduler's states go to the runs worker, which folds them into the runs: the app
    // receives each run whole, its scheduler's word and any "lost" verdict included.
    let (sched_tx, sched_rx) = mpsc::channel();
    let (t, mut src) = (tx.clone(), RunsSource::new(dir.join("runs")));
    v.push(Worker::spawn("runs", POLL, move || {
        for states in sched_rx.try_iter() {
            src.set_scheduled(states);
        }
        // Only changed runs are sent.
        let changed = src.poll();
        changed.is_empty() || send(&t, Action::RunsUpdated(changed))
    })?);
    // One batched scheduler query per refresh, and none while no run went to Slurm.
    let (t, mut slurm) = (tx.clone(), SlurmWatcher::new(dir.join("runs")));
    let period = crate::slurm::watch::DEFAULT_INTERVAL;
    v.push(Worker::spawn("slurm", period, move || {
        slurm.poll().into_iter().all(|update| match update {
            SlurmUpdate::States(states) => {
                let states = states.into_iter().map(|(id, j)| (id, j.scheduled()));
                sched_tx.send(states.collect()).is_ok()
            }
            SlurmUpdate::Error(e) => send(&t, Action::Notice(format!("slurm: {e}"))),
        })
    })?);
    let (t, mut last) = (tx.clone(), Vec::new());
    v.push(Worker::spawn("gpu", GPU_POLL, move || {
        // Only where nvidia-smi answers; a CPU machine pays one failed spawn.
        match crate::gpu::query() {
            Ok(gpus) if !gpus.is_empty() => {
                gpus == last || {
                    last = gpus.clone();
                    send(&t, Action::GpusUpdated(gpus))
                }
            }
            _ => false,
        }
    })?);
    let (t, exp_dir) = (tx.clone(), dir.join("experiments"));
    let mut seen = dir_signature(&exp_dir);
    v.push(Worker::spawn("experiments", EXP_POLL, move || {
        let sig = dir_signature(&exp_dir);
        sig == seen || {
            seen = sig;
            send(
                &t,
                Action::ExperimentsLoaded(experiments::discover(&exp_dir)),
            )
        }
    })?);
    let t = tx.clone();
    v.push(Worker::spawn("tick", Duration::from_secs(1), move || {
        send(&t, Action::Tick(now_unix()))
    })?);
    Ok(Workers(v))
}

/// Names, sizes and modification times of a folder's entries: changes when a file does.
fn dir_signature(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.len(), m.modified().ok()))
        })
        .collect();
    v.sort();
    v
}
