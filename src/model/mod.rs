//! Models, built at run time from the experiment's `[model]` table.
