//! Experiment files: schema, loading (extends, sweeps, overrides), validation and edits.
//!
//! An experiment is a TOML file in `experiments/` whose fields all have
//! defaults ([`schema`]). On top of the schema the loader understands:
//!
//! - `extends = "other.toml"`: start from another file (relative to this
//!   one; chains allowed, cycles reported). Tables are deep-merged, the child
//!   wins; the parent's `name` and `description` are not inherited.
//! - Sweeps: a list where the schema has a single value (`lr = [1e-3, 5e-4]`),
//!   a list of lists for the list field `model.filters`, or a `[sweep]` table
//!   of dotted keys to lists (`"train.lr" = [1e-3, 5e-4]`). The runs are the
//!   grid (cartesian product) of all lists.
//! - `--set key=value` overrides (`train.lr=5e-4`, `model.filters=[16,32]`,
//!   `train.device=cpu`): the value is read as TOML, else as a bare string.
//!   A set key, like a key set in a child file, replaces a sweep of that key.
//!
//! Run names of a sweep: `<name>.<label>-<value>[.<label>-<value>...]`, axes
//! in schema order (train, model, data), the label being the field's last
//! segment (`lr`, `filters`), or the whole dotted key with `-` for `.` when
//! two axes share it (`train-seed`, `data-split-seed`). Values are written
//! compactly (`5e-4`, `0.05`, lists as `16-32-64`) and any character outside
//! `[A-Za-z0-9._+-]` becomes `_`, so names are safe folder names:
//! `seed-lr-sweep.lr-5e-4`, `seed-filters-sweep.filters-16-32-64-128-256`.

mod edit;
mod error;
mod load;
mod paths;
pub mod schema;
mod spec;
mod sweep;
mod table;
mod validate;

pub use edit::{
    Field, FieldKind, diff, field_warning, fields, save_variant, set_field, step_field, to_toml,
};
pub use error::ExperimentError;
pub use load::{discover, load, load_run_config, load_run_config_str, load_str};
pub use schema::*;
pub use validate::validate;
