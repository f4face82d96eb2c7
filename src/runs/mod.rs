//! Runs on disk: the event stream (`events.jsonl`), its writer and tailer, and run state.

pub mod event;

pub use event::*;
