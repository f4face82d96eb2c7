//! One module per pane: its key handling (`on_action`, over the state [`App`] owns) and its
//! drawing (`draw`, from that state only). `App::update` and `ui::draw` dispatch here.
//!
//! [`App`]: super::app::App

use super::action::Action;
use crate::experiment::LauncherKind;

pub mod calibration;
pub mod compare;
pub mod config;
pub mod confirm;
pub mod confusion;
pub mod curves;
pub mod detail;
pub mod errors;
pub mod experiments;
pub mod form;
pub mod help;
pub mod log;
pub mod prompt;
pub mod roc;
pub mod runs;

/// `cur` moved by `delta`, clamped into a list of `len` items.
pub(crate) fn step_index(cur: usize, delta: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (cur as isize)
        .saturating_add(delta)
        .clamp(0, len as isize - 1) as usize
}

/// How a launch key launches: `L` detached, `S` on Slurm, `l` as the experiment says.
pub(crate) fn launcher_kind(action: &Action, own: LauncherKind) -> LauncherKind {
    match action {
        Action::LaunchDetached => LauncherKind::Detached,
        Action::LaunchSlurm => LauncherKind::Slurm,
        _ => own,
    }
}
