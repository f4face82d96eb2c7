//! histoboard: a terminal dashboard and headless engine for histopathology
//! cancer-detection experiments (Kaggle "Histopathologic Cancer Detection" / PCam tiles).
//!
//! Architecture, one concept per module:
//! - [`experiment`]: TOML experiment files (schema, loading, sweeps, overrides, edits).
//! - [`data`]: tiles in (Kaggle zip/folder), augmented normalised batches out.
//! - [`model`]: burn models (the seed CNN family, EfficientNet-Lite0).
//! - [`train`]: the training loop; emits run events; knows nothing of the terminal.
//! - [`kernels`]: the project's own CPU kernels, plugged into burn (convolution gradients).
//! - [`metrics`]: pure classification metrics.
//! - [`runs`]: the run: its event stream on disk (write, tail), the one state folded from it.
//! - [`control`]: launch, cancel and resume of every kind of run (thread, detached, Slurm).
//! - [`export`]: charts of runs as SVG and PNG, the comparison as CSV.
//! - [`gallery`]: the error gallery: a run's worst tiles ranked, read and laid out.
//! - [`gpu`]: live GPU figures (name, utilisation, memory) for the dashboard.
//! - [`slurm`]: experiments as Slurm job arrays, and their scheduler states.
//! - [`tui`]: the dashboard; reads run events; knows nothing of burn.

pub mod control;
pub mod data;
pub mod experiment;
pub mod export;
pub mod gallery;
pub mod gpu;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod runs;
pub mod slurm;
pub mod train;
pub mod tui;
