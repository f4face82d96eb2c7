//! The integration tests, one module per area, linked into one binary: each test binary links
//! all of burn, and twenty of them cost CI minutes of linking and gigabytes of disk.

mod support;

mod calibration;
mod cli;
mod control;
mod data_loader;
mod data_sources;
mod effnet_model;
mod effnet_weights;
mod errors;
mod experiment_edit;
mod experiment_load;
mod export;
mod faults;
mod kernels_conv;
mod kernels_pool;
mod metrics_degenerate;
mod metrics_fixtures;
mod model_norm;
mod runs_state;
mod runs_stream;
mod runs_watch;
mod slurm;
mod train_engine;
mod tui_bench;
mod tui_e2e;
mod tui_errors;
mod tui_render;
mod tui_state;
