//! `histoboard cancel RUN_DIR`.

use std::path::Path;

use anyhow::Result;

/// Stops a run started outside this process: Slurm runs through `scancel`, detached ones
/// through their trainer's pid. Either way the trainer checkpoints and writes `cancelled`.
pub fn run(run_dir: &Path) -> Result<()> {
    println!("{}", super::control_here()?.cancel(run_dir)?);
    Ok(())
}
