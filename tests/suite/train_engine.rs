//! The training engine end to end on real tiles from the bundled sample: loss falls, events and
//! artefacts are written, resume repeats an uninterrupted run, cancel leaves a checkpoint,
//! eval and predict work on a trained run.

use std::path::Path;
use std::sync::mpsc;

use histoboard::experiment::{self, Experiment};
use histoboard::runs::{Event, RunPaths, Tail};
use histoboard::train::checkpoint::{self, Which};
use histoboard::train::infer::{self, InferOptions};
use histoboard::train::{self, TrainOptions};

use crate::support::serial;

/// A small, fast experiment on 160 real tiles.
fn tiny(epochs: usize) -> Experiment {
    let text = crate::support::tiny_toml(
        "[data.split]\nvalid = 0.25",
        &format!("epochs = {epochs}\nmax_batches = 4"),
        "",
    );
    let mut exps =
        experiment::load_str(&text, "tiny", Path::new("."), &[]).expect("valid experiment");
    exps.pop().unwrap()
}

fn events(dir: &Path) -> Vec<Event> {
    let mut tail = Tail::new(RunPaths::new(dir).events());
    tail.poll()
        .into_iter()
        .map(|r| r.expect("every line parses").event)
        .collect()
}

fn epochs_of(events: &[Event]) -> Vec<histoboard::runs::EpochSummary> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_streams_events_and_writes_its_artefacts() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let mut opts = TrainOptions::new(runs.path());
    opts.subscriber = Some(tx);
    let out = train::run(&tiny(2), opts).expect("training succeeds");
    assert!(!out.cancelled);
    assert_eq!(out.epochs_done, 2);

    let on_disk = events(&out.run_dir);
    let in_process: Vec<Event> = rx.try_iter().collect();
    assert_eq!(
        on_disk, in_process,
        "subscribers see exactly what is written"
    );
    assert!(matches!(
        on_disk.first(),
        Some(Event::Log { .. }) | Some(Event::Started { .. })
    ));
    assert!(matches!(on_disk.last(), Some(Event::Finished { .. })));
    let epochs = epochs_of(&on_disk);
    assert_eq!(epochs.len(), 2);
    for e in &epochs {
        assert_eq!(e.valid.n, 40);
        assert_eq!(e.train.n, 64, "4 batches of 16");
        assert!(e.valid.auc.is_finite() && (0.0..=1.0).contains(&e.valid.auc));
        assert!(e.train.loss.is_finite());
        let c = e.valid.confusion;
        assert_eq!(c.tp + c.fp + c.tn + c.fn_, 40);
        assert!(e.valid.roc.len() >= 2);
    }

    let paths = RunPaths::new(&out.run_dir);
    for f in [
        paths.config(),
        paths.split(),
        paths.metrics_csv(),
        paths.predictions(),
    ] {
        assert!(f.exists(), "{} is written", f.display());
    }
    let metrics_csv = std::fs::read_to_string(paths.metrics_csv()).unwrap();
    assert_eq!(metrics_csv.lines().count(), 3, "header + one row per epoch");
    let split_csv = std::fs::read_to_string(paths.split()).unwrap();
    assert_eq!(
        split_csv.lines().count(),
        161,
        "header + every tile of the subset"
    );
    // The resolved config loads back to the same experiment.
    let back = train::load_run_config(&out.run_dir).unwrap();
    assert_eq!(back.model, tiny(2).model);
    assert_eq!(back.train, tiny(2).train);
    let last = checkpoint::read_pointer(&paths.checkpoints(), Which::Last).unwrap();
    assert_eq!(last.state.epoch, 2);
    assert!(paths.checkpoints().join(&last.model).exists());
}

#[test]
fn training_lowers_the_loss_on_real_tiles() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let mut exp = tiny(6);
    exp.train.max_batches = 6;
    exp.train.lr = 3e-3;
    let out = train::run(&exp, TrainOptions::new(runs.path())).unwrap();
    let epochs = epochs_of(&events(&out.run_dir));
    let first = epochs.first().unwrap().train.loss;
    let best = epochs
        .iter()
        .map(|e| e.train.loss)
        .fold(f64::INFINITY, f64::min);
    assert!(
        best < first * 0.95,
        "training loss should fall: first {first:.4}, best {best:.4}"
    );
}

#[test]
fn resume_repeats_an_uninterrupted_run() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let full = train::run(&tiny(3), TrainOptions::new(runs.path())).unwrap();

    // The same run stopped after 2 epochs, then resumed for the third.
    let runs2 = tempfile::tempdir().unwrap();
    let part = train::run(&tiny(2), TrainOptions::new(runs2.path())).unwrap();
    // Lengthen the saved config to 3 epochs, as a user resuming with more epochs would.
    let cfg_path = RunPaths::new(&part.run_dir).config();
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    std::fs::write(&cfg_path, cfg.replace("epochs = 2", "epochs = 3")).unwrap();
    let mut opts = TrainOptions::new(runs2.path());
    opts.resume = Some(part.run_dir.clone());
    let resumed = train::run(&Experiment::default(), opts).unwrap();
    assert_eq!(resumed.epochs_done, 3);

    let a = epochs_of(&events(&full.run_dir));
    let b = epochs_of(&events(&part.run_dir));
    assert_eq!(b.len(), 3, "2 epochs, then 1 after resuming, in one stream");
    let third_a = &a[2];
    let third_b = &b[2];
    assert_eq!(third_a.train.loss, third_b.train.loss);
    assert_eq!(third_a.valid.auc, third_b.valid.auc);
    assert_eq!(third_a.valid.confusion, third_b.valid.confusion);
}

#[test]
fn cancel_stops_with_a_loadable_checkpoint() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let mut opts = TrainOptions::new(runs.path());
    let (tx, rx) = mpsc::channel();
    opts.subscriber = Some(tx);
    let cancel = opts.cancel.clone();
    let handle = std::thread::spawn(move || train::run(&tiny(50), opts));
    // Cancel as soon as the first epoch has ended.
    for e in rx {
        if matches!(e, Event::Epoch(_)) {
            cancel.cancel();
            break;
        }
    }
    let out = handle.join().unwrap().unwrap();
    assert!(out.cancelled);
    assert!(out.epochs_done >= 1 && out.epochs_done < 50);
    let evs = events(&out.run_dir);
    assert!(matches!(evs.last(), Some(Event::Cancelled { .. })));
    // The last checkpoint scores a data set.
    let m = infer::evaluate(
        &InferOptions {
            run_dirs: std::slice::from_ref(&out.run_dir),
            which: Which::Last,
            tta: false,
            device: Some("cpu"),
            bad_tiles: None,
            calibrated: true,
        },
        &fixture_kaggle_folder().path().display().to_string(),
    )
    .unwrap();
    assert_eq!(m.n, 24);
}

/// A Kaggle-layout folder (`train/`, `test/`, labels, sample submission) from 24 real tiles.
fn fixture_kaggle_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = histoboard::data::bundled_path().unwrap();
    let mut zip = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    let labels = {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("train_labels.csv").unwrap(), &mut s)
            .unwrap();
        s
    };
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    std::fs::create_dir_all(dir.path().join("test")).unwrap();
    let mut train_labels = String::from("id,label\n");
    let mut submission = String::from("id,label\n");
    for (i, line) in labels.lines().skip(1).take(36).enumerate() {
        let id = line.split(',').next().unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut zip.by_name(&format!("train/{id}.tif")).unwrap(),
            &mut bytes,
        )
        .unwrap();
        if i < 24 {
            std::fs::write(dir.path().join(format!("train/{id}.tif")), &bytes).unwrap();
            train_labels.push_str(line);
            train_labels.push('\n');
        } else {
            std::fs::write(dir.path().join(format!("test/{id}.tif")), &bytes).unwrap();
            submission.push_str(&format!("{id},0\n"));
        }
    }
    std::fs::write(dir.path().join("train_labels.csv"), train_labels).unwrap();
    std::fs::write(dir.path().join("sample_submission.csv"), submission).unwrap();
    dir
}

#[test]
fn eval_and_predict_on_a_kaggle_folder() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let out = train::run(&tiny(1), TrainOptions::new(runs.path())).unwrap();
    let data = fixture_kaggle_folder();
    let opts = InferOptions {
        run_dirs: std::slice::from_ref(&out.run_dir),
        which: Which::Best,
        tta: true,
        device: Some("cpu"),
        bad_tiles: None,
        calibrated: true,
    };
    let m = infer::evaluate(&opts, &data.path().display().to_string()).unwrap();
    assert_eq!(m.n, 24);
    let c = m.confusion;
    assert_eq!(c.tp + c.fp + c.tn + c.fn_, 24);

    let sub = data.path().join("submission.csv");
    let n = infer::predict(&opts, data.path(), &sub).unwrap();
    assert_eq!(n, 12);
    let text = std::fs::read_to_string(&sub).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,label"));
    for line in lines {
        let (id, p) = line.split_once(',').unwrap();
        assert_eq!(id.len(), 40);
        let p: f64 = p.parse().unwrap();
        assert!((0.0..=1.0).contains(&p));
    }
}

#[test]
fn a_bad_tile_in_an_eval_set_is_named_or_skipped_without_shifting_the_others() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let out = train::run(&tiny(1), TrainOptions::new(runs.path())).unwrap();
    let data = fixture_kaggle_folder();
    let score = |bad_tiles| {
        infer::evaluate(
            &InferOptions {
                run_dirs: std::slice::from_ref(&out.run_dir),
                which: Which::Best,
                tta: false,
                device: Some("cpu"),
                bad_tiles,
                calibrated: true,
            },
            &data.path().display().to_string(),
        )
    };
    let clean = score(None).unwrap();
    // One tile of the middle of a batch made unreadable.
    let victim = std::fs::read_dir(data.path().join("train"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    std::fs::write(&victim, b"not a tiff").unwrap();
    let err = score(None).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("--bad-tiles skip"), "{msg}");
    let skipped = score(Some(histoboard::experiment::BadTilePolicy::Skip)).unwrap();
    assert_eq!(skipped.n, clean.n - 1);
    // The others keep their own probabilities: the confusion counts change by one tile at most.
    let c = (clean.confusion, skipped.confusion);
    let total = |c: histoboard::metrics::Confusion| c.tp + c.fp + c.tn + c.fn_;
    assert_eq!(total(c.0) - total(c.1), 1);
    let moved = c.0.tp.abs_diff(c.1.tp)
        + c.0.fp.abs_diff(c.1.fp)
        + c.0.tn.abs_diff(c.1.tn)
        + c.0.fn_.abs_diff(c.1.fn_);
    assert_eq!(moved, 1, "{c:?}");
}

#[test]
fn several_runs_predict_as_an_ensemble_of_their_averaged_probabilities() {
    let _serial = serial();
    let runs = tempfile::tempdir().unwrap();
    let a = train::run(&tiny(1), TrainOptions::new(runs.path())).unwrap();
    let mut other = tiny(1);
    other.train.seed = 7;
    let b = train::run(&other, TrainOptions::new(runs.path())).unwrap();
    let data = fixture_kaggle_folder();
    let predict = |dirs: &[std::path::PathBuf], name: &str| {
        let out = data.path().join(name);
        let opts = InferOptions {
            run_dirs: dirs,
            which: Which::Best,
            tta: false,
            device: Some("cpu"),
            bad_tiles: None,
            calibrated: true,
        };
        infer::predict(&opts, data.path(), &out).unwrap();
        std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let (id, p) = l.split_once(',').unwrap();
                (id.to_string(), p.parse::<f64>().unwrap())
            })
            .collect::<Vec<_>>()
    };
    let pa = predict(std::slice::from_ref(&a.run_dir), "a.csv");
    let pb = predict(std::slice::from_ref(&b.run_dir), "b.csv");
    let both = predict(&[a.run_dir.clone(), b.run_dir.clone()], "ab.csv");
    assert_eq!(both.len(), 12);
    assert!(
        pa.iter().zip(&pb).any(|(x, y)| (x.1 - y.1).abs() > 1e-3),
        "two different models"
    );
    for ((x, y), z) in pa.iter().zip(&pb).zip(&both) {
        assert_eq!(x.0, z.0, "same tiles, same order");
        assert!(
            (z.1 - (x.1 + y.1) / 2.0).abs() < 2e-6,
            "{} {} {}",
            x.1,
            y.1,
            z.1
        );
    }
}

#[test]
fn a_run_trains_on_two_sources_split_by_slide() {
    let _serial = serial();
    use crate::support::{kaggle_folder, kaggle_zip, real_tiles};
    let dir = tempfile::tempdir().unwrap();
    let tiles = real_tiles(160);
    let slide_of = |i: usize| format!("slide-{}", i / 8);
    let csv = |from: usize, part: &[(String, u8, Vec<u8>)]| {
        let mut s = String::from("id,label,slide\n");
        for (k, (id, l, _)) in part.iter().enumerate() {
            s.push_str(&format!("{id},{l},{}\n", slide_of(from + k)));
        }
        s
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let zip = kaggle_zip(&a, &tiles[..100], &csv(0, &tiles[..100]));
    let folder = kaggle_folder(&b, &tiles[100..], &csv(100, &tiles[100..]));
    let sources = format!(
        "[{:?}, {:?}]",
        zip.display().to_string(),
        folder.display().to_string()
    );
    let text = crate::support::tiny_toml(
        &format!("source = {sources}\n[data.split]\nvalid = 0.25\ngroup = \"slide\""),
        "epochs = 1\nmax_batches = 2",
        "",
    );
    let exp = experiment::load_str(&text, "tiny", Path::new("."), &[])
        .unwrap()
        .pop()
        .unwrap();
    let runs = tempfile::tempdir().unwrap();
    let out = train::run(&exp, train::TrainOptions::new(runs.path())).expect("training succeeds");
    let Some(Event::Started { data, .. }) = events(&out.run_dir)
        .into_iter()
        .find(|e| matches!(e, Event::Started { .. }))
    else {
        panic!("no started event")
    };
    assert_eq!(data.source.0.len(), 2);
    assert_eq!(data.train + data.valid, 160);
    assert_eq!(train::load_run_config(&out.run_dir).unwrap().data, exp.data);
    // Every slide on one side of the split.
    let split = std::fs::read_to_string(RunPaths::new(&out.run_dir).split()).unwrap();
    let mut side = std::collections::HashMap::new();
    for line in split.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let i = tiles.iter().position(|t| t.0 == f[0]).unwrap();
        let was = side.insert(slide_of(i), f[2].to_string());
        assert!(
            was.is_none_or(|w| w == f[2]),
            "{} on both sides",
            slide_of(i)
        );
    }
    // Evaluating it needs no slide column: a set is scored whole, not split.
    let c = dir.path().join("c");
    std::fs::create_dir_all(&c).unwrap();
    let plain = kaggle_folder(&c, &tiles[..20], &crate::support::labels_csv(&tiles[..20]));
    let opts = InferOptions {
        run_dirs: std::slice::from_ref(&out.run_dir),
        which: Which::Last,
        tta: false,
        device: Some("cpu"),
        bad_tiles: None,
        calibrated: true,
    };
    let m = infer::evaluate(&opts, &plain.display().to_string()).expect("eval without groups");
    assert_eq!(m.n, 20);
}
