//! The training engine: runs an experiment and emits run events.
