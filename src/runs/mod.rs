//! Runs on disk: the event stream (`events.jsonl`), its writer and tailer, and run state.
//!
//! - [`event`]: the record types (the contract between trainer and dashboard).
//! - [`paths`]: a run folder's layout and run ids.
//! - [`writer`]: [`EventWriter`], used by the trainer (also keeps `metrics.csv`).
//! - [`tail`]: [`Tail`], incremental reading of a growing `events.jsonl`.
//! - [`state`]: [`RunState`], a run folded from its records.
//! - [`watch`]: [`RunsWatcher`] and [`spawn_collector`], following a whole runs folder.
//! - [`launch`]: the [`Launcher`] contract, cancellation and detached processes.
//! - `fake`: `FakeLauncher` and synthetic runs, for tests and benchmarks (feature
//!   `test-support`; not in the shipped library).

pub mod event;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod launch;
pub mod paths;
pub mod state;
pub mod tail;
pub mod watch;
pub mod writer;

pub use event::*;
#[cfg(any(test, feature = "test-support"))]
pub use fake::{FakeLauncher, synthetic_epoch, write_synthetic_run};
pub use launch::{CancelToken, LaunchedRun, Launcher, cancel_detached, spawn_detached};
pub use paths::{RunPaths, new_run_id, now_unix, write_atomic};
pub use state::{
    BatchProgress, CheckpointInfo, Downsampled, LogLine, RunState, RunStatus, Scheduled,
};
pub use tail::{Tail, TailError};
pub use watch::{Collector, LoadBench, RunUpdate, RunsWatcher, bench_load, spawn_collector};
pub use writer::{EventWriter, METRICS_CSV_HEADER};
