//! `control::Control`: one way to launch, cancel and resume runs, whoever asks.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use histoboard::control::{Control, Started};
use histoboard::experiment::{Experiment, LauncherKind};
use histoboard::runs::{FakeLauncher, RunStatus, RunsWatcher};

fn wait_for(runs: &Path, id: &str, want: RunStatus) {
    let mut w = RunsWatcher::new(runs);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        w.poll();
        if w.get(id).is_some_and(|s| s.status == want) {
            return;
        }
        assert!(Instant::now() < deadline, "{id} never became {want:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_thread_run_is_launched_cancelled_and_resumed_through_control() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeLauncher::new()
        .with_epochs(20)
        .with_delay(Duration::from_millis(20));
    let control = Control::new(Arc::new(fake), dir.path());
    let source = dir.path().join("experiments/x.toml");
    let started = control
        .launch(&[Experiment::default()], &source, LauncherKind::Local)
        .unwrap();
    let Started::Runs(ids) = started else {
        panic!("a local launch starts runs: {started:?}")
    };
    let id = &ids[0];
    let run_dir = control.runs_dir().join(id);
    wait_for(&control.runs_dir(), id, RunStatus::Running);

    let said = control.cancel(&run_dir).unwrap();
    assert!(said.contains("cancelling"), "{said}");
    wait_for(&control.runs_dir(), id, RunStatus::Cancelled);
    // Not a Slurm run: it resumes here, not through the scheduler.
    let err = control.resume(&run_dir, LauncherKind::Slurm).unwrap_err();
    assert!(
        format!("{err:#}").contains("not submitted to Slurm"),
        "{err:#}"
    );
    control.resume(&run_dir, LauncherKind::Local).unwrap();
    wait_for(&control.runs_dir(), id, RunStatus::Running);
    // On the way out, the thread runs still active are cancelled (they checkpoint).
    assert_eq!(control.cancel_threads(|_| true), vec![id.clone()]);
    wait_for(&control.runs_dir(), id, RunStatus::Cancelled);
    let err = control.cancel(&run_dir);
    assert!(
        err.is_ok(),
        "a known thread run's token is simply set again"
    );
}

#[test]
fn cancelling_a_stopped_run_started_elsewhere_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    histoboard::runs::write_synthetic_run(&runs.join("done"), "exp", 2, 2, 1000.0).unwrap();
    let control = Control::new(Arc::new(FakeLauncher::new()), dir.path());
    let err = control.cancel(&runs.join("done")).unwrap_err();
    assert!(
        format!("{err:#}").contains("is not running (it is finished)"),
        "{err:#}"
    );
}
