//! The run event stream: the only contract between training and everything that watches it.
//!
//! Each event is one JSON object per line in `runs/<run-id>/events.jsonl`:
//! `{"v":1,"t":<unix seconds>,"type":"epoch",...}`. Bump [`SCHEMA_VERSION`] on any
//! incompatible change; readers refuse versions they do not know.

use serde::{Deserialize, Serialize};

use crate::metrics::{Metrics, nan_from_null};

pub const SCHEMA_VERSION: u32 = 1;

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Schema version.
    pub v: u32,
    /// Wall-clock time, seconds since the Unix epoch.
    pub t: f64,
    #[serde(flatten)]
    pub event: Event,
}

// An epoch's summary (two splits' metrics with their ROC and reliability bins) dwarfs the
// other variants; events are one per batch or epoch and short-lived, so boxing it would only
// add an allocation and churn at every site that builds or matches one.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run began (or resumed).
    Started {
        run_id: String,
        experiment: String,
        /// The fully resolved experiment, as TOML text (also saved as `config.toml`).
        config: String,
        /// Human-readable device, e.g. "CPU (2 threads)" or "CUDA:0 NVIDIA H100".
        device: String,
        epochs: usize,
        /// Batches per training epoch.
        batches: usize,
        data: DataSummary,
        /// Epoch the run starts from (0 for a fresh run, > 0 when resumed).
        start_epoch: usize,
        /// OS process id of the trainer, so watchers can tell a dead run from a slow one.
        pid: u32,
        /// Host name of the trainer's machine: its pid means nothing on another host (a
        /// Slurm node). Empty in streams written before it existed.
        #[serde(default)]
        host: String,
        /// The metric that decides the best epoch (`train.early_stopping.metric`).
        #[serde(default = "default_metric")]
        metric: String,
    },
    /// Throttled progress inside an epoch.
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        #[serde(deserialize_with = "nan_from_null")]
        loss: f64,
        #[serde(deserialize_with = "nan_from_null")]
        lr: f64,
        #[serde(deserialize_with = "nan_from_null")]
        images_per_sec: f64,
    },
    /// End of an epoch, with every metric.
    Epoch(EpochSummary),
    Checkpoint {
        epoch: usize,
        /// `best` or `last`.
        kind: String,
        path: String,
    },
    Log {
        level: LogLevel,
        message: String,
    },
    Finished {
        best_epoch: usize,
        metric: String,
        #[serde(deserialize_with = "nan_from_null")]
        best_value: f64,
        /// Why it ended: "completed" or "early stopping".
        reason: String,
    },
    Failed {
        error: String,
    },
    Cancelled {
        /// Last completed epoch (its checkpoint is on disk).
        epoch: usize,
    },
}

/// Streams written before `started` named its metric used the default.
fn default_metric() -> String {
    crate::metrics::MetricName::VALID_AUC.to_string()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// The run's `data.source` (older streams hold one string, which reads as one source).
    pub source: crate::experiment::Sources,
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// Positive (label 1) tiles in the training split.
    pub train_pos: usize,
    pub valid_pos: usize,
    /// Tiles skipped under the `skip` bad-tile policy.
    pub skipped: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochSummary {
    /// 1-based epoch number.
    pub epoch: usize,
    pub epochs: usize,
    #[serde(deserialize_with = "nan_from_null")]
    pub lr: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub duration_s: f64,
    #[serde(deserialize_with = "nan_from_null")]
    pub images_per_sec: f64,
    pub train: Metrics,
    pub valid: Metrics,
    /// True when this epoch is the best so far on the early-stopping metric.
    pub is_best: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}
