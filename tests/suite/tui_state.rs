//! Dashboard state transitions, driven through `App::update` without a terminal.

use std::path::Path;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use histoboard::experiment::LauncherKind;
use histoboard::runs::fixture::{
    fixture_cv_records, fixture_records, fixture_run_id, write_fixture_experiments,
    write_fixture_runs, write_run,
};
use histoboard::runs::{Record, RunMeta, RunState, RunStatus};
use histoboard::tui::action::{Action, DetailTab, Effect, Pane};
use histoboard::tui::app::{App, Confirm, RunRow, RunSort, SortKey};
use histoboard::tui::keymap;
use histoboard::tui::{experiments, load_app, render_once};

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
        [
            "run", "train.lr", "AUC", "acc", "loss", "ECE", "epochs", "time"
        ]
    );
    let lrs: Vec<&str> = table.rows.iter().map(|r| r.1[1].as_str()).collect();
    assert!(lrs.contains(&"1e-3") && lrs.contains(&"5e-4"), "{lrs:?}");
    assert!(table.rows.iter().all(|r| r.1[6] == "6/6"));

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
    // The form now edits the variant: its title and the runs it launches carry its name.
    let screen = histoboard::tui::render_once(&app, 100, 30);
    assert!(
        screen.contains("Edit baseline-2 (baseline-2.toml)"),
        "{screen}"
    );
    match app.update(Action::Launch).as_slice() {
        [Effect::Launch { experiment, .. }] => assert_eq!(experiment.name, "baseline-2"),
        other => panic!("expected a launch, got {other:?}"),
    }
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

fn ids(app: &App) -> Vec<String> {
    app.run_rows()
        .into_iter()
        .filter_map(|row| match row {
            RunRow::Run(i) => Some(app.runs[i].id.clone()),
            RunRow::Queued(_) => None,
            RunRow::Set(k) => Some(format!("set {}", app.cv_sets[k].name)),
        })
        .collect()
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Action::Char(c));
    }
}

fn message(app: &App) -> String {
    app.message.clone().map(|m| m.1).unwrap_or_default()
}

#[test]
fn slash_filters_the_runs_as_you_type_and_esc_clears() {
    let dir = fixture_dir(6);
    let mut app = load_app(dir.path());
    select_run(&mut app, &fixture_run_id(4));
    app.update(Action::StartFilter);
    type_text(&mut app, "lr");
    assert_eq!(app.run_filter, "lr", "narrows while typing");
    let shown = ids(&app);
    assert_eq!(shown.len(), 4, "{shown:?}");
    assert!(
        shown.iter().all(|id| id.starts_with("lr-sweep")),
        "{shown:?}"
    );
    assert_eq!(
        app.selected_run().unwrap().id,
        fixture_run_id(4),
        "the cursor stays on its run while it matches"
    );
    // Words must all match: the experiment and part of the id.
    type_text(&mut app, " 005");
    assert_eq!(ids(&app), [fixture_run_id(5)]);
    assert_eq!(app.selected_run().unwrap().id, fixture_run_id(5));
    app.update(Action::Back);
    assert!(app.prompt.is_none() && app.run_filter.is_empty());
    assert_eq!(app.row_count(), 6);

    // Status labels match too; Enter keeps the filter, Esc on the list drops it.
    app.update(Action::StartFilter);
    type_text(&mut app, "finished");
    app.update(Action::Submit);
    assert!(app.prompt.is_none());
    assert_eq!(app.row_count(), 6);
    app.update(Action::StartFilter);
    for _ in 0.."finished".len() {
        app.update(Action::Backspace);
    }
    type_text(&mut app, "running");
    app.update(Action::Submit);
    assert_eq!(app.row_count(), 0);
    assert!(app.selected_run().is_none());
    app.update(Action::Back);
    assert_eq!(app.row_count(), 6, "Esc on the list clears its filter");
}

#[test]
fn the_filter_reads_tags_and_notes_and_n_jumps_between_matches() {
    let dir = fixture_dir(6);
    let mut app = load_app(dir.path());
    for (i, note, tags) in [
        (1, "diverged in epoch 3", vec![]),
        (3, "", vec!["paper".to_string()]),
        (5, "the paper's figure 2", vec!["baseline".to_string()]),
    ] {
        app.update(Action::MetaSaved {
            run_id: fixture_run_id(i),
            result: Ok(RunMeta {
                note: note.into(),
                tags,
            }),
        });
    }
    app.update(Action::Focus(Pane::Runs));
    app.update(Action::StartFilter);
    type_text(&mut app, "paper");
    app.update(Action::Submit);
    let mut shown = ids(&app);
    shown.sort();
    assert_eq!(shown, [fixture_run_id(3), fixture_run_id(5)], "tag or note");
    app.update(Action::Back);
    app.update(Action::StartFilter);
    type_text(&mut app, "#paper");
    app.update(Action::Submit);
    assert_eq!(ids(&app), [fixture_run_id(3)], "#: tags only");
    app.update(Action::Back);

    app.update(Action::StartFilter);
    type_text(&mut app, "lr-sweep");
    app.update(Action::Submit);
    let shown = ids(&app);
    assert_eq!(shown.len(), 4);
    assert_eq!(app.run_sel, 0);
    app.update(Action::NextMatch);
    assert_eq!(app.run_sel, 1);
    app.update(Action::PrevMatch);
    app.update(Action::PrevMatch);
    assert_eq!(app.run_sel, 3, "N wraps round to the last match");
    app.update(Action::NextMatch);
    assert_eq!(app.run_sel, 0, "n wraps round to the first");
    app.update(Action::Back);
    app.update(Action::NextMatch);
    assert!(message(&app).contains("no filter"), "{}", message(&app));
}

#[test]
fn slash_filters_the_experiments_by_name() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::StartFilter);
    type_text(&mut app, "SM");
    assert_eq!(app.exp_rows().len(), 1);
    assert_eq!(app.selected_experiment().unwrap().name, "small");
    app.update(Action::Submit);
    // Launching acts on what is selected in the filtered list.
    let effects = app.update(Action::Launch);
    match effects.as_slice() {
        [Effect::Launch { experiment, .. }] => assert_eq!(experiment.name, "small"),
        other => panic!("{other:?}"),
    }
    app.update(Action::Back);
    assert!(app.exp_filter.is_empty());
    assert_eq!(app.exp_rows().len(), app.experiments.len());
    assert_eq!(app.selected_experiment().unwrap().name, "small");
}

#[test]
fn runs_sort_by_any_column_and_the_sort_is_remembered() {
    use histoboard::tui::prefs;
    let dir = fixture_dir(6);
    let mut app = load_app(dir.path());
    assert_eq!(app.run_sort, RunSort::default());
    let newest: Vec<String> = (0..6).rev().map(fixture_run_id).collect();
    assert_eq!(ids(&app), newest, "newest first by default");
    select_run(&mut app, &fixture_run_id(2));

    let mut saved = None;
    let mut sort_to = |app: &mut App, key: SortKey| {
        while app.run_sort.key != key {
            let effects = app.update(Action::SortNext);
            let [Effect::SaveUi(p)] = effects.as_slice() else {
                panic!("{effects:?}")
            };
            saved = Some(*p);
        }
    };
    sort_to(&mut app, SortKey::Auc);
    let aucs: Vec<f64> = app
        .runs
        .iter()
        .map(|r| r.best_valid_auc().unwrap())
        .collect();
    assert!(
        aucs.windows(2).all(|w| w[0] >= w[1]),
        "best first: {aucs:?}"
    );
    assert_eq!(
        app.selected_run().unwrap().id,
        fixture_run_id(2),
        "the cursor follows its run"
    );
    let effects = app.update(Action::SortReverse);
    let [Effect::SaveUi(p)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(p.run_sort(), app.run_sort);
    let aucs: Vec<f64> = app
        .runs
        .iter()
        .map(|r| r.best_valid_auc().unwrap())
        .collect();
    assert!(aucs.windows(2).all(|w| w[0] <= w[1]), "reversed: {aucs:?}");
    sort_to(&mut app, SortKey::Name);
    let mut by_name = newest.clone();
    by_name.sort();
    assert_eq!(ids(&app), by_name);
    sort_to(&mut app, SortKey::Experiment);
    let exps: Vec<String> = app.runs.iter().map(|r| r.experiment.clone()).collect();
    assert_eq!(exps[..2], ["baseline", "baseline"]);

    // The shell writes what the app asked; the next dashboard opens sorted the same way.
    let p = saved.unwrap();
    prefs::save(dir.path(), &p).unwrap();
    let again = load_app(dir.path());
    assert_eq!(again.run_sort, p.run_sort());
    assert_eq!(ids(&again), ids(&app));

    // A broken file: defaults, said in the status line, no crash.
    std::fs::write(prefs::path(dir.path()), "[runs\nsort = 3").unwrap();
    let broken = load_app(dir.path());
    assert_eq!(broken.run_sort, RunSort::default());
    assert!(message(&broken).contains("ui.toml"), "{}", message(&broken));
}

#[test]
fn archive_and_delete_ask_first_and_never_touch_a_live_run() {
    use histoboard::tui::shell;
    let dir = fixture_dir(3);
    let runs_dir = dir.path().join("runs");
    let (live_id, live) = with_running_run(dir.path());
    let mut app = load_app(dir.path());
    app.update(Action::RunsUpdated(vec![live.clone()]));

    // A live run is refused with the reason, before any question.
    select_run(&mut app, &live_id);
    assert!(app.update(Action::Archive).is_empty());
    assert!(app.update(Action::Delete).is_empty());
    assert!(app.confirm.is_none());
    let (is_err, msg) = app.message.clone().unwrap();
    assert!(is_err && msg.contains("running: cancel it first"), "{msg}");
    // So is a marked set that holds one.
    app.update(Action::ToggleMark);
    select_run(&mut app, &fixture_run_id(0));
    app.update(Action::ToggleMark);
    assert!(app.update(Action::Archive).is_empty());
    select_run(&mut app, &live_id);
    app.update(Action::ToggleMark);

    // The marked runs go when some are marked: the shell measures them, the app asks.
    select_run(&mut app, &fixture_run_id(1));
    app.update(Action::ToggleMark);
    // In the list's order (newest first).
    let marked = vec![fixture_run_id(1), fixture_run_id(0)];
    let effects = app.update(Action::Archive);
    assert_eq!(
        effects,
        vec![Effect::DescribePrune {
            ids: marked.clone(),
            delete: false
        }]
    );
    let what = histoboard::runs::prune::describe(&runs_dir, &marked);
    assert!(what.starts_with("2 runs, "), "{what}");
    app.update(Action::PruneDescribed {
        ids: marked.clone(),
        delete: false,
        what,
    });
    let question = app.confirm.as_ref().unwrap().question();
    assert!(
        question.starts_with("Archive 2 runs, ")
            && question.ends_with("? They leave the list and stay in runs/.archive/"),
        "{question}"
    );
    assert!(app.update(Action::No).is_empty(), "no: nothing happens");
    app.update(Action::PruneDescribed {
        ids: marked.clone(),
        delete: false,
        what: "2 runs, 1 kB".into(),
    });
    let effects = app.update(Action::Yes);
    let [
        Effect::Prune {
            runs,
            delete: false,
        },
    ] = effects.as_slice()
    else {
        panic!("{effects:?}")
    };
    let outcome = shell::prune_runs(&runs_dir, runs, false);
    app.update(outcome);
    for id in &marked {
        assert!(runs_dir.join(".archive").join(id).is_dir(), "{id} archived");
        assert!(!runs_dir.join(id).exists());
        assert!(app.runs.iter().all(|r| &r.id != id), "{id} left the list");
    }
    assert!(app.marked.is_empty());
    assert_eq!(message(&app), "archived 2 runs to runs/.archive/");

    // Delete, the selected run: said for good, and gone.
    select_run(&mut app, &fixture_run_id(2));
    let effects = app.update(Action::Delete);
    let ids = vec![fixture_run_id(2)];
    assert_eq!(
        effects,
        vec![Effect::DescribePrune {
            ids: ids.clone(),
            delete: true
        }]
    );
    let what = histoboard::runs::prune::describe(&runs_dir, &ids);
    app.update(Action::PruneDescribed {
        ids,
        delete: true,
        what,
    });
    let question = app.confirm.as_ref().unwrap().question();
    assert!(
        question.starts_with("Delete 1 run, ") && question.ends_with(" for good?"),
        "{question}"
    );
    let effects = app.update(Action::Yes);
    let [Effect::Prune { runs, delete: true }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    app.update(shell::prune_runs(&runs_dir, runs, true));
    assert!(!runs_dir.join(fixture_run_id(2)).exists());
    assert!(
        message(&app).starts_with("deleted 1 run, "),
        "{}",
        message(&app)
    );
    assert!(message(&app).ends_with(" freed"), "{}", message(&app));

    // `prune` itself refuses a live run, whatever asks it.
    let Action::Pruned { gone, errors, .. } = shell::prune_runs(&runs_dir, &[live], true) else {
        panic!()
    };
    assert!(gone.is_empty());
    assert!(errors[0].contains("cancel it first"), "{errors:?}");
    assert!(runs_dir.join(&live_id).is_dir());
}

#[test]
fn a_run_that_comes_alive_before_yes_is_not_pruned() {
    let dir = fixture_dir(1);
    let mut app = load_app(dir.path());
    let id = fixture_run_id(0);
    select_run(&mut app, &id);
    app.update(Action::Archive);
    app.update(Action::PruneDescribed {
        ids: vec![id.clone()],
        delete: false,
        what: "1 run, 1 kB".into(),
    });
    // Resumed elsewhere while the question was open.
    let mut resumed = (*app.runs[0]).clone();
    resumed.status = RunStatus::Running;
    app.update(Action::RunsUpdated(vec![Arc::new(resumed)]));
    assert!(app.update(Action::Yes).is_empty());
    assert!(
        message(&app).contains("cancel it first"),
        "{}",
        message(&app)
    );
}

#[test]
fn notes_and_tags_are_typed_saved_and_compared() {
    use histoboard::tui::shell;
    let dir = fixture_dir(3);
    let runs_dir = dir.path().join("runs");
    let mut app = load_app(dir.path());
    let id = fixture_run_id(1);
    select_run(&mut app, &id);

    app.update(Action::EditNote);
    assert_eq!(
        app.prompt.as_ref().unwrap().text,
        "",
        "prefilled: no note yet"
    );
    type_text(&mut app, "lr too high, diverged");
    let effects = app.update(Action::Submit);
    let [Effect::SaveMeta { run_id, meta }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(run_id, &id);
    assert_eq!(meta.note, "lr too high, diverged");
    app.update(shell::save_meta(&runs_dir, run_id.clone(), meta.clone()));
    assert_eq!(
        app.selected_run().unwrap().meta.note,
        "lr too high, diverged"
    );
    assert_eq!(
        RunMeta::read(&runs_dir.join(&id)).unwrap().note,
        "lr too high, diverged"
    );

    // Tags: refused on the spot with the reason, the input kept to correct.
    app.update(Action::EditTags);
    type_text(&mut app, "baseline, bad/tag");
    assert!(app.update(Action::Submit).is_empty());
    let p = app.prompt.as_ref().expect("stays open");
    assert!(p.error.as_ref().unwrap().contains("bad/tag"), "{p:?}");
    for _ in 0.."bad/tag".len() {
        app.update(Action::Backspace);
    }
    type_text(&mut app, "#paper");
    let effects = app.update(Action::Submit);
    let [Effect::SaveMeta { run_id, meta }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(meta.tags, ["baseline", "paper"]);
    assert_eq!(meta.note, "lr too high, diverged", "the note stays");
    app.update(shell::save_meta(&runs_dir, run_id.clone(), meta.clone()));
    app.update(Action::EditTags);
    assert_eq!(app.prompt.as_ref().unwrap().text, "baseline, paper");
    assert!(
        app.update(Action::Submit).is_empty(),
        "unchanged: nothing written"
    );
    // Esc leaves a note as it was.
    app.update(Action::EditNote);
    type_text(&mut app, " and more");
    assert!(app.update(Action::Back).is_empty());
    assert_eq!(
        app.selected_run().unwrap().meta.note,
        "lr too high, diverged"
    );

    // Compare (and so the CSV export) gets a tags and a note column.
    select_run(&mut app, &fixture_run_id(0));
    app.update(Action::ToggleMark);
    select_run(&mut app, &id);
    app.update(Action::ToggleMark);
    app.update(Action::OpenCompare);
    let table = app.compare_table();
    let n = table.columns.len();
    assert_eq!(table.columns[n - 2..], ["tags", "note"]);
    let row = &table.rows.iter().find(|r| r.0 == id).unwrap().1;
    assert_eq!(row[n - 2..], ["baseline, paper", "lr too high, diverged"]);
    let other = &table.rows.iter().find(|r| r.0 != id).unwrap().1;
    assert_eq!(other[n - 2..], ["", ""]);
    let csv = table.to_csv();
    assert!(csv.contains("\"lr too high, diverged\""), "{csv}");
    let time = table.columns.iter().position(|c| c == "time").unwrap();
    assert!(row[time].ends_with('s'), "time still in words: {row:?}");
}

#[test]
fn the_status_line_follows_a_cancelled_or_resumed_run() {
    let dir = fixture_dir(1);
    let (id, live) = with_running_run(dir.path());
    let mut app = load_app(dir.path());
    app.update(Action::RunsUpdated(vec![live.clone()]));
    select_run(&mut app, &id);
    app.update(Action::Cancel);
    app.update(Action::Yes);
    assert_eq!(message(&app), format!("cancelling {id}"));
    // Still running: the message stands.
    app.update(Action::RunsUpdated(vec![live.clone()]));
    assert_eq!(message(&app), format!("cancelling {id}"));
    let mut cancelled = (*live).clone();
    cancelled.status = RunStatus::Cancelled;
    app.update(Action::RunsUpdated(vec![Arc::new(cancelled.clone())]));
    assert_eq!(message(&app), format!("{id}: cancelled"));

    // Resume: the shell's word, then the run's own.
    app.update(Action::Resume);
    assert_eq!(message(&app), format!("resuming {id}"));
    app.update(Action::Outcome(Ok(format!("resuming {id}"))));
    let mut queued = cancelled.clone();
    queued.status = RunStatus::Queued;
    app.update(Action::RunsUpdated(vec![Arc::new(queued)]));
    assert_eq!(message(&app), format!("{id}: queued"));
    app.update(Action::RunsUpdated(vec![live.clone()]));
    assert_eq!(message(&app), format!("{id}: running"));
    // Another message since is left alone.
    app.update(Action::Notice("something else".into()));
    app.update(Action::RunsUpdated(vec![Arc::new(cancelled)]));
    assert_eq!(message(&app), "something else");
}

#[test]
fn gg_g_and_half_pages_move_through_lists() {
    let dir = fixture_dir(30);
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 80,
        height: 24,
    });
    app.update(Action::Focus(Pane::Runs));
    let rows =
        histoboard::tui::layout::visible_rows(histoboard::tui::layout::main(app.size).runs, 1);
    app.update(Action::HalfPageDown);
    assert_eq!(app.run_sel, rows / 2);
    app.update(Action::HalfPageDown);
    assert_eq!(app.run_sel, 2 * (rows / 2));
    app.update(Action::HalfPageUp);
    assert_eq!(app.run_sel, rows / 2);
    app.update(Action::Bottom);
    assert_eq!(app.run_sel, 29);
    // `gg`: each g goes to the top.
    app.update(Action::Top);
    app.update(Action::Top);
    assert_eq!(app.run_sel, 0);
    app.update(Action::Focus(Pane::Experiments));
    app.update(Action::Bottom);
    assert_eq!(app.exp_sel, app.experiments.len() - 1);
    app.update(Action::HalfPageUp);
    assert_eq!(app.exp_sel, 0);
}

#[test]
fn an_unknown_key_says_so() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    assert!(app.update(Action::UnknownKey("x".into())).is_empty());
    assert_eq!(
        app.message,
        Some((true, "x: no such key here; ? for help".into()))
    );
}

/// The action a key press means where the app is now, as the shell looks it up.
fn key(app: &App, code: KeyCode, mods: KeyModifiers) -> Option<Action> {
    keymap::lookup(&app.keys, app.ctx(), &KeyEvent::new(code, mods))
}

fn press(app: &mut App, c: char) -> Vec<Effect> {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    let action = key(app, KeyCode::Char(c), mods).unwrap_or_else(|| panic!("{c:?} is unbound"));
    app.update(action)
}

#[test]
fn clicking_any_letter_of_a_tab_title_opens_that_tab() {
    let dir = fixture_dir(1);
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 120,
        height: 36,
    });
    select_run(&mut app, &fixture_run_id(0));
    let screen = render_once(&app, 120, 36);
    let (row, line) = screen
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("1 Curves |2 Confusion"))
        .expect("tab bar drawn");
    for tab in DetailTab::ALL {
        let title = tab.title();
        let at = line.find(title).expect("title on the bar");
        // Every column of the title, as drawn (the bar is ASCII).
        for col in at..at + title.len() {
            app.update(Action::Tab(DetailTab::Curves));
            app.update(Action::Click {
                col: col as u16,
                row: row as u16,
            });
            assert_eq!(app.tab, tab, "column {col} ({:?})", &line[col..col + 1]);
        }
    }
}

#[test]
fn config_scrolls_to_its_last_line_and_no_further() {
    let dir = fixture_dir(1);
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 120,
        height: 36,
    });
    select_run(&mut app, &fixture_run_id(0));
    app.update(Action::Tab(DetailTab::Config));
    app.update(Action::Focus(Pane::Detail));
    let last = app
        .selected_run()
        .unwrap()
        .config
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .to_string();
    app.update(Action::Bottom);
    let at_end = app.detail_scroll;
    assert!(at_end > 0, "the configuration is longer than the pane");
    let screen = render_once(&app, 120, 36);
    assert!(
        screen.contains(&last),
        "G shows the last line {last:?}:\n{screen}"
    );
    app.update(Action::Down);
    app.update(Action::PageDown);
    assert_eq!(app.detail_scroll, at_end, "j stops at the end");
    app.update(Action::Up);
    assert_eq!(app.detail_scroll, at_end - 1, "and k moves back at once");
    app.update(Action::Top);
    assert_eq!(app.detail_scroll, 0);
}

#[test]
fn the_log_scrolls_back_from_its_newest_line_within_bounds() {
    let dir = fixture_dir(0);
    write_fixture_runs(dir.path(), 1, 20).unwrap();
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 80,
        height: 24,
    });
    select_run(&mut app, &fixture_run_id(0));
    app.update(Action::Tab(DetailTab::Log));
    app.update(Action::Focus(Pane::Detail));
    app.update(Action::Top);
    let back = app.detail_scroll;
    assert!(back > 0, "the log is longer than the pane");
    let screen = render_once(&app, 80, 24);
    assert!(
        screen.contains("started: 20 epochs"),
        "g shows the first line:\n{screen}"
    );
    app.update(Action::Up);
    assert_eq!(
        app.detail_scroll, back,
        "no further back than the first line"
    );
    app.update(Action::Down);
    assert_eq!(app.detail_scroll, back - 1, "j goes towards the newest");
    app.update(Action::Bottom);
    assert_eq!(app.detail_scroll, 0);
    let screen = render_once(&app, 80, 24);
    assert!(screen.contains("finished (completed)"), "{screen}");
}

#[test]
fn g_and_big_g_jump_in_help_and_in_the_form() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 100,
        height: 30,
    });
    app.update(Action::ToggleHelp);
    press(&mut app, 'G');
    let end = app.help.unwrap();
    assert!(end > 0, "help is longer than the screen");
    press(&mut app, 'j');
    assert_eq!(app.help, Some(end), "no scrolling past the end");
    press(&mut app, 'k');
    assert_eq!(app.help, Some(end - 1));
    press(&mut app, 'g');
    assert_eq!(app.help, Some(0));
    app.update(Action::Back);

    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    press(&mut app, 'G');
    let form = app.form.as_ref().unwrap();
    assert_eq!(form.selected, form.fields.len() - 1);
    press(&mut app, 'g');
    assert_eq!(app.form.as_ref().unwrap().selected, 0);
}

#[test]
fn the_best_epoch_key_works_where_the_epoch_keys_do() {
    let dir = fixture_dir(1);
    let mut app = load_app(dir.path());
    select_run(&mut app, &fixture_run_id(0));
    assert_eq!(app.focus, Pane::Runs);
    press(&mut app, '[');
    press(&mut app, '[');
    assert!(app.cm_epoch.is_some());
    press(&mut app, 'b');
    let run = app.selected_run().unwrap();
    let shown = app.cm_index(run).unwrap();
    assert_eq!(Some(run.completed[shown].epoch), run.best_epoch);
    assert_eq!(app.tab, DetailTab::Confusion);
}

/// Types `text` into the form's selected field (after clearing it) and submits it.
fn type_value(app: &mut App, field: &str, text: &str) -> (bool, String) {
    let form = app.form.as_mut().unwrap();
    form.selected = form.fields.iter().position(|f| f.key == field).unwrap();
    app.update(Action::EditValue);
    // Ctrl-U clears what is there, as in a shell.
    let clear = key(app, KeyCode::Char('u'), KeyModifiers::CONTROL).expect("C-u bound");
    app.update(clear);
    assert_eq!(app.form.as_ref().unwrap().editing.as_deref(), Some(""));
    for c in text.chars() {
        app.update(Action::Char(c));
    }
    app.update(Action::Submit);
    let form = app.form.as_mut().unwrap();
    let msg = form.message.clone().unwrap();
    form.editing = None;
    msg
}

#[test]
fn form_messages_state_the_real_bound_compactly() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    let (err, negative) = type_value(&mut app, "train.epochs", "-3");
    assert!(err);
    let (_, zero) = type_value(&mut app, "train.epochs", "0");
    assert_eq!(
        negative,
        "invalid `train.epochs`: must be at least 1, got -3"
    );
    assert_eq!(zero, "invalid `train.epochs`: must be at least 1, got 0");
    let (_, patience) = type_value(&mut app, "train.early_stopping.patience", "-1");
    assert!(
        patience.contains("must be at least 0, got -1"),
        "{patience}"
    );

    let (err, typo) = type_value(&mut app, "train.epochs", "5e-45");
    assert!(err && typo.contains("(5e-45)"), "{typo}");
    let (err, typo) = type_value(&mut app, "train.lr", "-5e-45");
    assert!(err && typo.ends_with("got -5e-45"), "{typo}");
    assert!(typo.len() < 60, "{typo}");
}

#[test]
fn a_very_high_learning_rate_is_taken_with_a_warning() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    select_experiment(&mut app, "baseline");
    app.update(Action::Edit);
    let (err, msg) = type_value(&mut app, "train.lr", "2");
    assert!(!err, "{msg}");
    let form = app.form.as_ref().unwrap();
    assert_eq!(form.experiment.train.lr, 2.0, "accepted");
    let warning = form.warning.clone().expect("warned");
    assert!(
        warning.contains("unusually high learning rate"),
        "{warning}"
    );
    let screen = render_once(&app, 100, 30);
    assert!(screen.contains("unusually high"), "{screen}");
    let (_, _) = type_value(&mut app, "train.lr", "5e-4");
    assert!(app.form.as_ref().unwrap().warning.is_none());
}

#[test]
fn chart_keys_smooth_and_rescale_every_chart() {
    let dir = fixture_dir(2);
    let mut app = load_app(dir.path());
    select_run(&mut app, &fixture_run_id(0));
    app.update(Action::Tab(DetailTab::Log));
    press(&mut app, 'z');
    assert_eq!(app.charts.smoothing, 0.6);
    assert_eq!(app.tab, DetailTab::Curves, "shows what changed");
    press(&mut app, 'z');
    press(&mut app, 'Z');
    assert_eq!(app.charts.smoothing, 0.6);
    press(&mut app, 'y');
    assert!(app.charts.log_loss);
    let screen = render_once(&app, 120, 36);
    assert!(screen.contains("[smoothing 0.6, log loss]"), "{screen}");
    assert!(
        screen.contains("loss") && screen.contains("(log)"),
        "{screen}"
    );
    // The comparison's charts follow the same keys.
    for i in [0, 1] {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    app.update(Action::OpenCompare);
    press(&mut app, 'y');
    assert!(!app.charts.log_loss);
    press(&mut app, 'Z');
    assert_eq!(app.charts.smoothing, 0.0);
}

#[test]
fn export_writes_what_is_on_screen() {
    let dir = fixture_dir(3);
    let mut app = load_app(dir.path());
    app.now = histoboard::runs::fixture::T0;
    select_run(&mut app, &fixture_run_id(1));
    let effects = press(&mut app, 'x');
    let [Effect::Export { runs, dir: out }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [fixture_run_id(1)], "the selected run");
    assert_eq!(out, &dir.path().join("exports/20231114-221320"));
    // The shell's work: the files land where the effect says.
    let refs: Vec<&RunState> = runs.iter().map(|r| &**r).collect();
    let files = histoboard::export::write_all(&refs, out, app.now).unwrap();
    assert!(files.iter().any(|f| f.ends_with("curves.png")), "{files:?}");

    // Marked runs, from the list or the comparison.
    for i in [0, 2] {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    app.update(Action::OpenCompare);
    let effects = press(&mut app, 'x');
    let [Effect::Export { runs, .. }] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    let mut ids: Vec<String> = runs.iter().map(|r| r.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, [fixture_run_id(0), fixture_run_id(2)]);

    // The shell reports where; the status line shows it.
    app.update(Action::Back);
    let done = "exported to exports/20231114-221320/ (2 run(s), 9 files)";
    app.update(Action::Outcome(Ok(done.into())));
    // All of it, even at 80 columns.
    let screen = render_once(&app, 80, 24);
    assert!(screen.lines().next().unwrap().contains(done), "{screen}");
}

#[test]
fn the_cancel_dialog_says_what_cancelling_keeps() {
    let q = Confirm::CancelRun { run_id: "r".into() }.question();
    assert!(!q.contains("checkpoints first"), "{q}");
    assert!(q.contains("epoch under way is dropped"), "{q}");
    assert!(q.contains("repeats the dropped epoch exactly"), "{q}");
}

#[test]
fn new_keys_are_in_the_help() {
    let dir = fixture_dir(0);
    let mut app = load_app(dir.path());
    app.update(Action::Resize {
        width: 100,
        height: 60,
    });
    app.update(Action::ToggleHelp);
    let mut text = String::new();
    // Scroll through the whole overlay.
    for _ in 0..6 {
        text.push_str(&render_once(&app, 100, 60));
        app.update(Action::PageDown);
        app.update(Action::PageDown);
    }
    for want in [
        "more smoothing",
        "log / linear scale",
        "export charts",
        "clear the text",
        "best / latest epoch",
        "last field",
    ] {
        assert!(text.contains(want), "help misses {want:?}");
    }
}

/// Folds 0..`n` of a 3-fold cross-validation, finished, folded into the app's runs.
fn cv_folds(app: &mut App, n: usize, folds: usize) -> Vec<String> {
    let runs: Vec<Arc<RunState>> = (0..n)
        .map(|k| {
            let (id, records) = fixture_cv_records(k, folds, 4, 4);
            Arc::new(RunState::folded(id, "", &records))
        })
        .collect();
    let ids = runs.iter().map(|r| r.id.clone()).collect();
    app.update(Action::RunsUpdated(runs));
    ids
}

fn set_row(app: &App) -> usize {
    app.run_rows()
        .iter()
        .position(|r| matches!(r, RunRow::Set(_)))
        .expect("a set row")
}

#[test]
fn a_cv_set_groups_its_folds_under_one_row_that_opens_and_closes() {
    let dir = fixture_dir(2);
    let mut app = load_app(dir.path());
    let folds = cv_folds(&mut app, 3, 3);
    assert_eq!(app.cv_sets.len(), 1);
    assert_eq!(app.cv_sets[0].runs, folds);
    // Closed: one row for three runs.
    assert_eq!(ids(&app).len(), 3, "{:?}", ids(&app));
    assert!(ids(&app).contains(&"set cv".to_string()));
    app.update(Action::Focus(Pane::Runs));
    app.run_sel = set_row(&app);
    assert!(app.selected_set().is_some() && app.selected_run().is_none());
    app.update(Action::ToggleSet);
    let open = ids(&app);
    let at = open.iter().position(|i| i == "set cv").unwrap();
    assert_eq!(open[at + 1..at + 4], folds[..], "{open:?}");
    // `o` on a fold closes its set, the cursor back on the set's row.
    app.run_sel = at + 2;
    assert_eq!(app.selected_run().unwrap().id, folds[1]);
    app.update(Action::ToggleSet);
    assert_eq!(ids(&app).len(), 3);
    assert_eq!(app.run_sel, set_row(&app));
    // Export from the set's row takes its folds.
    assert_eq!(app.export_runs().len(), 3);
    // `m` on the set marks every fold, again unmarks them.
    app.update(Action::ToggleMark);
    assert_eq!(app.marked.iter().cloned().collect::<Vec<_>>(), folds);
    app.update(Action::ToggleMark);
    assert!(app.marked.is_empty());
    // What acts on one run asks for one.
    app.update(Action::Cancel);
    assert!(app.confirm.is_none());
    assert!(
        app.message.as_ref().unwrap().1.contains("CV set"),
        "{:?}",
        app.message
    );
    // The key is in the table help is drawn from.
    assert!(
        app.keys
            .iter()
            .any(|b| b.action == Action::ToggleSet && b.ctx == keymap::Ctx::Runs)
    );
}

#[test]
fn a_filter_keeps_a_set_whose_folds_match_and_a_lone_fold_is_no_set() {
    let dir = fixture_dir(2);
    let mut app = load_app(dir.path());
    cv_folds(&mut app, 1, 3);
    assert!(app.cv_sets.is_empty(), "one fold is just a run");
    let folds = cv_folds(&mut app, 2, 3);
    assert_eq!(app.cv_sets.len(), 1);
    app.update(Action::Focus(Pane::Runs));
    app.update(Action::StartFilter);
    type_text(&mut app, "fold-1");
    app.update(Action::Submit);
    assert_eq!(ids(&app), ["set cv"]);
    app.run_sel = 0;
    app.update(Action::ToggleSet);
    assert_eq!(ids(&app), ["set cv".to_string(), folds[1].clone()]);
}

#[test]
fn comparing_a_complete_cv_set_asks_the_shell_for_its_out_of_fold_auc() {
    let dir = fixture_dir(2);
    let mut app = load_app(dir.path());
    let folds = cv_folds(&mut app, 3, 3);
    app.update(Action::Focus(Pane::Runs));
    app.run_sel = set_row(&app);
    app.update(Action::ToggleMark);
    let effects = app.update(Action::OpenCompare);
    let Some(Effect::ReadOof { runs }) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(runs.len(), 3);
    let table = app.compare_table();
    assert_eq!(table.rows.len(), 1);
    let col = |name: &str| table.columns.iter().position(|c| c == name).unwrap();
    let row = &table.rows[0].1;
    assert_eq!(row[0], "cv (3 folds)");
    assert!(row[col("AUC")].contains('±'), "{row:?}");
    assert_eq!(row[col("epochs")], "3/3 folds");
    assert_eq!(row[col("OOF AUC")], "-");
    let set_id = table.rows[0].0.clone();
    assert_eq!(set_id, folds[0]);
    app.update(Action::OofRead([(set_id, 0.9321)].into_iter().collect()));
    let table = app.compare_table();
    assert_eq!(table.rows[0].1[col("OOF AUC")], "0.9321");
    // Unmarking the set's row unmarks its folds and closes the comparison.
    app.update(Action::ToggleMark);
    assert!(app.marked.is_empty() && app.compare.is_none());
}
