//! `histoboard errors RUN --out DIR`: the tiles a run gets most wrong, as a contact sheet PNG
//! and a CSV (`gallery`); with `--data`, a labelled set scored by the run's checkpoint.

use std::time::Instant;

use anyhow::{Context, Result, bail};

use histoboard::gallery::{self, Gallery};
use histoboard::runs::predictions;
use histoboard::runs::{RunPaths, RunState, write_atomic};
use histoboard::train::checkpoint::Which;
use histoboard::train::infer::{self, InferOptions};

use crate::ErrorsArgs;

/// Tiles a row of the contact sheet.
const COLUMNS: usize = 8;

pub fn run(args: ErrorsArgs) -> Result<()> {
    let started = Instant::now();
    let run = super::read_runs(std::slice::from_ref(&args.run_dir))?.remove(0);
    let (title, gallery, data) = match &args.data {
        None => own_validation(&args, &run)?,
        Some(data) => scored(&args, &run, data)?,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ids = gallery.ids();
    let tiles = gallery::read_tiles(&data, &ids)?;
    let mut written = Vec::new();
    let csv = args.out.join("errors.csv");
    write_atomic(&csv, gallery::to_csv(&gallery).as_bytes())?;
    written.push(csv);
    let png = args.out.join("errors.png");
    write_atomic(
        &png,
        &gallery::sheet(&title, &gallery, &tiles, None, COLUMNS).png()?,
    )?;
    written.push(png);
    if args.saliency {
        let dir = RunPaths::new(&args.run_dir).saliency(args.checkpoint.name());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let maps = histoboard::train::saliency::maps(
            &args.run_dir,
            args.checkpoint,
            args.device.as_deref(),
            &data,
            &ids,
        )?;
        for (id, map) in &maps {
            gallery::write_saliency(&dir, id, map)?;
        }
        let grey = gallery::read_saliency(&dir, &ids);
        let title = format!("{title}, input-gradient saliency");
        let png = args.out.join("errors-saliency.png");
        let sheet = gallery::sheet(&title, &gallery, &tiles, Some(&grey), COLUMNS);
        write_atomic(&png, &sheet.png()?)?;
        written.push(png);
        written.push(dir);
    }
    for f in &written {
        println!("{}", f.display());
    }
    eprintln!(
        "{} tiles shown in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The run's own validation split, ranked from its best epoch's predictions: no model runs.
fn own_validation(
    args: &ErrorsArgs,
    run: &RunState,
) -> Result<(String, Gallery, histoboard::experiment::DataConfig)> {
    if args.tta || args.checkpoint != Which::Best {
        bail!(
            "--tta and --checkpoint score a set with the model: give --data PATH (without it, \
             the gallery is the run's best-epoch validation predictions)"
        );
    }
    let file = gallery::predictions_file(&args.run_dir, None, run.best_epoch)?;
    let gallery = gallery::rank(&predictions::read(&file)?, args.top);
    let exp = histoboard::experiment::load_run_config(&args.run_dir)?;
    let title = format!(
        "{}: validation, best epoch {}",
        run.id,
        run.best_epoch.map_or("?".into(), |e| e.to_string())
    );
    Ok((title, gallery, exp.data))
}

/// A labelled set scored with the run's checkpoint (eval's inference).
fn scored(
    args: &ErrorsArgs,
    run: &RunState,
    data: &str,
) -> Result<(String, Gallery, histoboard::experiment::DataConfig)> {
    let run_dirs = [args.run_dir.clone()];
    let opts = InferOptions {
        run_dirs: &run_dirs,
        which: args.checkpoint,
        tta: args.tta,
        device: args.device.as_deref(),
        bad_tiles: None,
        // The model's own probabilities, as the run's prediction files (and so the dashboard's
        // gallery) hold them; a temperature would reorder nothing.
        calibrated: false,
    };
    let cfg = infer::labelled_data(&opts, data)?;
    let preds = infer::score(&opts, &cfg)?;
    let title = format!(
        "{} on {data}, checkpoint {}{}",
        run.id,
        args.checkpoint.name(),
        if args.tta { ", TTA x8" } else { "" }
    );
    Ok((title, gallery::rank(&preds, args.top), cfg))
}
