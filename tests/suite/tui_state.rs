//! Dashboard state transitions, driven through `App::update` without a terminal.

use std::path::Path;

use std::sync::Arc;

use histoboard::experiment::LauncherKind;
use histoboard::runs::{Record, RunState, RunStatus};
use histoboard::tui::action::{Action, DetailTab, Effect, Pane};
use histoboard::tui::app::{App, Confirm};
use histoboard::tui::fixture::{
    fixture_records, fixture_run_id, write_fixture_experiments, write_fixture_runs, write_run,
};
use histoboard::tui::{experiments, load_app};

fn fixture_dir(runs: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    write_fixture_experiments(dir.path()).expect("experiments");
    write_fixture_runs(dir.path(), runs, 6).expect("runs");
    dir
}

fn select_experiment(app: &mut App, name: &str) {
    let i = app
        .experiments
        .iter()
        .position(|e| e.name == name)
        .unwrap_or_else(|| panic!("no experiment {name}"));
    app.update(Action::Focus(Pane::Experiments));
    app.exp_sel = i;
}

fn select_run(app: &mut App, id: &str) {
    app.update(Action::Focus(Pane::Runs));
    let i = app
        .runs
        .iter()
        .position(|r| r.id == id)
        .unwrap_or_else(|| panic!("no run {id}"));
    app.run_sel = app.queue.len() + i;
}

fn run_view(id: &str, status: RunStatus) -> Arc<RunState> {
    let mut v = RunState::new(id, "");
    v.status = status;
    Arc::new(v)
}

fn launches(effects: &[Effect]) -> Vec<(u64, LauncherKind)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch { ticket, kind, .. } => Some((*ticket, *kind)),
            _ => None,
        })
        .collect()
}

#[test]
fn launch_queues_and_respects_the_concurrency_limit() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    app.max_concurrent = 1;
    select_experiment(&mut app, "baseline");

    let first = app.update(Action::Launch);
    assert_eq!(launches(&first), vec![(1, LauncherKind::Local)]);
    assert!(app.update(Action::Launch).is_empty(), "second waits");
    assert!(app.update(Action::Launch).is_empty(), "third waits");
    assert_eq!(app.queue.len(), 2);
    // Queued launches are rows of the runs pane, shown as queued.
    assert_eq!(app.row_count(), 2);
    assert!(
        app.pending_views()
            .iter()
            .all(|v| v.status == RunStatus::Queued)
    );

    app.update(Action::Launched {
        ticket: 1,
        result: Ok("baseline-a".into()),
    });
    let still = app.update(Action::RunsUpdated(vec![run_view(
        "baseline-a",
        RunStatus::Running,
    )]));
    assert!(still.is_empty(), "the slot is still taken");
    let next = app.update(Action::RunsUpdated(vec![run_view(
        "baseline-a",
        RunStatus::Finished,
    )]));
    assert_eq!(launches(&next), vec![(2, LauncherKind::Local)]);
    assert_eq!(app.queue.len(), 1);

    // A failed launch frees its slot at once.
    let after_fail = app.update(Action::Launched {
        ticket: 2,
        result: Err("no GPU".into()),
    });
    assert_eq!(launches(&after_fail), vec![(3, LauncherKind::Local)]);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(err, m)| *err && m.contains("no GPU"))
    );
}

#[test]
fn a_higher_limit_starts_several_and_detached_launches_skip_the_queue() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    app.max_concurrent = 2;
    select_experiment(&mut app, "baseline");
    let mut started = Vec::new();
    for _ in 0..3 {
        started.extend(launches(&app.update(Action::Launch)));
    }
    assert_eq!(started.len(), 2);
    assert_eq!(app.queue.len(), 1);
    let detached = app.update(Action::LaunchDetached);
    assert_eq!(launches(&detached), vec![(4, LauncherKind::Detached)]);
    assert_eq!(app.queue.len(), 1, "detached runs do not queue");
}

#[test]
fn a_sweep_launches_one_run_per_point() {
    let dir = fixture_dir(0);
    std::fs::write(
        dir.path().join("experiments/sweep.toml"),
        "[train]\nepochs = 2\nlr = [1e-3, 5e-4, 2e-4]\n",
    )
    .unwrap();
    let mut app = load_app(dir.path());
    app.max_concurrent = 5;
    select_experiment(&mut app, "sweep");
    let effects = app.update(Action::Launch);
    let lrs: Vec<f64> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Launch { experiment, .. } => Some(experiment.train.lr),
            _ => None,
        })
        .collect();
    assert_eq!(lrs, vec![1e-3, 5e-4, 2e-4]);
}

#[test]
fn an_invalid_experiment_shows_where_and_does_not_launch() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "broken");
    let e = app.selected_experiment().unwrap();
    let err = e.result.as_ref().expect_err("broken.toml is invalid");
    assert_eq!(err.line, Some(5), "{err:?}");
    assert!(err.col.is_some());
    assert!(app.update(Action::Launch).is_empty());
    let (is_err, msg) = app.message.clone().unwrap();
    assert!(is_err && msg.contains("line 5"), "{msg}");
    app.update(Action::Edit);
    assert!(app.form.is_none());
}

#[test]
fn mark_and_compare_shows_only_differing_hyperparameters() {
    let dir = fixture_dir(3);
    let mut app = load_app(dir.path());
    app.update(Action::OpenCompare);
    assert!(app.compare.is_none(), "needs two marked runs");
    // Runs 0 and 1 differ in learning rate only.
    for i in [0, 1] {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    assert_eq!(app.marked.len(), 2);
    app.update(Action::OpenCompare);
    assert!(app.compare.is_some());
    let table = app.compare_table();
    assert!(table.problems.is_empty(), "{:?}", table.problems);
    assert_eq!(
        table.columns,
        ["run", "train.lr", "AUC", "acc", "loss", "epochs", "time"]
    );
    let lrs: Vec<&str> = table.rows.iter().map(|r| r.1[1].as_str()).collect();
    assert!(lrs.contains(&"1e-3") && lrs.contains(&"5e-4"), "{lrs:?}");
    assert!(table.rows.iter().all(|r| r.1[5] == "6/6"));

    // Sort by the learning rate, then reverse.
    app.update(Action::SortNext);
    let asc: Vec<String> = app
        .compare_table()
        .rows
        .iter()
        .map(|r| r.1[1].clone())
        .collect();
    assert_eq!(asc, ["5e-4", "1e-3"]);
    app.update(Action::SortReverse);
    let desc: Vec<String> = app
        .compare_table()
        .rows
        .iter()
        .map(|r| r.1[1].clone())
        .collect();
    assert_eq!(desc, ["1e-3", "5e-4"]);
    app.update(Action::Back);
    assert!(app.compare.is_none());
}

#[test]
fn stepping_the_learning_rate_changes_it_and_marks_the_field() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    let form = app.form.as_ref().expect("form open");
    assert_eq!(form.selected_field().unwrap().key, "train.lr");
    let before = form.experiment.train.lr;
    app.update(Action::StepUp);
    let form = app.form.as_ref().unwrap();
    assert!(form.experiment.train.lr > before);
    assert!(form.changed.contains("train.lr"));
    assert_eq!(
        form.selected_field().unwrap().value,
        experiments::fields(&form.experiment)
            .into_iter()
            .find(|f| f.key == "train.lr")
            .unwrap()
            .value
    );
    app.update(Action::StepDown);
    assert_eq!(app.form.as_ref().unwrap().experiment.train.lr, before);
}

#[test]
fn an_invalid_typed_value_is_refused_with_the_reason() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    app.update(Action::EditValue);
    // Typing replaces nothing: clear the current value first.
    for _ in 0..10 {
        app.update(Action::Backspace);
    }
    for c in "fast".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Submit);
    let form = app.form.as_ref().unwrap();
    assert_eq!(
        form.editing.as_deref(),
        Some("fast"),
        "stays open to correct"
    );
    let (is_err, msg) = form.message.clone().unwrap();
    assert!(is_err && !msg.is_empty());
    assert_eq!(form.experiment.train.lr, 1e-3, "unchanged");

    for _ in 0..4 {
        app.update(Action::Backspace);
    }
    for c in "5e-4".chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Submit);
    let form = app.form.as_ref().unwrap();
    assert!(form.editing.is_none());
    assert_eq!(form.experiment.train.lr, 5e-4);
}

#[test]
fn saving_a_variant_writes_a_new_file_that_keeps_comments() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    app.update(Action::StepDown);
    app.update(Action::SaveVariant);
    assert_eq!(
        app.form.as_ref().unwrap().saving.as_deref(),
        Some("baseline-2.toml")
    );
    let effects = app.update(Action::Submit);
    let [
        Effect::SaveVariant {
            original,
            new_path,
            experiment,
        },
    ] = effects.as_slice()
    else {
        panic!("expected one save, got {effects:?}");
    };
    assert_eq!(new_path, &dir.path().join("experiments/baseline-2.toml"));
    assert_eq!(experiment.name, "baseline-2");
    experiments::save_variant(original, new_path, experiment).expect("saved");
    let text = std::fs::read_to_string(new_path).unwrap();
    assert!(text.contains("# The seed notebook's CNN"), "{text}");
    let saved = histoboard::experiment::load(new_path, &[]).expect("the variant loads");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].train.lr, 5e-4, "{text}");
    // The app reloads the folder once the shell reports success.
    let after = app.update(Action::Saved(Ok(new_path.clone())));
    assert_eq!(after, vec![Effect::ReloadExperiments]);
    app.update(Action::ExperimentsLoaded(experiments::discover(
        &dir.path().join("experiments"),
    )));
    assert!(app.experiments.iter().any(|e| e.name == "baseline-2"));
    // The next proposal skips the taken name.
    app.update(Action::SaveVariant);
    assert_eq!(
        app.form.as_ref().unwrap().saving.as_deref(),
        Some("baseline-3.toml")
    );
}

#[test]
fn launching_from_the_form_queues_the_edited_experiment() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    app.update(Action::StepUp);
    let effects = app.update(Action::Launch);
    match effects.as_slice() {
        [Effect::Launch { experiment, .. }] => assert_eq!(experiment.train.lr, 2e-3),
        other => panic!("expected a launch, got {other:?}"),
    }
}

fn with_running_run(dir: &Path) -> (String, Arc<RunState>) {
    let id = "running-run".to_string();
    let mut records: Vec<Record> = fixture_records(7, 6, 2);
    if let histoboard::runs::Event::Started { run_id, .. } = &mut records[0].event {
        *run_id = id.clone();
    }
    write_run(dir, &id, &records).unwrap();
    let live = Arc::new(RunState::folded(&id, "", &records));
    (id, live)
}

#[test]
fn cancel_asks_for_confirmation() {
    let dir = fixture_dir(2);
    let (id, live) = with_running_run(dir.path());
    let mut app = load_app(dir.path());
    // The fixture's trainer is gone (the watcher says lost); show it as it was live.
    app.update(Action::RunsUpdated(vec![live]));
    select_run(&mut app, &id);
    assert_eq!(app.selected_run().unwrap().status, RunStatus::Running);
    assert!(app.update(Action::Cancel).is_empty());
    assert!(matches!(app.confirm, Some(Confirm::CancelRun { .. })));
    assert!(app.update(Action::No).is_empty());
    assert!(app.confirm.is_none());
    app.update(Action::Cancel);
    let effects = app.update(Action::Yes);
    assert_eq!(effects, vec![Effect::Cancel { run_id: id }]);
    // A finished run is not cancelled.
    select_run(&mut app, &fixture_run_id(0));
    app.update(Action::Cancel);
    assert!(app.confirm.is_none());
}

#[test]
fn resume_only_for_stopped_runs() {
    let dir = fixture_dir(1);
    let mut app = load_app(dir.path());
    select_run(&mut app, &fixture_run_id(0));
    assert!(
        app.update(Action::Resume).is_empty(),
        "finished runs do not resume"
    );
    let mut stopped = (*app.runs[0]).clone();
    stopped.status = RunStatus::Cancelled;
    app.update(Action::RunsUpdated(vec![Arc::new(stopped)]));
    assert_eq!(
        app.update(Action::Resume),
        vec![Effect::Resume {
            run_id: fixture_run_id(0)
        }]
    );
}

#[test]
fn quit_asks_while_runs_are_active() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    assert_eq!(
        app.update(Action::Quit),
        vec![Effect::Quit],
        "nothing active"
    );

    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Launch);
    assert!(app.update(Action::Quit).is_empty());
    assert!(matches!(app.confirm, Some(Confirm::Quit { active: 1 })));
    app.update(Action::No);
    assert!(!app.should_quit);
    app.update(Action::Quit);
    assert_eq!(app.update(Action::Yes), vec![Effect::Quit]);
    assert!(app.should_quit);
}

#[test]
fn confusion_matrix_steps_through_epochs() {
    let dir = fixture_dir(1);
    let mut app = load_app(dir.path());
    select_run(&mut app, &fixture_run_id(0));
    let n = app.selected_run().unwrap().completed.len();
    app.update(Action::EpochPrev);
    assert_eq!(app.cm_epoch, Some(n - 2));
    assert_eq!(app.tab, DetailTab::Confusion);
    app.update(Action::EpochPrev);
    assert_eq!(app.cm_epoch, Some(n - 3));
    app.update(Action::EpochNext);
    app.update(Action::EpochNext);
    assert_eq!(app.cm_epoch, None, "back to following the latest");
    app.update(Action::EpochBest);
    // The best epoch on the run's own metric: the `best` checkpoint's.
    let best = app.selected_run().unwrap().best_epoch.unwrap();
    let shown = app.cm_index(app.selected_run().unwrap()).unwrap();
    assert_eq!(app.selected_run().unwrap().completed[shown].epoch, best);
}

#[test]
fn help_and_focus_and_mouse() {
    let dir = fixture_dir(3);
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 80,
        height: 24,
    });
    app.update(Action::ToggleHelp);
    assert!(app.help.is_some());
    app.update(Action::Back);
    assert!(app.help.is_none());
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Runs);
    app.update(Action::FocusPrev);
    app.update(Action::FocusPrev);
    assert_eq!(app.focus, Pane::Detail);
    // Click the third run row of the runs pane (border, header, then rows).
    let a = histoboard::tui::layout::main(app.size);
    app.update(Action::Click {
        col: a.runs.x + 5,
        row: a.runs.y + 4,
    });
    assert_eq!(app.focus, Pane::Runs);
    assert_eq!(app.run_sel, 2);
    app.update(Action::ScrollUp {
        col: a.runs.x + 5,
        row: a.runs.y + 4,
    });
    assert_eq!(app.run_sel, 1);
}

#[test]
fn slurm_launches_submit_a_whole_sweep_at_once() {
    let dir = fixture_dir(0);
    std::fs::write(
        dir.path().join("experiments/cluster.toml"),
        "launcher = \"slurm\"\n[train]\nepochs = 2\nlr = [1e-3, 5e-4, 2e-4]\n[slurm]\ngpus = 1\n",
    )
    .unwrap();
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "cluster");
    // The experiment's own launcher: one submission of every point, nothing in the queue.
    let effects = app.update(Action::Launch);
    let [Effect::Submit { experiments, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    let lrs: Vec<f64> = experiments.iter().map(|e| e.train.lr).collect();
    assert_eq!(lrs, vec![1e-3, 5e-4, 2e-4]);
    assert!(experiments.iter().all(|e| e.slurm.gpus == 1));
    assert!(app.queue.is_empty());
    // `S` sends a local experiment to Slurm too.
    select_experiment(&mut app, "small");
    let effects = app.update(Action::LaunchSlurm);
    assert!(
        matches!(effects.as_slice(), [Effect::Submit { experiments, .. }] if experiments.len() == 1),
        "{effects:?}"
    );
}

#[test]
fn slurm_states_show_and_a_dead_task_leaves_a_resumable_lost_run() {
    use histoboard::slurm::{JobState, SchedState};
    let dir = fixture_dir(1);
    let (id, live) = with_running_run(dir.path());
    let last = live.last_event_at.unwrap();
    let job = |state| JobState {
        state,
        reason: None,
        nodes: Some("gpu-07".into()),
    };
    // The scheduler's word is folded into the run state, as the runs collector does.
    let mut st = (*live).clone();
    st.apply_scheduler(Some(job(SchedState::Running).scheduled()));
    assert!(!st.check_lost(last + 1.0, 1e9));
    let mut app = load_app(dir.path());
    app.update(Action::RunsUpdated(vec![Arc::new(st.clone())]));
    app.now = last + 1.0;
    select_run(&mut app, &id);
    assert_eq!(app.selected_run().unwrap().status, RunStatus::Running);
    let screen = histoboard::tui::render_once(&app, 240, 40);
    assert!(screen.contains("slurm"), "{screen}");
    assert!(screen.contains("running on gpu-07"), "{screen}");

    // The node dies: Slurm says so, the stream stops. After the grace period the run is lost.
    st.apply_scheduler(Some(job(SchedState::NodeFail).scheduled()));
    assert!(
        !st.check_lost(last + 5.0, 1e9),
        "its last events may still be on the way"
    );
    assert_eq!(st.status, RunStatus::Running);
    assert!(st.check_lost(last + 60.0, 1e9));
    assert_eq!(st.status, RunStatus::Lost);
    app.update(Action::RunsUpdated(vec![Arc::new(st)]));
    assert_eq!(app.selected_run().unwrap().status, RunStatus::Lost);
    assert!(histoboard::tui::render_once(&app, 240, 40).contains("node failed on gpu-07"));
    assert_eq!(
        app.update(Action::Resume),
        vec![Effect::Resume { run_id: id }]
    );
}
