//! Models, built at run time from the experiment's `[model]` table.

pub mod effnet;
pub mod weights;
