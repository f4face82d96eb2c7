//! `histoboard export RUN... --out DIR`: the charts and the comparison of runs as files.

use std::path::{Path, PathBuf};

use anyhow::Result;

use histoboard::runs::{RunState, now_unix};

pub fn run(runs: &[PathBuf], out: &Path) -> Result<()> {
    let states = super::read_runs(runs)?;
    let refs: Vec<&RunState> = states.iter().collect();
    for f in histoboard::export::write_all(&refs, out, now_unix())? {
        println!("{}", f.display());
    }
    Ok(())
}
