//! No command: the dashboard on a folder.

use std::sync::Arc;

use anyhow::Result;

use histoboard::control::Control;
use histoboard::train;

use crate::DashArgs;

pub fn run(args: DashArgs) -> Result<()> {
    let launcher = train::EngineLauncher::new(args.dir.join("experiments"))?;
    histoboard::tui::run(histoboard::tui::TuiOptions {
        control: Arc::new(Control::new(Arc::new(launcher), &args.dir)),
        dir: args.dir,
        ascii: args.ascii,
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        max_concurrent: args.max_concurrent.max(1),
        cpu_threads: train::device::cpu_threads(),
    })
}
