//! Calibration end to end: ECE and reliability bins in every epoch's metrics and in `eval`,
//! `histoboard calibrate` fitting a temperature on a run's best-epoch predictions, `eval` and
//! `predict` applying it (per run in an ensemble) without moving the AUC, the watcher reading
//! `calibration.toml`, and the dashboard's Calibration tab.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use histoboard::metrics::CALIBRATION_BINS;
use histoboard::runs::fixture::{write_fixture_experiments, write_fixture_runs};
use histoboard::runs::{Calibration, RunPaths, RunState, RunsWatcher, write_synthetic_run};
use histoboard::tui::action::{Action, DetailTab, Pane};
use histoboard::tui::{load_app, render_once};

fn histoboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histoboard"));
    c.env_remove("NO_COLOR");
    c
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout.into_owned()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A finished synthetic run with a `valid_predictions.csv` of `n` tiles from a model that is
/// over-confident by a factor 2 in its logits (true log-odds `z`, reported `sigmoid(2 z)`).
fn synthetic_run_with_predictions(dir: &Path, n: usize) -> PathBuf {
    let run = dir.join("runs").join("over-confident");
    write_synthetic_run(&run, "exp", 3, 2, 1000.0).unwrap();
    let mut rng = histoboard::data::Rng::from_state(11);
    let mut csv = String::from("id,label,prob\n");
    for i in 0..n {
        let z = (rng.f64() - 0.5) * 6.0;
        let y = u8::from(rng.f64() < 1.0 / (1.0 + (-z).exp()));
        let p = 1.0 / (1.0 + (-2.0 * z).exp());
        csv.push_str(&format!("tile{i},{y},{p:.6}\n"));
    }
    std::fs::write(RunPaths::new(&run).predictions(), csv).unwrap();
    run
}

#[test]
fn calibrate_fits_the_best_epochs_predictions_and_saves_calibration_toml() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run_with_predictions(dir.path(), 2000);
    let text = ok(&histoboard().arg("calibrate").arg(&run).output().unwrap());
    let best = RunState::read(&run).best_epoch.unwrap();
    let c = Calibration::read(&run)
        .unwrap()
        .expect("calibration.toml written");
    assert!((c.temperature - 2.0).abs() < 0.3, "{c:?}");
    assert_eq!(
        (c.epoch, c.n, c.fitted_on.as_str()),
        (best, 2000, "valid_predictions.csv")
    );
    assert!(
        c.nll_after < c.nll_before && c.ece_after < c.ece_before,
        "{c:?}"
    );
    assert!(
        text.contains(&format!("temperature {:.4}", c.temperature))
            && text.contains(&format!("epoch {best}, 2000 tiles")),
        "{text}"
    );
    let nll = text.lines().find(|l| l.starts_with("NLL")).unwrap();
    assert!(nll.contains(&format!("{:.4}", c.nll_before)), "{text}");
    let ece = text.lines().find(|l| l.starts_with("ECE")).unwrap();
    assert!(ece.contains(&format!("{:.4}", c.ece_after)), "{text}");
    // No temporary file left beside it (written atomically).
    let names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn calibrate_names_the_file_and_field_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run_with_predictions(dir.path(), 50);
    let preds = RunPaths::new(&run).predictions();
    let calibrate = || failed(&histoboard().arg("calibrate").arg(&run).output().unwrap());

    std::fs::write(&preds, "id,label,prob\na,1,0.9\nb,0,high\n").unwrap();
    let err = calibrate();
    assert!(
        err.contains("valid_predictions.csv:3: prob \"high\""),
        "{err}"
    );

    std::fs::write(&preds, "id,label,prob\na,1,0.9\nb,1,0.4\n").unwrap();
    let err = calibrate();
    assert!(
        err.contains("valid_predictions.csv") && err.contains("one class"),
        "{err}"
    );

    std::fs::remove_file(&preds).unwrap();
    let err = calibrate();
    assert!(err.contains("valid_predictions.csv"), "{err}");
    assert!(
        !RunPaths::new(&run).calibration().exists(),
        "nothing written"
    );

    let err = failed(
        &histoboard()
            .arg("calibrate")
            .arg(dir.path().join("nowhere"))
            .output()
            .unwrap(),
    );
    assert!(err.contains("events.jsonl"), "{err}");
}

/// Two folds of the tiny experiment, trained by the binary in `dir`: two runs.
fn train_two_folds(dir: &Path) -> Vec<PathBuf> {
    std::fs::write(
        dir.join("cv.toml"),
        crate::support::tiny_toml("[data.split]\nfolds = 2", "epochs = 2\nmax_batches = 4", ""),
    )
    .unwrap();
    ok(&histoboard()
        .current_dir(dir)
        .args(["train", "cv.toml", "--plain"])
        .output()
        .unwrap());
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    runs
}

fn eval_json(runs: &[PathBuf], data: &Path, extra: &[&str]) -> serde_json::Value {
    let out = histoboard()
        .args(["eval", "--json", "--device", "cpu", "--data"])
        .arg(data)
        .args(runs)
        .args(extra)
        .output()
        .unwrap();
    serde_json::from_str(&ok(&out)).unwrap()
}

fn predict(runs: &[PathBuf], data: &Path, out: &Path, extra: &[&str]) -> (Vec<f64>, String) {
    let o = histoboard()
        .args(["predict", "--device", "cpu", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(runs)
        .args(extra)
        .output()
        .unwrap();
    ok(&o);
    let probs = std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_once(',').unwrap().1.parse().unwrap())
        .collect();
    (probs, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn eval_and_predict_apply_each_runs_temperature_and_the_auc_stays() {
    let _serial = crate::support::serial();
    let dir = tempfile::tempdir().unwrap();
    let runs = train_two_folds(dir.path());
    assert_eq!(runs.len(), 2);
    // Every epoch's validation metrics carry ECE and the bins, in the stream.
    let st = RunState::read(&runs[0]);
    for e in &st.completed {
        assert!(e.valid.ece.is_finite(), "epoch {}", e.epoch);
        let tiles: u64 = e.valid.reliability.iter().map(|b| b.count).sum();
        assert_eq!(tiles, e.valid.n);
    }
    // A labelled set of 40 tiles, and the same tiles unlabelled for predict.
    let tiles = crate::support::real_tiles(40);
    let data =
        crate::support::kaggle_folder(dir.path(), &tiles, &crate::support::labels_csv(&tiles));
    std::fs::create_dir_all(data.join("test")).unwrap();
    for (id, _, bytes) in &tiles {
        std::fs::write(data.join("test").join(format!("{id}.tif")), bytes).unwrap();
    }

    let raw = eval_json(&runs[..1], &data, &[]);
    assert_eq!(raw["calibration"], true);
    assert_eq!(raw["temperatures"], serde_json::json!([null]));
    let bins = raw["reliability"].as_array().unwrap();
    assert!(!bins.is_empty() && bins.len() <= CALIBRATION_BINS);
    let counted: u64 = bins.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 40);
    for key in ["lo", "hi", "mean_prob", "observed"] {
        assert!(bins[0][key].is_f64(), "bin has {key}: {}", bins[0]);
    }
    assert!(raw["ece"].as_f64().unwrap() >= 0.0);

    for run in &runs {
        ok(&histoboard().arg("calibrate").arg(run).output().unwrap());
    }
    let temps: Vec<f64> = runs
        .iter()
        .map(|r| Calibration::read(r).unwrap().unwrap().temperature)
        .collect();

    let cal = eval_json(&runs[..1], &data, &[]);
    assert_eq!(cal["temperatures"], serde_json::json!([temps[0]]));
    assert_eq!(cal["auc"], raw["auc"], "a temperature keeps every ranking");
    for key in ["tp", "fp", "tn", "fn", "accuracy"] {
        assert_eq!(cal[key], raw[key], "{key}: 0.5 stays 0.5");
    }
    assert_ne!(cal["loss"], raw["loss"]);
    let off = eval_json(&runs[..1], &data, &["--no-calibration"]);
    assert_eq!(off["calibration"], false);
    assert_eq!(off["temperatures"], serde_json::json!([null]));
    assert_eq!((&off["loss"], &off["ece"]), (&raw["loss"], &raw["ece"]));

    // The text output says what it applied, and shows ECE and the bins.
    let text = ok(&histoboard()
        .args(["eval", "--device", "cpu", "--data"])
        .arg(&data)
        .arg(&runs[0])
        .output()
        .unwrap());
    assert!(
        text.contains(&format!("calibration: temperature {:.3}", temps[0])),
        "{text}"
    );
    assert!(
        text.contains("ECE ") && text.contains("predicted  observed"),
        "{text}"
    );

    // An ensemble calibrates each run with its own temperature, then averages.
    let both = eval_json(&runs, &data, &[]);
    assert_eq!(both["temperatures"], serde_json::json!(temps));
    let (a, note) = predict(&runs[..1], &data, &dir.path().join("a.csv"), &[]);
    assert!(note.contains("calibration: temperature"), "{note}");
    let (b, _) = predict(&runs[1..], &data, &dir.path().join("b.csv"), &[]);
    let (ab, note) = predict(&runs, &data, &dir.path().join("ab.csv"), &[]);
    assert!(note.contains("calibration: temperatures"), "{note}");
    for ((x, y), z) in a.iter().zip(&b).zip(&ab) {
        assert!((z - (x + y) / 2.0).abs() < 2e-6, "{x} {y} {z}");
    }
    let off = ["--no-calibration"];
    let (a_raw, note) = predict(&runs[..1], &data, &dir.path().join("raw.csv"), &off);
    assert!(note.contains("calibration: off"), "{note}");
    assert_ne!(a_raw, a);

    // A temperature of another epoch's model is not applied, and eval says so.
    let path = RunPaths::new(&runs[0]).calibration();
    let good = std::fs::read_to_string(&path).unwrap();
    let mut other = Calibration::read(&runs[0]).unwrap().unwrap();
    other.epoch = other.epoch % 2 + 1;
    other.write(&runs[0]).unwrap();
    let out = histoboard()
        .args(["eval", "--json", "--device", "cpu", "--data"])
        .arg(&data)
        .arg(&runs[0])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(json["temperatures"], serde_json::json!([null]));
    let err = String::from_utf8_lossy(&out.stderr);
    let said = format!("fitted on epoch {}", other.epoch);
    assert!(err.contains(&said) && err.contains("not applied"), "{err}");

    // A broken file stops eval, named with its field.
    std::fs::write(&path, good.replace("temperature = ", "temperature = -")).unwrap();
    let err = failed(
        &histoboard()
            .args(["eval", "--device", "cpu", "--data"])
            .arg(&data)
            .arg(&runs[0])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("calibration.toml") && err.contains("temperature = -"),
        "{err}"
    );
}

#[test]
fn the_watcher_reads_a_fitted_temperature_and_flags_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = synthetic_run_with_predictions(dir.path(), 300);
    let id = RunPaths::new(&run).id();
    let mut w = RunsWatcher::new(dir.path().join("runs"));
    w.poll();
    let st = w.get(&id).unwrap();
    assert_eq!(st.calibration, None);
    assert!(st.completed.iter().all(|e| !e.valid.reliability.is_empty()));

    let c = histoboard::runs::calibration::fit_run(&run).unwrap();
    c.write(&run).unwrap();
    w.poll();
    assert_eq!(w.get(&id).unwrap().calibration.as_ref(), Some(&c));

    std::fs::write(RunPaths::new(&run).calibration(), "temperature = 1.5\n").unwrap();
    w.poll();
    let st = w.get(&id).unwrap();
    assert_eq!(st.calibration, None);
    assert!(
        st.problems
            .iter()
            .any(|p| p.contains("calibration.toml") && p.contains("fitted_on")),
        "{:?}",
        st.problems
    );
}

#[test]
fn an_epoch_from_an_older_stream_reads_without_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("old");
    write_synthetic_run(&run, "exp", 2, 2, 1000.0).unwrap();
    let events = RunPaths::new(&run).events();
    // The stream as written before the fields existed.
    let old: Vec<String> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for split in ["train", "valid"] {
                if let Some(m) = v.get_mut(split).and_then(|m| m.as_object_mut()) {
                    m.remove("ece");
                    m.remove("reliability");
                }
            }
            v.to_string()
        })
        .collect();
    assert!(!old.iter().any(|l| l.contains("reliability")));
    std::fs::write(&events, old.join("\n") + "\n").unwrap();
    let st = RunState::read(&run);
    assert!(st.problems.is_empty(), "{:?}", st.problems);
    assert_eq!(st.completed.len(), 2);
    assert!(
        st.completed
            .iter()
            .all(|e| e.valid.ece.is_nan() && e.valid.reliability.is_empty())
    );
}

/// The fixture runs, the clock fixed, the folder name out of the snapshot.
fn app(width: u16, height: u16) -> (tempfile::TempDir, histoboard::tui::app::App) {
    let dir = tempfile::tempdir().unwrap();
    write_fixture_experiments(dir.path()).unwrap();
    write_fixture_runs(dir.path(), 2, 6).unwrap();
    let mut app = load_app(dir.path());
    app.dir = PathBuf::from("/srv/pcam");
    app.update(Action::Tick(histoboard::runs::fixture::T0 + 100_000.0));
    app.update(Action::Resize { width, height });
    app.update(Action::Focus(Pane::Runs));
    (dir, app)
}

#[test]
fn the_calibration_tab_shows_the_reliability_diagram_and_the_temperature() {
    let (_d, mut app) = app(100, 30);
    app.update(Action::Tab(DetailTab::Calibration));
    let run = app.selected_run().unwrap().clone();
    let best = run.best_epoch.unwrap();
    let screen = render_once(&app, 100, 30);
    assert!(screen.contains("7 Calibration"), "{screen}");
    assert!(screen.contains("reliability, epoch"), "{screen}");
    assert!(screen.contains("no temperature fitted"), "{screen}");
    assert!(
        screen.contains(&format!("histoboard calibrate runs/{}", run.id)),
        "{screen}"
    );
    insta::assert_snapshot!("calibration_tab_100x30", screen);

    // With a temperature, at the best epoch (`b`): its figures, from calibration.toml.
    let mut view = run.clone();
    view.calibration = Some(Calibration {
        temperature: 1.42,
        fitted_on: "valid_predictions.csv".into(),
        epoch: best,
        n: 770,
        nll_before: 0.41,
        nll_after: 0.37,
        ece_before: 0.081,
        ece_after: 0.019,
    });
    app.update(Action::RunsUpdated(vec![Arc::new(view)]));
    app.update(Action::EpochBest);
    assert_eq!(app.tab, DetailTab::Calibration, "epoch keys keep the tab");
    let screen = render_once(&app, 100, 30);
    assert!(
        screen.contains(&format!("temperature 1.420, fitted on epoch {best}")),
        "{screen}"
    );
    assert!(
        screen.contains("ECE 0.081 → 0.019, NLL 0.410 → 0.370"),
        "{screen}"
    );
    insta::assert_snapshot!("calibration_tab_fitted_100x30", screen);
}

#[test]
fn the_calibration_tab_follows_the_chosen_epoch() {
    let (_d, mut app) = app(100, 30);
    let keys = histoboard::tui::keymap::bindings();
    let key = keys
        .iter()
        .find(|b| b.action == Action::Tab(DetailTab::Calibration))
        .expect("a key opens the tab");
    assert_eq!(key.key.label(true), "7");
    app.update(Action::Tab(DetailTab::Calibration));
    let run = app.selected_run().unwrap().clone();
    let ece_at = |app: &histoboard::tui::app::App| {
        let i = app.cm_index(&run).unwrap();
        run.completed[i].valid.ece
    };
    let latest = ece_at(&app);
    app.update(Action::EpochPrev);
    app.update(Action::EpochPrev);
    assert_eq!(app.tab, DetailTab::Calibration);
    let earlier = ece_at(&app);
    assert_ne!(latest, earlier, "each epoch has its own ECE");
    let screen = render_once(&app, 100, 30);
    assert!(screen.contains(&format!("ECE {earlier:.4}")), "{screen}");
    // Narrow: the chart, then the figures below it.
    app.update(Action::Resize {
        width: 60,
        height: 30,
    });
    let screen = render_once(&app, 60, 30);
    assert!(screen.contains("no temperature fitted"), "{screen}");
    assert!(screen.contains("reliability"), "{screen}");
}
