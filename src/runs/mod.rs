//! The run: its event stream on disk and the one state folded from it.
//!
//! - [`event`]: the record types (the contract between trainer and dashboard).
//! - [`paths`]: a run folder's layout and run ids; [`predictions`]: its per-tile
//!   validation predictions (`id,label,prob`).
//! - [`writer`]: [`EventWriter`], used by the trainer (also keeps `metrics.csv`).
//! - [`tail`]: [`Tail`], incremental reading of a growing `events.jsonl`.
//! - [`state`]: [`RunState`], a run folded from its records (the scheduler's word included);
//!   [`series`] its bounded batch-loss history, [`process`] whether its trainer lives.
//! - [`watch`]: [`RunsWatcher`] and [`spawn_collector`], following a whole runs folder.
//! - [`meta`]: a run's note and tags; [`prune`]: archiving and deleting runs.
//! - [`calibration`]: the temperature fitted on the best epoch's validation predictions
//!   (`calibration.toml`).
//! - [`compare`]: runs side by side (the dashboard's compare view, exported CSV);
//!   [`cv`]: a cross-validation's folds and out-of-fold AUC.
//! - [`launch`]: the [`Launcher`] contract, cancellation and detached processes.
//! - `fake`: `FakeLauncher`, which writes synthetic runs live, and `fixture`: deterministic
//!   run histories written at once, whose metrics both draw from (tests, screenshots and
//!   benchmarks; feature `test-support`, not in the shipped library).

pub mod calibration;
pub mod compare;
pub mod cv;
pub mod event;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
#[cfg(any(test, feature = "test-support"))]
pub mod fixture;
pub mod launch;
pub mod meta;
pub mod paths;
pub mod predictions;
pub mod process;
pub mod prune;
pub mod series;
pub mod state;
pub mod tail;
pub mod watch;
pub mod writer;

pub use calibration::Calibration;
pub use event::*;
#[cfg(any(test, feature = "test-support"))]
pub use fake::{FakeLauncher, write_synthetic_run};
#[cfg(any(test, feature = "test-support"))]
pub use fixture::synthetic_epoch;
pub use launch::{CancelToken, LaunchedRun, Launcher, cancel_detached, spawn_detached};
pub use meta::RunMeta;
pub use paths::{RunPaths, new_run_id, now_unix, write_atomic};
pub use series::Downsampled;
pub use state::{BatchProgress, CheckpointInfo, LogLine, RunState, RunStatus, Scheduled};
pub use tail::{Tail, TailError};
pub use watch::{Collector, LoadBench, RunUpdate, RunsWatcher, bench_load, spawn_collector};
pub use writer::{EventWriter, METRICS_CSV_HEADER};
