//! Experiment files: schema, loading (extends, sweeps, overrides), validation and edits.

pub mod schema;

pub use schema::*;
