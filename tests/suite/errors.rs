//! The error gallery headless: `histoboard errors` on a tiny trained run, its contact sheet,
//! CSV and saliency maps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use histoboard::gallery;
use histoboard::runs::RunPaths;
use histoboard::runs::predictions;
use histoboard::train::checkpoint::Which;

fn histoboard(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histoboard"));
    c.current_dir(dir).env_remove("NO_COLOR");
    c
}

/// Trains the tests' tiny experiment for two epochs of two batches; its run folder.
fn tiny_run(dir: &Path) -> PathBuf {
    std::fs::write(
        dir.join("tiny.toml"),
        crate::support::tiny_toml("", "epochs = 2\nmax_batches = 2", ""),
    )
    .unwrap();
    let out = histoboard(dir)
        .args(["train", "tiny.toml", "--plain"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("kind,rank,id,label,prob"));
    lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn errors_writes_a_contact_sheet_and_csv_of_a_trained_run() {
    let _one = crate::support::serial();
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let paths = RunPaths::new(&run);
    // Every epoch's predictions are kept, the best epoch's copy too.
    for e in [1, 2] {
        let rows = predictions::read(&paths.epoch_predictions(e)).unwrap();
        assert!(!rows.is_empty(), "epoch {e}");
    }
    let best = predictions::read(&paths.predictions()).unwrap();

    let out = histoboard(dir.path())
        .arg("errors")
        .arg(&run)
        .args(["--top", "3", "--out", "gallery"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows = csv_rows(&dir.path().join("gallery/errors.csv"));
    let by_id: HashMap<&str, &predictions::Prediction> =
        best.iter().map(|p| (p.id.as_str(), p)).collect();
    let uncertain = rows.iter().filter(|r| r[0] == "uncertain").count();
    assert_eq!(uncertain, 3, "{rows:?}");
    for r in &rows {
        let p = by_id[r[2].as_str()];
        assert_eq!(r[3], p.label.to_string());
        let prob: f32 = r[4].parse().unwrap();
        assert!((prob - p.prob).abs() < 1e-5);
        match r[0].as_str() {
            "false_positive" => assert!(p.label == 0 && p.prob >= 0.5),
            "false_negative" => assert!(p.label == 1 && p.prob < 0.5),
            "uncertain" => {}
            k => panic!("kind {k}"),
        }
    }
    // The same ranking the library gives.
    let expected = gallery::to_csv(&gallery::rank(&best, 3));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("gallery/errors.csv")).unwrap(),
        expected
    );
    let png = image::open(dir.path().join("gallery/errors.png")).unwrap();
    assert!(png.width() >= 3 * 96 && png.height() >= 3 * 96, "{png:?}");

    // Refusals name what is wrong and what to do.
    let tta = histoboard(dir.path())
        .arg("errors")
        .arg(&run)
        .args(["--tta", "--out", "x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&tta.stderr).contains("give --data"));
    let runs = dir.path().join("runs");
    histoboard::runs::write_synthetic_run(&runs.join("synthetic"), "exp", 2, 2, 1000.0).unwrap();
    let none = histoboard(dir.path())
        .args(["errors", "runs/synthetic", "--out", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success());
    assert!(
        err.contains("valid_predictions.csv is missing") && err.contains("--data"),
        "{err}"
    );
}

#[test]
fn errors_scores_a_labelled_set_and_explains_it_with_saliency() {
    let _one = crate::support::serial();
    let dir = tempfile::tempdir().unwrap();
    let run = tiny_run(dir.path());
    let out = histoboard(dir.path())
        .arg("errors")
        .arg(&run)
        .args(["--data", "bundled", "--checkpoint", "last", "--top", "2"])
        .args(["--saliency", "--device", "cpu", "--out", "scored"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = csv_rows(&dir.path().join("scored/errors.csv"));
    assert!(rows.len() >= 2 && rows.len() <= 6, "{rows:?}");
    assert!(dir.path().join("scored/errors-saliency.png").is_file());
    let ids: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    let maps = gallery::read_saliency(&RunPaths::new(&run).saliency("last"), &ids);
    assert_eq!(maps.len(), {
        let mut u = ids.clone();
        u.sort();
        u.dedup();
        u.len()
    });

    // The maps themselves: the tile's shape, finite, not flat, and not all the same.
    let exp = histoboard::experiment::load_run_config(&run).unwrap();
    let some: Vec<&str> = ids.iter().copied().take(2).collect();
    let maps = histoboard::train::saliency::maps(&run, Which::Last, Some("cpu"), &exp.data, &some)
        .unwrap();
    assert_eq!(maps.len(), some.len());
    for m in maps.values() {
        assert_eq!(m.len(), 96 * 96);
        assert!(m.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
        assert!(m.iter().any(|&v| v > 0.5), "scaled to its maximum");
        // The model saw only the centre 32x32 crop: nothing outside it.
        assert_eq!(m[0], 0.0);
    }
    if some.len() == 2 && some[0] != some[1] {
        assert_ne!(maps[some[0]], maps[some[1]], "two tiles, two maps");
    }
}
