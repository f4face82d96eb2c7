//! `histoboard calibrate RUN`: fits a temperature on the run's best-epoch validation
//! predictions and saves it as `calibration.toml`.

use std::path::Path;

use anyhow::Result;

use histoboard::runs::{Calibration, RunPaths, calibration};

pub fn run(run_dir: &Path) -> Result<()> {
    let previous = Calibration::read(run_dir).ok().flatten();
    let c = calibration::fit_run(run_dir)?;
    c.write(run_dir)?;
    println!(
        "temperature {:.4}, fitted on {} (epoch {}, {} tiles)",
        c.temperature, c.fitted_on, c.epoch, c.n
    );
    println!("           before   after");
    println!("NLL        {:.4}   {:.4}", c.nll_before, c.nll_after);
    println!("ECE        {:.4}   {:.4}", c.ece_before, c.ece_after);
    println!("AUC and the 0.5 threshold's figures unchanged (a temperature keeps every ranking)");
    if let Some(p) = previous {
        println!(
            "replaced temperature {:.4} (fitted on epoch {})",
            p.temperature, p.epoch
        );
    }
    println!(
        "wrote {}; eval and predict apply it (--no-calibration: they do not)",
        RunPaths::new(run_dir).calibration().display()
    );
    Ok(())
}
