//! `histoboard export RUN... --out DIR`: the charts and the comparison of runs as files.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use histoboard::runs::{RunState, now_unix, prune};

pub fn run(runs: &[PathBuf], out: &Path) -> Result<()> {
    let states: Vec<RunState> = runs.iter().map(|r| prune::current_state(r)).collect();
    for (path, st) in runs.iter().zip(&states) {
        if st.records == 0 {
            bail!("{} holds no run events (not a run folder?)", path.display());
        }
    }
    let refs: Vec<&RunState> = states.iter().collect();
    for f in histoboard::export::write_all(&refs, out, now_unix())? {
        println!("{}", f.display());
    }
    Ok(())
}
