//! `histoboard eval` and `histoboard predict`: a trained run's checkpoint on a data set.

use anyhow::{Context, Result};

use histoboard::metrics;
use histoboard::train;
use histoboard::train::infer::{self, InferOptions};

use crate::{EvalArgs, PredictArgs};

/// Scores a run's checkpoint on a labelled set: a table, or one JSON object.
pub fn eval(args: EvalArgs) -> Result<()> {
    let opts = InferOptions {
        run_dirs: &args.run_dirs,
        which: args.checkpoint,
        tta: args.tta,
        device: args.device.as_deref(),
        bad_tiles: args.bad_tiles,
        calibrated: !args.no_calibration,
    };
    let temps = temperatures(&opts)?;
    let mut trained_on = Vec::new();
    for dir in &args.run_dirs {
        trained_on.push(train::load_run_config(dir)?.data.source);
    }
    if trained_on
        .iter()
        .flat_map(|t| &t.0)
        .any(|t| same_source(t, &args.data))
    {
        eprintln!(
            "note: `{}` is the set this run trained on; its training tiles inflate these figures \
             (the run's own validation figures are in its metrics.csv)",
            args.data
        );
    }
    let m = infer::evaluate(&opts, &args.data)?;
    let c = m.confusion;
    if args.json {
        let json = serde_json::json!({
            "auc": m.auc, "accuracy": m.accuracy, "precision": m.precision, "recall": m.recall,
            "specificity": m.specificity, "f1": m.f1, "average_precision": m.average_precision,
            "loss": m.loss, "n": m.n, "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn_,
            "youden_threshold": m.youden_threshold,
            "checkpoint": args.checkpoint.name(), "tta": args.tta, "runs": args.run_dirs.len(),
            "ece": m.ece, "reliability": m.reliability,
            "calibration": !args.no_calibration, "temperatures": temps,
        });
        println!("{json}");
    } else {
        println!(
            "{} tiles, checkpoint {}{}{}",
            m.n,
            args.checkpoint.name(),
            if args.tta { ", TTA x8" } else { "" },
            match args.run_dirs.len() {
                1 => String::new(),
                n => format!(", ensemble of {n} runs"),
            }
        );
        println!("{}", describe(&temps, opts.calibrated));
        println!("AUC         {:.4}", m.auc);
        println!("accuracy    {:.4}", m.accuracy);
        println!("precision   {:.4}", m.precision);
        println!("recall      {:.4}", m.recall);
        println!("specificity {:.4}", m.specificity);
        println!("F1          {:.4}", m.f1);
        println!("avg prec.   {:.4}", m.average_precision);
        println!("loss        {:.4}", m.loss);
        println!(
            "confusion at 0.5:  TP {}  FP {}  TN {}  FN {}",
            c.tp, c.fp, c.tn, c.fn_
        );
        println!(
            "ECE         {:.4}  ({} bins; per bin: predicted vs observed tumour rate)",
            m.ece,
            metrics::CALIBRATION_BINS
        );
        println!("  bin          tiles  predicted  observed");
        for b in &m.reliability {
            println!(
                "  {:.3}-{:.3}  {:>6}  {:>9.3}  {:>8.3}",
                b.lo, b.hi, b.count, b.mean_prob, b.observed
            );
        }
    }
    Ok(())
}

/// Writes a Kaggle submission (id,label) for an unlabelled set.
pub fn predict(args: PredictArgs) -> Result<()> {
    let opts = InferOptions {
        run_dirs: &args.run_dirs,
        which: args.checkpoint,
        tta: args.tta,
        device: args.device.as_deref(),
        // A submission has a row for every tile: none can be skipped.
        bad_tiles: None,
        calibrated: !args.no_calibration,
    };
    let temps = temperatures(&opts)?;
    eprintln!("{}", describe(&temps, opts.calibrated));
    let n = infer::predict(&opts, &args.data, &args.out)
        .with_context(|| format!("predicting into {}", args.out.display()))?;
    eprintln!("wrote {n} predictions to {}", args.out.display());
    Ok(())
}

/// Each run's temperature (see `infer::temperatures`), its notes said on stderr.
fn temperatures(opts: &InferOptions) -> Result<Vec<Option<f64>>> {
    let (temps, notes) = infer::temperatures(opts)?;
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(temps)
}

/// One line on the calibration applied: `calibration: temperature 1.372 (calibration.toml)`.
fn describe(temps: &[Option<f64>], enabled: bool) -> String {
    if !enabled {
        return "calibration: off (--no-calibration)".into();
    }
    let shown = |t: &Option<f64>| t.map_or("none".to_string(), |t| format!("{t:.3}"));
    match temps {
        _ if temps.iter().all(Option::is_none) => {
            "calibration: none (`histoboard calibrate RUN` fits a temperature)".into()
        }
        [t] => format!("calibration: temperature {} (calibration.toml)", shown(t)),
        _ => format!(
            "calibration: temperatures {} (each run's own, before the average)",
            temps.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Whether two data sources name the same archive or folder, however each is spelled
/// (`bundled`, a relative or an absolute path).
fn same_source(a: &str, b: &str) -> bool {
    let resolve = |s: &str| {
        histoboard::data::resolve_source(s, "--data")
            .ok()
            .and_then(|p| std::fs::canonicalize(p).ok())
    };
    a == b || matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}
