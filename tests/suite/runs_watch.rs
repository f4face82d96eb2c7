//! Watching a runs folder, the collector thread, launching (fake and detached processes).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use histoboard::experiment::{Experiment, LauncherKind};
use histoboard::runs::{
    DataSummary, Event, EventWriter, FakeLauncher, Launcher, RunStatus, RunUpdate, RunsWatcher,
    TailError, cancel_detached, now_unix, process::trainer_alive, spawn_collector, spawn_detached,
    write_synthetic_run,
};

fn started(pid: u32) -> Event {
    Event::Started {
        run_id: "r".into(),
        experiment: "exp".into(),
        config: String::new(),
        device: "CPU".into(),
        epochs: 2,
        batches: 1,
        data: DataSummary::default(),
        start_epoch: 0,
        pid,
        host: String::new(),
        metric: "valid_auc".into(),
    }
}

fn changed_ids(updates: &[RunUpdate]) -> Vec<String> {
    updates
        .iter()
        .filter_map(|u| match u {
            RunUpdate::Changed(s) => Some(s.id.clone()),
            _ => None,
        })
        .collect()
}

/// Polls until `done` holds for the run, or panics after 10 s.
fn wait_for(watcher: &mut RunsWatcher, id: &str, done: impl Fn(RunStatus) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        watcher.poll();
        if watcher.get(id).is_some_and(|s| done(s.status)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} never reached the expected status"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn discovers_runs_created_after_start_and_reads_only_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let mut watcher = RunsWatcher::new(&runs);
    assert!(
        watcher.poll().is_empty(),
        "a missing runs folder is just empty"
    );

    std::fs::create_dir_all(runs.join("not-a-run-yet")).unwrap();
    assert!(
        watcher.poll().is_empty(),
        "a folder without events.jsonl is not a run"
    );

    let mut w = EventWriter::create(&runs.join("exp-a")).unwrap();
    w.emit(started(std::process::id())).unwrap();
    let updates = watcher.poll();
    assert_eq!(changed_ids(&updates), ["exp-a"]);
    assert_eq!(watcher.get("exp-a").unwrap().status, RunStatus::Running);
    assert!(watcher.poll().is_empty(), "nothing new, nothing reported");

    // The earlier folder becomes a run when its stream appears.
    let mut w2 = EventWriter::create(&runs.join("not-a-run-yet")).unwrap();
    w2.emit(started(std::process::id())).unwrap();
    w.emit(Event::Cancelled { epoch: 0 }).unwrap();
    let mut ids = changed_ids(&watcher.poll());
    ids.sort();
    assert_eq!(ids, ["exp-a", "not-a-run-yet"]);
    assert_eq!(watcher.get("exp-a").unwrap().status, RunStatus::Cancelled);
    assert_eq!(watcher.states().len(), 2);

    std::fs::remove_dir_all(runs.join("exp-a")).unwrap();
    let updates = watcher.poll();
    assert!(
        matches!(updates.as_slice(), [RunUpdate::Removed(id)] if id == "exp-a"),
        "{updates:?}"
    );
    assert!(watcher.get("exp-a").is_none());
}

#[test]
fn bad_lines_are_reported_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("broken");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("events.jsonl"), "not json\n").unwrap();
    let mut watcher = RunsWatcher::new(dir.path());
    let updates = watcher.poll();
    let err = updates
        .iter()
        .find_map(|u| match u {
            RunUpdate::Error { run_id, error } => Some((run_id.clone(), error.clone())),
            _ => None,
        })
        .expect("an error update");
    assert_eq!(err.0, "broken");
    assert!(matches!(err.1, TailError::Malformed { line: 1, .. }));
    assert_eq!(watcher.get("broken").unwrap().status, RunStatus::Queued);
}

#[test]
fn a_run_whose_trainer_died_silently_is_reported_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let mut w = EventWriter::create(&dir.path().join("dead")).unwrap();
    w.emit_at(now_unix() - 120.0, started(pid)).unwrap();
    let mut watcher = RunsWatcher::new(dir.path()).with_quiet_after(30.0);
    watcher.poll();
    assert_eq!(watcher.get("dead").unwrap().status, RunStatus::Lost);
}

#[test]
fn collector_thread_sends_updates_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel();
    let collector = spawn_collector(dir.path(), Duration::from_millis(20), tx, |u| u);
    let launcher = FakeLauncher::new()
        .with_epochs(2)
        .with_batches(2)
        .with_delay(Duration::from_millis(1));
    let exp = Experiment {
        name: "fake exp".into(),
        ..Experiment::default()
    };
    let run = launcher
        .launch(&exp, dir.path(), LauncherKind::Local)
        .unwrap();
    assert!(run.run_id.starts_with("fake-exp-"), "{}", run.run_id);
    assert!(run.dir.join("config.toml").is_file());
    let deadline = Instant::now() + Duration::from_secs(10);
    let finished = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(RunUpdate::Changed(s)) if s.status == RunStatus::Finished => break s,
            Ok(_) => {}
            Err(e) => panic!("no finished update: {e}"),
        }
    };
    assert_eq!(finished.id, run.run_id);
    assert_eq!(finished.completed.len(), 2);
    assert_eq!(finished.experiment, "fake exp");
    assert_eq!(
        launcher.calls(),
        [(run.run_id.clone(), LauncherKind::Local)]
    );
    collector.stop();
}

#[test]
fn fake_launcher_cancels_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut watcher = RunsWatcher::new(dir.path());
    let slow = FakeLauncher::new()
        .with_epochs(3)
        .with_batches(2)
        .with_delay(Duration::from_millis(30));
    let run = slow
        .launch(&Experiment::default(), dir.path(), LauncherKind::Local)
        .unwrap();
    wait_for(&mut watcher, &run.run_id, |s| s == RunStatus::Running);
    run.cancel.cancel();
    wait_for(&mut watcher, &run.run_id, |s| s == RunStatus::Cancelled);

    let fast = FakeLauncher::new().with_delay(Duration::ZERO);
    let resumed = fast.resume(&run.dir, LauncherKind::Detached).unwrap();
    assert_eq!(resumed.run_id, run.run_id);
    wait_for(&mut watcher, &run.run_id, |s| s == RunStatus::Finished);
    let state = watcher.get(&run.run_id).unwrap();
    let epochs: Vec<usize> = state.completed.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [1, 2, 3]);
    assert!(
        fast.resume(&run.dir, LauncherKind::Local).is_err(),
        "finished runs do not resume"
    );
}

#[test]
fn detached_children_log_to_a_file_and_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("train.log");
    let args = [
        "-c".to_string(),
        "echo out; echo err >&2; exec sleep 30".to_string(),
    ];
    let pid = spawn_detached(std::path::Path::new("/bin/sh"), &args, &log).unwrap();
    assert!(trainer_alive(pid, None));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("err")
    {
        assert!(Instant::now() < deadline, "no output in {}", log.display());
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("out\n") && text.contains("err\n"), "{text}");
    cancel_detached(pid).unwrap();
    while trainer_alive(pid, None) {
        assert!(Instant::now() < deadline, "process {pid} ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = spawn_detached(std::path::Path::new("/no/such/trainer"), &[], &log).unwrap_err();
    assert!(format!("{err:#}").contains("/no/such/trainer"), "{err:#}");
}

#[test]
fn synthetic_runs_load_completely() {
    let dir = tempfile::tempdir().unwrap();
    // Five new runs: enough for the watcher to fold them on several threads.
    for i in 0..5 {
        write_synthetic_run(&dir.path().join(format!("syn-{i}")), "syn", 5, 3, 1e9).unwrap();
    }
    let bench = histoboard::runs::bench_load(dir.path(), 2);
    assert_eq!((bench.runs, bench.epochs), (5, 25));
    let mut watcher = RunsWatcher::new(dir.path());
    watcher.poll();
    for s in watcher.states().values() {
        assert_eq!(s.status, RunStatus::Finished);
        assert_eq!(
            s.best_valid_auc(),
            s.best_value,
            "best is the highest valid AUC"
        );
    }
}

#[test]
fn a_scripted_failure_is_reported_and_the_run_resumes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut watcher = RunsWatcher::new(dir.path());
    let failing = FakeLauncher::new()
        .with_epochs(3)
        .with_delay(Duration::ZERO)
        .failing_at_epoch(2);
    let run = failing
        .launch(&Experiment::default(), dir.path(), LauncherKind::Local)
        .unwrap();
    wait_for(&mut watcher, &run.run_id, |s| s == RunStatus::Failed);
    let state = watcher.get(&run.run_id).unwrap();
    assert_eq!(state.error.as_deref(), Some("scripted failure in epoch 2"));
    assert_eq!(state.completed.len(), 1);

    FakeLauncher::new()
        .with_delay(Duration::ZERO)
        .resume(&run.dir, LauncherKind::Local)
        .unwrap();
    wait_for(&mut watcher, &run.run_id, |s| s == RunStatus::Finished);
    let state = watcher.get(&run.run_id).unwrap();
    assert_eq!(state.start_epoch, 1);
    assert_eq!(state.completed.len(), 3);
    assert!(state.error.is_none());
}

/// Cancel, a pause, resume: the ETA extrapolates from the time spent training, not from the
/// wall clock since the first start, and "elapsed" leaves the pause out.
#[test]
fn eta_after_cancel_a_pause_and_resume_is_close_to_the_time_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut watcher = RunsWatcher::new(dir.path());
    let delay = Duration::from_millis(40);
    let launcher = FakeLauncher::new()
        .with_epochs(8)
        .with_batches(4)
        .with_delay(delay);
    let run = launcher
        .launch(&Experiment::default(), dir.path(), LauncherKind::Local)
        .unwrap();
    wait_for_epochs(&mut watcher, &run.run_id, 3);
    run.cancel.cancel();
    wait_for(&mut watcher, &run.run_id, |s| s == RunStatus::Cancelled);
    let pause = Duration::from_millis(1500);
    std::thread::sleep(pause);

    let resumed = launcher.resume(&run.dir, LauncherKind::Local).unwrap();
    // Read the ETA once the resumed run is half-way through its first epoch.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (eta, at) = loop {
        watcher.poll();
        let st = watcher.get(&run.run_id).unwrap();
        let resumed_epoch = st.start_epoch + 1;
        if st.status == RunStatus::Running
            && st
                .progress
                .is_some_and(|p| p.epoch == resumed_epoch && p.batch >= 2)
        {
            break (st.eta_seconds(now_unix()).expect("an ETA"), Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "the resumed run made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    wait_for(&mut watcher, &resumed.run_id, |s| s == RunStatus::Finished);
    let actual = at.elapsed().as_secs_f64();
    assert!(
        (eta - actual).abs() <= 0.2 * actual,
        "ETA {eta:.2} s, actual {actual:.2} s"
    );
    // Elapsed counts training only: the pause is not in it.
    let st = watcher.get(&run.run_id).unwrap();
    let elapsed = st.elapsed_seconds(now_unix()).unwrap();
    let training: f64 = st.completed.iter().map(|e| e.duration_s).sum();
    assert!(
        elapsed < training + pause.as_secs_f64() * 0.5,
        "elapsed {elapsed:.2} s includes the {pause:?} pause (training {training:.2} s)"
    );
}

fn wait_for_epochs(watcher: &mut RunsWatcher, id: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        watcher.poll();
        if watcher.get(id).is_some_and(|s| s.completed.len() >= n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} never reached epoch {n}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn notes_and_tags_are_watched_and_prune_refuses_live_runs() {
    use histoboard::runs::RunMeta;
    use histoboard::runs::prune;
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path();
    write_synthetic_run(&runs.join("a"), "exp", 2, 2, 1000.0).unwrap();
    write_synthetic_run(&runs.join("b"), "exp", 2, 2, 2000.0).unwrap();
    let mut w = RunsWatcher::new(runs);
    w.poll();
    assert_eq!(w.get("a").unwrap().meta, RunMeta::default());
    let meta = RunMeta {
        note: "the baseline".into(),
        tags: vec!["paper".into()],
    };
    meta.write(&runs.join("a")).unwrap();
    assert!(changed_ids(&w.poll()).contains(&"a".to_string()));
    assert_eq!(w.get("a").unwrap().meta, meta);

    // Archive: out of the list, still on disk.
    let said = prune::describe(runs, &["a".into()]);
    assert!(said.starts_with("1 run, "), "{said}");
    let to = prune::archive(runs, w.get("a").unwrap()).unwrap();
    assert!(to.join("events.jsonl").is_file());
    assert_eq!(RunMeta::read(&to).unwrap(), meta, "the note goes along");
    w.poll();
    assert!(w.get("a").is_none(), "archived runs leave the list");
    // Delete: gone for good.
    let freed = prune::remove(runs, w.get("b").unwrap()).unwrap();
    assert!(freed > 0);
    assert!(!runs.join("b").exists());

    // A live run is never touched.
    let mut live = EventWriter::create(&runs.join("live")).unwrap();
    live.emit(started(std::process::id())).unwrap();
    let st = histoboard::runs::RunState::read(&runs.join("live"));
    assert_eq!(st.status, RunStatus::Running);
    for err in [
        prune::archive(runs, &st).unwrap_err(),
        prune::remove(runs, &st).map(|_| ()).unwrap_err(),
    ] {
        assert!(format!("{err:#}").contains("cancel it first"), "{err:#}");
    }
    assert!(runs.join("live/events.jsonl").is_file());
}
