//! Folding records into a RunState.

use histoboard::runs::{
    DataSummary, Downsampled, Event, LogLevel, Record, RunState, RunStatus, SCHEMA_VERSION,
    synthetic_epoch,
};

fn rec(t: f64, event: Event) -> Record {
    Record {
        v: SCHEMA_VERSION,
        t,
        event,
    }
}

fn started(t: f64, epochs: usize, start_epoch: usize, pid: u32, config: &str) -> Record {
    rec(
        t,
        Event::Started {
            run_id: "exp-1".into(),
            experiment: "exp".into(),
            config: config.into(),
            device: "CPU (2 threads)".into(),
            epochs,
            batches: 10,
            data: DataSummary {
                train: 100,
                ..DataSummary::default()
            },
            start_epoch,
            pid,
            host: String::new(),
            // What the trainer writes: the config's early-stopping metric.
            metric: config
                .parse::<toml::Table>()
                .ok()
                .and_then(|t| {
                    let m = t.get("train")?.get("early_stopping")?.get("metric")?;
                    m.as_str().map(String::from)
                })
                .unwrap_or_else(|| "valid_auc".into()),
        },
    )
}

fn batch(t: f64, epoch: usize, batch: usize, loss: f64) -> Record {
    rec(
        t,
        Event::Batch {
            epoch,
            batch,
            batches: 10,
            loss,
            lr: 1e-3,
            images_per_sec: 100.0,
        },
    )
}

fn epoch(t: f64, n: usize, epochs: usize, duration: f64, is_best: bool) -> Record {
    let mut s = synthetic_epoch(n, epochs, 3);
    s.duration_s = duration;
    s.is_best = is_best;
    rec(t, Event::Epoch(s))
}

/// A pid that certainly belonged to a process that has exited (and was reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn status_follows_the_lifecycle() {
    let mut s = RunState::new("exp-1", "/runs/exp-1");
    assert_eq!(s.status, RunStatus::Queued);
    s.apply(&started(100.0, 3, 0, 42, ""));
    assert_eq!(s.status, RunStatus::Running);
    assert_eq!(s.device, "CPU (2 threads)");
    assert_eq!(s.pid, Some(42));
    assert_eq!(s.data.as_ref().map(|d| d.train), Some(100));
    s.apply(&batch(101.0, 1, 5, 0.6));
    assert_eq!(s.progress.map(|p| p.batch), Some(5));
    s.apply(&epoch(110.0, 1, 3, 10.0, true));
    assert!(s.progress.is_none(), "between epochs");
    assert_eq!(s.completed.len(), 1);
    s.apply(&rec(
        111.0,
        Event::Finished {
            best_epoch: 1,
            metric: "valid_auc".into(),
            best_value: 0.9,
            reason: "early stopping".into(),
        },
    ));
    assert_eq!(s.status, RunStatus::Finished);
    assert_eq!(s.finished_reason.as_deref(), Some("early stopping"));
    assert_eq!((s.best_epoch, s.best_value), (Some(1), Some(0.9)));
    assert_eq!(s.last_event_at, Some(111.0));
    assert_eq!(
        s.elapsed_seconds(5000.0),
        Some(11.0),
        "frozen once finished"
    );

    let mut f = RunState::new("exp-2", "/runs/exp-2");
    f.apply(&started(0.0, 3, 0, 42, ""));
    f.apply(&rec(
        1.0,
        Event::Failed {
            error: "CUDA out of memory".into(),
        },
    ));
    assert_eq!(f.status, RunStatus::Failed);
    assert_eq!(f.error.as_deref(), Some("CUDA out of memory"));

    let mut c = RunState::new("exp-3", "/runs/exp-3");
    c.apply(&started(0.0, 3, 0, 42, ""));
    c.apply(&rec(1.0, Event::Cancelled { epoch: 0 }));
    assert_eq!(c.status, RunStatus::Cancelled);
    assert!(c.status.is_terminal());
}

#[test]
fn resume_replaces_repeated_epochs_and_clears_the_failure() {
    let mut s = RunState::new("r", "/r");
    s.apply(&started(0.0, 4, 0, 1, ""));
    for n in 1..=3 {
        s.apply(&epoch(n as f64, n, 4, 1.0, n == 3));
    }
    s.apply(&rec(
        4.0,
        Event::Failed {
            error: "disk full".into(),
        },
    ));
    s.apply(&started(10.0, 4, 2, 2, ""));
    assert_eq!(s.status, RunStatus::Running);
    assert!(s.error.is_none());
    let kept: Vec<usize> = s.completed.iter().map(|e| e.epoch).collect();
    assert_eq!(kept, [1, 2], "epoch 3 will be run again");
    assert_eq!(
        s.best_epoch, None,
        "the best epoch was dropped with epoch 3"
    );
    assert_eq!(
        s.started_at,
        Some(0.0),
        "elapsed counts from the first start"
    );
    s.apply(&epoch(11.0, 3, 4, 1.0, true));
    s.apply(&epoch(12.0, 3, 4, 1.0, true));
    assert_eq!(
        s.completed.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn best_epoch_is_valued_on_the_configured_metric() {
    let config = "name = \"x\"\n[train.early_stopping]\nmetric = \"valid_loss\"\npatience = 2\n";
    let mut s = RunState::new("r", "/r");
    s.apply(&started(0.0, 3, 0, 1, config));
    assert_eq!(s.best_metric.to_string(), "valid_loss");
    s.apply(&epoch(1.0, 1, 3, 1.0, true));
    s.apply(&epoch(2.0, 2, 3, 1.0, false));
    assert_eq!(s.best_epoch, Some(1));
    assert_eq!(s.best_value, Some(s.completed[0].valid.loss));
    // "Best" means the same epoch everywhere: the AUC shown is the best epoch's.
    assert_eq!(s.best_valid_auc(), Some(s.completed[0].valid.auc));
    assert_eq!(s.best_summary().map(|e| e.epoch), Some(1));
}

#[test]
fn eta_uses_epoch_durations_and_batch_progress() {
    let mut s = RunState::new("r", "/r");
    s.apply(&started(100.0, 5, 0, 1, ""));
    assert_eq!(s.eta_seconds(100.0), None, "nothing to extrapolate from");
    // Before any epoch ends: 2 of 10 batches in 10 s means 50 s per epoch.
    s.apply(&batch(110.0, 1, 2, 0.7));
    assert_eq!(s.eta_seconds(110.0), Some(4.8 * 50.0));
    s.apply(&epoch(150.0, 1, 5, 40.0, true));
    s.apply(&epoch(170.0, 2, 5, 20.0, false));
    assert_eq!(
        s.eta_seconds(170.0),
        Some(3.0 * 30.0),
        "mean of 40 s and 20 s"
    );
    s.apply(&batch(180.0, 3, 5, 0.5));
    assert_eq!(s.epochs_done(), 2.5);
    assert_eq!(s.eta_seconds(180.0), Some(2.5 * 30.0));
    assert_eq!(s.elapsed_seconds(200.0), Some(100.0));
    s.apply(&rec(181.0, Event::Cancelled { epoch: 2 }));
    assert_eq!(s.eta_seconds(200.0), None, "not running");
}

#[test]
fn batch_history_and_log_stay_bounded() {
    let mut s = RunState::new("r", "/r");
    s.apply(&started(0.0, 100, 0, 1, ""));
    let per_epoch = 10;
    for e in 1..=100 {
        for b in 1..=per_epoch {
            for _ in 0..20 {
                s.apply(&batch(1.0, e, b, 1.0 / e as f64));
            }
        }
    }
    let points = s.batch_loss.points();
    assert!(points.len() <= 2000, "{} points", points.len());
    assert!(
        points.len() >= 1000,
        "halving keeps at least half: {}",
        points.len()
    );
    assert!(s.batch_loss.stride() > 1);
    assert!(
        points.windows(2).all(|w| w[0].0 <= w[1].0),
        "x stays ordered"
    );
    assert!(
        (points[0].1 - 1.0).abs() < 1e-9,
        "first epoch's loss kept its value"
    );
    assert!((points.last().unwrap().1 - 0.01).abs() < 1e-9);

    for i in 0..1000 {
        s.apply(&rec(
            i as f64,
            Event::Log {
                level: LogLevel::Warn,
                message: format!("line {i}"),
            },
        ));
    }
    assert_eq!(s.log.len(), histoboard::runs::state::LOG_TAIL_CAP);
    assert_eq!(s.log.back().unwrap().message, "line 999");
    assert_eq!(s.log.front().unwrap().message, "line 500");
}

#[test]
fn downsampled_averages_pairs_exactly() {
    let mut d = Downsampled::with_cap(4);
    for i in 1..=4 {
        d.push(i as f64, i as f64 * 10.0);
    }
    // Full at 4 points: halved to (1.5, 15), (3.5, 35); stride becomes 2.
    assert_eq!(d.points(), [(1.5, 15.0), (3.5, 35.0)]);
    d.push(5.0, 50.0);
    assert_eq!(
        d.points().last(),
        Some(&(5.0, 50.0)),
        "pending partial stride is shown"
    );
    d.push(6.0, 60.0);
    assert_eq!(d.points(), [(1.5, 15.0), (3.5, 35.0), (5.5, 55.0)]);
}

#[test]
fn a_silent_run_whose_trainer_is_gone_is_lost() {
    let pid = dead_pid();
    let mut s = RunState::new("r", "/r");
    s.apply(&started(1000.0, 3, 0, pid, ""));
    assert!(
        !s.check_lost(1005.0, 10.0),
        "not silent long enough to check"
    );
    assert_eq!(s.status, RunStatus::Running);
    assert!(s.check_lost(1020.0, 10.0));
    assert_eq!(s.status, RunStatus::Lost);
    assert!(s.status.is_terminal());
    // A late event proves the trainer alive after all.
    s.apply(&batch(1021.0, 1, 1, 0.5));
    assert_eq!(s.status, RunStatus::Running);

    let mut alive = RunState::new("a", "/a");
    let now = histoboard::runs::now_unix();
    alive.apply(&started(now, 3, 0, std::process::id(), ""));
    assert!(
        !alive.check_lost(now + 60.0, 10.0),
        "this test process is alive"
    );
    assert_eq!(alive.status, RunStatus::Running);
}

#[test]
fn a_pause_between_cancel_and_resume_counts_neither_in_elapsed_nor_in_the_eta() {
    // 10 s epochs; cancelled after 5 of 12, 22 s of pause, resumed, half-way through epoch 6.
    let mut s = RunState::new("r", "/r");
    s.apply(&started(0.0, 12, 0, 1, ""));
    for e in 1..=5 {
        s.apply(&epoch(e as f64 * 10.0, e, 12, 10.0, e == 1));
    }
    s.apply(&rec(52.0, Event::Cancelled { epoch: 5 }));
    assert_eq!(
        s.elapsed_seconds(1000.0),
        Some(52.0),
        "stopped: the clock stops"
    );
    s.apply(&started(74.0, 12, 5, 2, ""));
    s.apply(&batch(79.0, 6, 5, 0.4));
    // 6.5 epochs of 10 s are left; the pause is neither elapsed nor in the pace.
    let eta = s.eta_seconds(79.0).unwrap();
    assert!((eta - 65.0).abs() < 1e-9, "{eta}");
    assert_eq!(s.elapsed_seconds(79.0), Some(52.0 + 5.0));
    // A trainer killed without a word: its stretch ends with its last event.
    s.apply(&started(200.0, 12, 5, 3, ""));
    assert_eq!(s.elapsed_seconds(200.0), Some(52.0 + 5.0));
}

#[test]
fn compare_and_its_csv_summarise_a_complete_cv_set_with_the_out_of_fold_auc() {
    use histoboard::runs::fixture::{fixture_cv_records, write_run};
    use histoboard::runs::{compare, cv};
    let dir = tempfile::tempdir().unwrap();
    let mut states = Vec::new();
    for k in 0..3 {
        let (id, records) = fixture_cv_records(k, 3, 4, 4);
        write_run(dir.path(), &id, &records).unwrap();
        let run_dir = dir.path().join("runs").join(&id);
        // Each fold's validation predictions: its own tiles, better than chance.
        let mut csv = String::from("id,label,prob\n");
        for i in 0..20 {
            let label = i % 2;
            let prob = 0.3 + 0.4 * label as f64 + 0.01 * (i + k) as f64;
            csv.push_str(&format!("f{k}-t{i},{label},{prob}\n"));
        }
        std::fs::write(run_dir.join("valid_predictions.csv"), csv).unwrap();
        states.push(RunState::read(&run_dir));
    }
    let refs: Vec<&RunState> = states.iter().collect();
    let sets = cv::sets(&refs);
    assert_eq!(sets.len(), 1);
    assert!(sets[0].complete(&refs));
    let want = cv::summary(&refs).unwrap();
    let oof = compare::oof_aucs(&refs);
    assert_eq!(oof.get(&sets[0].id), Some(&want.oof_auc));
    let table = compare::table(&refs, 0.0, &oof);
    assert_eq!(table.rows.len(), 1);
    let csv = table.to_csv();
    assert!(csv.lines().next().unwrap().contains("OOF AUC"), "{csv}");
    assert!(csv.contains(&format!("{:.4}", want.oof_auc)), "{csv}");
    let (mean, sd) = (want.mean_auc, want.sd_auc);
    assert!(csv.contains(&format!("{mean:.4}±{sd:.3}")), "{csv}");
    // A fold short: no out-of-fold AUC yet.
    assert!(compare::oof_aucs(&refs[..2]).is_empty());
}
