//! The headless command line as a user meets it: real binary, real tiles.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn histoboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histoboard"));
    c.env_remove("NO_COLOR");
    c
}

/// 40 epochs of 3 batches: long enough to still be running when a test stops it.
fn tiny() -> String {
    crate::support::tiny_toml("", "epochs = 40\nmax_batches = 3", "")
}

#[test]
fn data_inspect_shows_the_bundled_sample() {
    let out = histoboard().args(["data", "inspect"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3850") || text.contains("3,850"), "{text}");
    assert!(text.contains("2282") || text.contains("2,282"), "{text}");
    assert!(text.contains("1568") || text.contains("1,568"), "{text}");
}

#[test]
fn a_malformed_experiment_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "name = \"x\"\n[train]\nlr = = 3\n").unwrap();
    let out = histoboard()
        .args(["train", file.to_str().unwrap(), "--runs-dir"])
        .arg(dir.path().join("runs"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:3:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn an_unknown_key_gets_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("typo.toml");
    std::fs::write(&file, "[train]\nlrr = 0.1\n").unwrap();
    let out = histoboard()
        .args(["train", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("train.lr"), "{err}");
}

/// Waits until the run's event file mentions an ended epoch.
fn wait_for_epoch(runs: &Path, timeout: Duration) -> std::path::PathBuf {
    let start = Instant::now();
    loop {
        if let Some(run) = std::fs::read_dir(runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path())
        {
            let events = std::fs::read_to_string(run.join("events.jsonl")).unwrap_or_default();
            if events.contains("\"type\":\"epoch\"") {
                return run;
            }
        }
        assert!(
            start.elapsed() < timeout,
            "no epoch ended within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ctrl_c_checkpoints_then_stops_and_the_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    std::fs::write(&file, tiny()).unwrap();
    let runs = dir.path().join("runs");
    let child = histoboard()
        .args(["train", file.to_str().unwrap(), "--plain", "--runs-dir"])
        .arg(&runs)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = wait_for_epoch(&runs, Duration::from_secs(120));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("--resume"), "tells how to resume: {err}");
    let events = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
    assert!(
        events
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("\"cancelled\"")
    );

    // The last checkpoint is loadable: evaluate it.
    let eval = histoboard()
        .args([
            "eval",
            run.to_str().unwrap(),
            "--checkpoint",
            "last",
            "--json",
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    for key in [
        "auc",
        "accuracy",
        "precision",
        "recall",
        "specificity",
        "f1",
        "n",
        "tp",
        "fp",
        "tn",
        "fn",
    ] {
        assert!(json.get(key).is_some(), "eval --json has {key}: {json}");
    }
    assert_eq!(json["n"], 3850);
}

#[test]
fn runs_are_listed_archived_deleted_and_exported_headless() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    histoboard::runs::write_synthetic_run(&runs.join("old"), "exp", 3, 2, 1000.0).unwrap();
    histoboard::runs::write_synthetic_run(&runs.join("new"), "exp", 2, 2, 2000.0).unwrap();
    histoboard::runs::RunMeta {
        note: "keep for the paper".into(),
        tags: vec!["paper".into()],
    }
    .write(&runs.join("old"))
    .unwrap();
    let run = |args: &[&str]| {
        histoboard()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["runs", "ls"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let old_at = text.find("old").unwrap();
    assert!(text.find("new").unwrap() < old_at, "newest first: {text}");
    assert!(text.contains("paper keep for the paper"), "{text}");
    assert!(text.lines().next().unwrap().contains(" ECE "), "{text}");
    let only = run(&["runs", "ls", "--tag", "paper"]);
    let only = String::from_utf8_lossy(&only.stdout);
    assert!(only.contains("old") && !only.contains("new "), "{only}");

    let out = run(&["export", "runs/old", "runs/new", "--out", "charts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["curves.png", "curves.svg", "roc.png", "compare.csv"] {
        assert!(dir.path().join("charts").join(f).is_file(), "{f}");
    }

    let out = run(&["runs", "archive", "runs/old"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(runs.join(".archive/old/events.jsonl").is_file());
    let text = String::from_utf8_lossy(&run(&["runs", "ls"]).stdout).into_owned();
    assert!(
        !text.contains("old"),
        "archived runs leave the list: {text}"
    );

    let refused = run(&["runs", "rm", "runs/new"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--yes") && err.contains("1 run,"), "{err}");
    assert!(runs.join("new").is_dir(), "nothing deleted without --yes");
    assert!(run(&["runs", "rm", "--yes", "runs/new"]).status.success());
    assert!(!runs.join("new").exists());
}

#[test]
fn train_keeps_its_summaries_on_stdout_and_ends_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    std::fs::write(
        &file,
        crate::support::tiny_toml("", "epochs = 2\nmax_batches = 2", ""),
    )
    .unwrap();
    let out = histoboard()
        .current_dir(dir.path())
        .args(["train", "tiny.toml", "--plain"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    // `train ... > log` keeps every epoch's summary and the one closing line.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("epoch   1/2") && lines[1].starts_with("epoch   2/2"));
    assert!(lines[2].starts_with("completed in ") && lines[2].contains("run folder"));
    assert!(
        !stderr.contains("epoch   1/2") && !stderr.contains("finished"),
        "{stderr}"
    );

    // eval on the run's own training data warns, however the data is spelled.
    let run = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let zip = histoboard::data::bundled_path().unwrap();
    let eval = histoboard()
        .args(["eval", "--device", "cpu", "--checkpoint", "last", "--data"])
        .arg(std::fs::canonicalize(zip).unwrap())
        .arg(&run)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&eval.stderr);
    assert!(eval.status.success(), "{err}");
    assert!(err.contains("is the set this run trained on"), "{err}");
}

#[test]
fn folds_make_one_run_each_and_cv_reports_the_out_of_fold_auc() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cv.toml"),
        crate::support::tiny_toml("[data.split]\nfolds = 3", "epochs = 1\nmax_batches = 1", ""),
    )
    .unwrap();
    let exps = histoboard::experiment::load(&dir.path().join("cv.toml"), &[]).unwrap();
    let names: Vec<&str> = exps.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["tiny.fold-0", "tiny.fold-1", "tiny.fold-2"]);
    assert_eq!(exps[2].data.split.fold, 2);

    let out = histoboard()
        .current_dir(dir.path())
        .args(["train", "cv.toml", "--plain"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 3);
    let oof = dir.path().join("oof.csv");
    let cv = histoboard()
        .arg("cv")
        .args(&runs)
        .arg("--out")
        .arg(&oof)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&cv.stdout);
    assert!(
        cv.status.success(),
        "{}",
        String::from_utf8_lossy(&cv.stderr)
    );
    // The three validation folds cover the 160 tiles once each.
    assert!(text.contains("3 folds: valid AUC"), "{text}");
    assert!(
        text.contains("out-of-fold AUC") && text.contains("over 160 tiles"),
        "{text}"
    );
    assert!(
        cv.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&cv.stderr)
    );
    // The out-of-fold predictions: every tile once, its fold's saved prediction.
    let pooled = histoboard::runs::predictions::read(&oof).unwrap();
    assert_eq!(pooled.len(), 160);
    let ids: std::collections::HashSet<_> = pooled.iter().map(|p| &p.id).collect();
    assert_eq!(ids.len(), 160);
    let fold1 =
        histoboard::runs::predictions::read(&runs[1].join("valid_predictions.csv")).unwrap();
    assert!(fold1.iter().all(|f| pooled.contains(f)));

    // Scored again from its best checkpoint, a fold's validation split gives the predictions
    // training saved: the same tiles, the same model.
    let one = [runs[1].clone()];
    let mut opts = histoboard::train::infer::InferOptions {
        run_dirs: &one,
        which: histoboard::train::checkpoint::Which::Best,
        tta: false,
        device: Some("cpu"),
        bad_tiles: None,
        calibrated: false,
    };
    let again = histoboard::train::infer::validation(&opts, &runs[1]).unwrap();
    let saved =
        histoboard::runs::predictions::read(&runs[1].join("valid_predictions.csv")).unwrap();
    assert_eq!(again.len(), saved.len());
    for (a, s) in again.iter().zip(&saved) {
        assert_eq!((&a.id, a.label), (&s.id, s.label));
        assert!(
            (a.prob - s.prob).abs() < 1e-5,
            "{} {} vs {}",
            a.id,
            a.prob,
            s.prob
        );
    }
    opts.tta = true;
    let tta = histoboard::train::infer::validation(&opts, &runs[1]).unwrap();
    assert!(
        tta.iter()
            .zip(&again)
            .any(|(t, a)| (t.prob - a.prob).abs() > 1e-6)
    );
    let cv_tta = histoboard()
        .args(["cv", "--tta", "--device", "cpu"])
        .args(&runs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&cv_tta.stdout);
    assert!(
        cv_tta.status.success(),
        "{}",
        String::from_utf8_lossy(&cv_tta.stderr)
    );
    assert!(
        text.contains("3 folds, TTA x8: valid AUC") && text.contains("over 160 tiles"),
        "{text}"
    );

    // Runs that are not folds of one split are told apart.
    let twice = histoboard()
        .arg("cv")
        .args([&runs[0], &runs[0]])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&twice.stderr).contains("not the folds of one split"));
}
