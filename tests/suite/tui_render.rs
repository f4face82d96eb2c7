//! Every pane rendered with ratatui's `TestBackend` from deterministic fixture runs,
//! compared with committed insta snapshots (tests/suite/snapshots/).

use std::path::PathBuf;

use histoboard::runs::Event;
use histoboard::runs::RunState;
use histoboard::runs::fixture::{
    T0, fixture_cv_records, fixture_records, fixture_run_id, write_fixture_experiments,
    write_fixture_runs, write_run,
};
use histoboard::tui::action::{Action, DetailTab, Pane};
use histoboard::tui::app::{App, RunRow};
use histoboard::tui::{load_app, render_once, ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::sync::Arc;

/// Three finished runs, one running, and the fixture experiments; the clock fixed.
fn app(width: u16, height: u16) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_fixture_experiments(dir.path()).unwrap();
    write_fixture_runs(dir.path(), 3, 8).unwrap();
    let mut running = fixture_records(3, 8, 4);
    if let Event::Started { run_id, .. } = &mut running[0].event {
        *run_id = "baseline-live".into();
    }
    write_run(dir.path(), "baseline-live", &running).unwrap();
    let mut app = load_app(dir.path());
    // On disk its trainer is long gone, so the watcher rightly calls it lost; fold the
    // same events directly to show it live.
    app.update(Action::RunsUpdated(vec![Arc::new(RunState::folded(
        "baseline-live",
        "",
        &running,
    ))]));
    // The header shows the folder: keep the temporary path out of snapshots.
    app.dir = PathBuf::from("/srv/pcam");
    let last = running.last().unwrap().t;
    app.update(Action::Tick(last + 3.0));
    app.update(Action::Resize { width, height });
    (dir, app)
}

fn select_run(app: &mut App, id: &str) {
    app.update(Action::Focus(Pane::Runs));
    app.run_sel = app.runs.iter().position(|r| r.id == id).unwrap();
}

#[test]
fn experiments_pane_80x24() {
    let (_d, app) = app(80, 24);
    insta::assert_snapshot!("experiments_80x24", render_once(&app, 80, 24));
}

#[test]
fn invalid_experiment_shows_line_and_column() {
    let (_d, mut app) = app(80, 24);
    app.exp_sel = app
        .experiments
        .iter()
        .position(|e| e.name == "broken")
        .unwrap();
    let screen = render_once(&app, 80, 24);
    assert!(screen.contains("line 5:"), "{screen}");
    insta::assert_snapshot!("invalid_experiment_80x24", screen);
}

#[test]
fn run_detail_tabs_80x24() {
    let (_d, mut app) = app(80, 24);
    select_run(&mut app, "baseline-live");
    for tab in DetailTab::ALL {
        app.update(Action::Tab(tab));
        insta::assert_snapshot!(
            format!("run_{}_80x24", tab.title().to_lowercase()),
            render_once(&app, 80, 24)
        );
    }
}

#[test]
fn a_damaged_run_is_flagged_in_the_list_and_explained_in_its_log() {
    let (_d, mut app) = app(100, 30);
    let id = fixture_run_id(1);
    let mut view = (**app.runs.iter().find(|r| r.id == id).unwrap()).clone();
    view.problems = vec![
        "runs/x/events.jsonl:7: malformed event: expected value at line 1 column 1".into(),
        "runs/x/config.toml is missing: the run cannot be resumed or evaluated".into(),
    ];
    view.problem_count = 3;
    app.update(Action::RunsUpdated(vec![Arc::new(view)]));
    select_run(&mut app, &id);
    app.update(Action::Tab(DetailTab::Log));
    let screen = render_once(&app, 100, 30);
    let row = screen.lines().find(|l| l.contains(&id)).unwrap();
    assert!(row.contains("! finished"), "flagged in the list: {row}");
    assert!(screen.contains("3 problems in its folder"), "{screen}");
    assert!(
        screen.contains("! runs/x/events.jsonl:7: malformed event"),
        "{screen}"
    );
    assert!(screen.contains("and 1 more"), "{screen}");
    insta::assert_snapshot!("damaged_run_log_100x30", screen);
}

#[test]
fn finished_run_confusion_at_an_earlier_epoch() {
    let (_d, mut app) = app(100, 30);
    select_run(&mut app, &fixture_run_id(1));
    app.update(Action::EpochPrev);
    app.update(Action::EpochPrev);
    let screen = render_once(&app, 100, 30);
    assert!(screen.contains("epoch 6/8"), "{screen}");
    insta::assert_snapshot!("confusion_epoch6_100x30", screen);
}

#[test]
fn large_screen_uses_the_space() {
    let (_d, mut app) = app(200, 60);
    select_run(&mut app, "baseline-live");
    insta::assert_snapshot!("curves_200x60", render_once(&app, 200, 60));
}

#[test]
fn comparison_view() {
    let (_d, mut app) = app(120, 40);
    for i in 0..3 {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    let runs_screen = render_once(&app, 120, 40);
    assert_eq!(runs_screen.matches('●').count(), 3, "{runs_screen}");
    app.update(Action::OpenCompare);
    app.update(Action::SortNext);
    insta::assert_snapshot!("compare_120x40", render_once(&app, 120, 40));
}

#[test]
fn form_help_and_confirm_overlays() {
    let (_d, mut app) = app(100, 30);
    app.exp_sel = app
        .experiments
        .iter()
        .position(|e| e.name == "baseline")
        .unwrap();
    app.update(Action::Edit);
    app.update(Action::StepDown);
    insta::assert_snapshot!("form_100x30", render_once(&app, 100, 30));
    app.update(Action::Back);
    app.update(Action::ToggleHelp);
    insta::assert_snapshot!("help_100x30", render_once(&app, 100, 30));
    app.update(Action::Back);
    select_run(&mut app, "baseline-live");
    app.update(Action::Cancel);
    insta::assert_snapshot!("confirm_cancel_100x30", render_once(&app, 100, 30));
}

#[test]
fn ascii_mode_draws_only_ascii() {
    let (_d, mut app) = app(100, 30);
    app.ascii = true;
    select_run(&mut app, "baseline-live");
    for tab in DetailTab::ALL {
        app.update(Action::Tab(tab));
        let screen = render_once(&app, 100, 30);
        // Chart markers too: `•` and braille become ASCII.
        let bad: Vec<char> = screen.chars().filter(|c| !c.is_ascii()).collect();
        assert!(bad.is_empty(), "{tab:?}: {bad:?}\n{screen}");
    }
    app.update(Action::Tab(DetailTab::Curves));
    insta::assert_snapshot!("ascii_curves_100x30", render_once(&app, 100, 30));
    // Without colour either, the series keep apart by their ASCII markers and the legend.
    app.no_color = true;
    app.update(Action::SmoothMore);
    let screen = render_once(&app, 100, 30);
    let bad: Vec<char> = screen.chars().filter(|c| !c.is_ascii()).collect();
    assert!(bad.is_empty(), "{bad:?}\n{screen}");
    assert!(screen.contains("* train  o valid"), "{screen}");
    for marker in ['*', 'o', '.'] {
        let plotted = screen
            .lines()
            .filter(|l| l.contains("||") && l.contains(marker));
        assert!(plotted.count() > 2, "{marker:?} plotted:\n{screen}");
    }
}

#[test]
fn no_color_draws_no_colour() {
    let (_d, mut app) = app(120, 40);
    select_run(&mut app, "baseline-live");
    let colours = |app: &App| {
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        term.draw(|f| ui::draw(f, app)).unwrap();
        term.backend()
            .buffer()
            .content()
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count()
    };
    assert!(colours(&app) > 0, "colour is used normally");
    app.no_color = true;
    for tab in DetailTab::ALL {
        app.update(Action::Tab(tab));
        assert_eq!(colours(&app), 0, "{tab:?}");
    }
}

#[test]
fn live_updates_reach_the_runs_pane() {
    let (d, mut app) = app(80, 24);
    // A run started elsewhere appears by itself once the watcher reports it.
    let mut records = fixture_records(5, 4, 1);
    if let Event::Started { run_id, .. } = &mut records[0].event {
        *run_id = "from-elsewhere".into();
    }
    write_run(d.path(), "from-elsewhere", &records).unwrap();
    let mut src = histoboard::tui::RunsSource::new(d.path().join("runs"));
    let all = src.poll();
    app.update(Action::RunsUpdated(all));
    assert!(src.poll().is_empty(), "only changed runs are sent");
    app.update(Action::Tick(T0 + 60_000.0));
    app.update(Action::Focus(Pane::Runs));
    let screen = render_once(&app, 80, 24);
    assert!(screen.contains("from-elsewhere"), "{screen}");
}

#[test]
fn header_shows_the_gpus_or_the_cpu() {
    let (_d, mut app) = app(140, 30);
    app.cpu_threads = 2;
    let screen = render_once(&app, 140, 30);
    let header = screen.lines().next().unwrap();
    assert!(header.contains("| CPU (2 threads)"), "{header}");

    let gpus = histoboard::gpu::parse("0, NVIDIA H200, 87, 12583, 143771\n").unwrap();
    app.update(Action::GpusUpdated(gpus));
    let screen = render_once(&app, 140, 30);
    let header = screen.lines().next().unwrap();
    assert!(
        header.contains("| GPU0 H200 87% 12.3/140.4 GiB"),
        "{header}"
    );
    assert!(!header.contains("CPU ("), "{header}");
}

/// Two runs of one experiment with real-looking ids: they differ only in their suffix.
const LONG_IDS: [&str; 2] = [
    "effnet-lite0-transfer-20261128-015416-ad2f",
    "effnet-lite0-transfer-20261128-020233-91bc",
];

fn with_long_named_runs(d: &std::path::Path, app: &mut App) {
    for (i, id) in LONG_IDS.iter().enumerate() {
        let mut records = fixture_records(10 + i, 8, 8);
        if let Event::Started {
            run_id, experiment, ..
        } = &mut records[0].event
        {
            *run_id = id.to_string();
            *experiment = "effnet-lite0-transfer".into();
        }
        write_run(d, id, &records).unwrap();
    }
    // Only the new ones: the fixture's live run stays as the app folded it.
    let mut src = histoboard::tui::RunsSource::new(d.join("runs"));
    let new = src
        .poll()
        .into_iter()
        .filter(|r| LONG_IDS.contains(&r.id.as_str()));
    app.update(Action::RunsUpdated(new.collect()));
}

#[test]
fn long_run_names_keep_their_distinguishing_suffix() {
    for (w, h) in [(80, 24), (120, 36), (200, 50)] {
        let (d, mut app) = app(w, h);
        with_long_named_runs(d.path(), &mut app);
        app.update(Action::Focus(Pane::Runs));
        let screen = render_once(&app, w, h);
        for id in LONG_IDS {
            // The time and the random part tell them apart; the date too where there is room.
            let suffix = &id[id.len() - 11..];
            let row = screen.lines().find(|l| l.contains(suffix));
            assert!(row.is_some(), "{w}x{h}: {suffix} not shown:\n{screen}");
            if w >= 120 {
                assert!(screen.contains(&id[id.len() - 21..]), "{w}x{h}:\n{screen}");
            }
        }
    }
}

#[test]
fn a_wide_screen_gives_the_runs_pane_the_width() {
    let (d, mut app) = app(200, 50);
    with_long_named_runs(d.path(), &mut app);
    select_run(&mut app, "baseline-live");
    let screen = render_once(&app, 200, 50);
    let title = screen.lines().find(|l| l.contains(" Runs (6) ")).unwrap();
    let start = title.find('┌').unwrap();
    let pane_w = title[start..].chars().count();
    assert!(pane_w >= 160, "runs pane {pane_w} wide:\n{screen}");
    let header = screen.lines().find(|l| l.contains("status")).unwrap();
    for col in ["experiment", "started", "device"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(screen.contains(LONG_IDS[0]), "whole ids:\n{screen}");
    insta::assert_snapshot!("runs_200x50", screen);
}

#[test]
fn the_footer_keeps_help_at_80_columns() {
    let (_d, mut app) = app(80, 24);
    select_run(&mut app, "baseline-live");
    for pane in [Pane::Experiments, Pane::Runs, Pane::Detail] {
        app.update(Action::Focus(pane));
        let screen = render_once(&app, 80, 24);
        let footer = screen.lines().last().unwrap();
        assert!(footer.ends_with("? help"), "{pane:?}: {footer}");
    }
}

#[test]
fn the_header_and_the_runs_pane_count_the_same_runs() {
    let (_d, mut app) = app(120, 36);
    // One launch takes the slot, the next waits in the queue (a row of the pane); a run
    // folder waits for its trainer.
    app.exp_sel = app
        .experiments
        .iter()
        .position(|e| e.name == "baseline")
        .unwrap();
    app.update(Action::Launch);
    app.update(Action::Launch);
    app.update(Action::RunsUpdated(vec![Arc::new(RunState::new(
        "baseline-waiting",
        "",
    ))]));
    let screen = render_once(&app, 120, 36);
    let header = screen.lines().next().unwrap();
    assert!(header.contains("| 6 runs, 1 running, 2 queued"), "{header}");
    assert!(screen.contains(" Runs (6) "), "{screen}");
    app.update(Action::Focus(Pane::Runs));
    app.update(Action::StartFilter);
    app.update(Action::Char('q'));
    let screen = render_once(&app, 120, 36);
    assert!(screen.contains(" Runs (2 of 6, /q) "), "{screen}");
    assert!(
        screen.lines().next().unwrap().contains("| 6 runs,"),
        "{screen}"
    );
}

#[test]
fn filter_sort_notes_and_tags_in_the_runs_pane() {
    let (_d, mut app) = app(120, 36);
    app.update(Action::MetaSaved {
        run_id: fixture_run_id(1),
        result: Ok(histoboard::runs::RunMeta {
            note: "lr too high".into(),
            tags: vec!["baseline".into(), "paper".into()],
        }),
    });
    app.update(Action::Focus(Pane::Runs));
    // By AUC, best first.
    while app.run_sort.key != histoboard::tui::app::SortKey::Auc {
        app.update(Action::SortNext);
    }
    let screen = render_once(&app, 120, 36);
    let row = screen
        .lines()
        .find(|l| l.contains(&fixture_run_id(1)))
        .unwrap();
    assert!(row.contains("lr-sweep-001 ✎ #baseline #paper"), "{row}");
    assert!(screen.contains("AUC▼"), "{screen}");
    app.update(Action::StartFilter);
    for c in "lr".chars() {
        app.update(Action::Char(c));
    }
    let typing = render_once(&app, 120, 36);
    let footer = typing.lines().last().unwrap();
    assert!(footer.starts_with("filter runs /lr▏"), "{footer}");
    app.update(Action::Submit);
    let screen = render_once(&app, 120, 36);
    assert!(screen.contains(" Runs (2 of 4, /lr) "), "{screen}");
    insta::assert_snapshot!("runs_filtered_sorted_tagged_120x36", screen);
    // The detail's title carries them too.
    app.update(Action::NextMatch);
    let screen = render_once(&app, 120, 36);
    assert!(
        screen.contains("┌ lr-sweep-001 finished #baseline #paper ✎ lr too high "),
        "{screen}"
    );

    // The note input, prefilled.
    app.run_sel = 0;
    let id = app.selected_run().unwrap().id.clone();
    app.update(Action::EditNote);
    let screen = render_once(&app, 120, 36);
    let footer = screen.lines().last().unwrap();
    assert!(footer.starts_with(&format!("note for {id}: ")), "{footer}");
}

#[test]
fn archiving_asks_with_what_goes() {
    let (_d, mut app) = app(100, 30);
    for i in 0..3 {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    app.update(Action::Archive);
    app.update(Action::PruneDescribed {
        ids: (0..3).rev().map(fixture_run_id).collect(),
        delete: false,
        what: "3 runs, 41.2 MB".into(),
    });
    let screen = render_once(&app, 100, 30);
    assert!(
        screen.contains("Archive 3 runs, 41.2 MB? They leave the list and stay in"),
        "{screen}"
    );
    insta::assert_snapshot!("confirm_archive_100x30", screen);
}

/// A run before its first epoch ends: one batch event, nothing else.
fn add_fresh_run(app: &mut App) -> String {
    let mut records = fixture_records(6, 8, 0);
    if let Event::Started { run_id, .. } = &mut records[0].event {
        *run_id = "baseline-fresh".into();
    }
    app.update(Action::RunsUpdated(vec![Arc::new(RunState::folded(
        "baseline-fresh",
        "",
        &records,
    ))]));
    "baseline-fresh".into()
}

#[test]
fn charts_before_the_first_epoch_have_readable_axes_at_80x24() {
    let (_d, mut app) = app(80, 24);
    let id = add_fresh_run(&mut app);
    select_run(&mut app, &id);
    let screen = render_once(&app, 80, 24);
    assert!(!screen.contains("179769"), "f64::MAX on an axis:\n{screen}");
    let loss_row = screen.lines().find(|l| l.contains(" AUC ─")).unwrap();
    assert!(
        loss_row.contains(" loss "),
        "two charts side by side: {loss_row}"
    );
    // The plot keeps its width: y labels are at most four characters.
    let label_rows: Vec<&str> = screen.lines().filter(|l| l.contains("1.00│")).collect();
    assert!(!label_rows.is_empty(), "{screen}");
    insta::assert_snapshot!("curves_before_first_epoch_80x24", screen);

    // The comparison with such a run: the same, and two charts rather than three at 80 columns.
    app.update(Action::ToggleMark);
    select_run(&mut app, &fixture_run_id(1));
    app.update(Action::ToggleMark);
    app.update(Action::OpenCompare);
    let screen = render_once(&app, 80, 24);
    assert!(!screen.contains("179769"), "{screen}");
    assert!(
        !screen.contains("ROC"),
        "no third, squeezed chart:\n{screen}"
    );
    insta::assert_snapshot!("compare_with_a_fresh_run_80x24", screen);
}

#[test]
fn legends_sit_on_the_border_not_over_the_newest_data() {
    let (_d, mut app) = app(120, 36);
    select_run(&mut app, &fixture_run_id(1));
    let screen = render_once(&app, 120, 36);
    let title_row = screen.lines().find(|l| l.contains("AUC best")).unwrap();
    assert!(
        title_row.contains("train  valid"),
        "legend on the chart's top border: {title_row}"
    );
    let inside = screen
        .lines()
        .filter(|l| !l.contains("AUC best") && l.contains("train"))
        .count();
    assert_eq!(inside, 0, "no legend box inside a plot:\n{screen}");
    // Where a legend cannot sit on the border (a comparison of long names), it takes the
    // emptiest corner of the plot: for rising AUC curves, not the top right.
    for i in 0..3 {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    app.update(Action::OpenCompare);
    let screen = render_once(&app, 120, 36);
    let rows: Vec<&str> = screen.lines().collect();
    let top = rows.iter().position(|l| l.contains(" valid AUC ")).unwrap();
    // In the AUC chart's columns (the first third).
    let left = |l: &str| l.chars().take(40).collect::<String>();
    let legend = rows[top..]
        .iter()
        .position(|l| left(l).contains(&fixture_run_id(2)))
        .unwrap()
        + top;
    let end = rows[top..].iter().position(|l| l.contains("└─")).unwrap() + top;
    assert!(
        legend > top + (end - top) / 2,
        "legend in the lower half:\n{screen}"
    );
}

#[test]
fn batch_losses_get_a_chart_with_axes_and_smoothing_keeps_the_raw_line() {
    let (_d, mut app) = app(120, 36);
    select_run(&mut app, "baseline-live");
    let screen = render_once(&app, 120, 36);
    let title = screen
        .lines()
        .find(|l| l.contains("┌ batch loss"))
        .expect(&screen);
    assert!(title.contains("loss") && title.contains("AUC"), "{title}");
    app.update(Action::SmoothMore);
    insta::assert_snapshot!("curves_smoothed_120x36", render_once(&app, 120, 36));
    // Raw curves stay, faint (grey), under the smoothed ones.
    let mut term = Terminal::new(TestBackend::new(120, 36)).unwrap();
    term.draw(|f| ui::draw(f, &app)).unwrap();
    let greys = term
        .backend()
        .buffer()
        .content()
        .iter()
        .filter(|c| {
            c.fg == Color::DarkGray
                && ('\u{2801}'..='\u{28ff}').contains(&c.symbol().chars().next().unwrap_or(' '))
        })
        .count();
    assert!(greys > 20, "faint raw lines: {greys} cells");
}

#[test]
fn without_colour_series_differ_by_marker_and_say_so() {
    let (_d, mut app) = app(120, 36);
    app.no_color = true;
    select_run(&mut app, &fixture_run_id(1));
    let screen = render_once(&app, 120, 36);
    assert!(screen.contains("• train  ▄ valid"), "{screen}");
    let plotted = |c: char| screen.lines().filter(|l| l.contains(c)).count();
    assert!(plotted('•') > 3 && plotted('▄') > 3, "{screen}");
    // At 80 columns the legend packs tighter, still on the border.
    let narrow = render_once(&app, 80, 24);
    assert!(narrow.contains("•train ▄valid"), "{narrow}");
    for i in 0..2 {
        select_run(&mut app, &fixture_run_id(i));
        app.update(Action::ToggleMark);
    }
    app.update(Action::OpenCompare);
    let screen = render_once(&app, 120, 36);
    // The table is the key: each run's marker beside its name, a different one each.
    let glyph = |id: String| {
        ['•', '▄']
            .into_iter()
            .find(|g| screen.contains(&format!("│{g} {id}")))
    };
    let (a, b) = (glyph(fixture_run_id(0)), glyph(fixture_run_id(1)));
    assert!(a.is_some() && b.is_some() && a != b, "{screen}");
}

#[test]
fn the_log_shows_epochs_starts_and_cancellations() {
    use histoboard::runs::{LogLevel, Record, SCHEMA_VERSION};
    let (_d, mut app) = app(100, 30);
    let mut records = fixture_records(5, 8, 3);
    if let Event::Started { run_id, .. } = &mut records[0].event {
        *run_id = "cancelled".into();
    }
    let t0 = records[0].t;
    // The trainer opens its data before it announces the start.
    records.insert(
        0,
        Record {
            v: SCHEMA_VERSION,
            t: t0 - 2.0,
            event: Event::Log {
                level: LogLevel::Info,
                message: "opening data: bundled".into(),
            },
        },
    );
    let t = records.last().unwrap().t + 1.0;
    records.push(Record {
        v: SCHEMA_VERSION,
        t,
        event: Event::Cancelled { epoch: 3 },
    });
    app.update(Action::RunsUpdated(vec![Arc::new(RunState::folded(
        "cancelled",
        "",
        &records,
    ))]));
    select_run(&mut app, "cancelled");
    app.update(Action::Tab(DetailTab::Log));
    let screen = render_once(&app, 100, 30);
    for want in [
        "-     2s opening data: bundled",
        "+     0s started: 8 epochs of 48 batches",
        "+  2m06s epoch 3/8  loss train",
        "cancelled in epoch 4 (batch 24/48): resume repeats it from epoch 3's checkpoint",
    ] {
        assert!(screen.contains(want), "{want:?}:\n{screen}");
    }
    assert!(!screen.contains("+      -"), "{screen}");
    insta::assert_snapshot!("log_of_a_cancelled_run_100x30", screen);
}

/// The fixture app plus a 5-fold cross-validation of `cv`: three folds finished, the fourth
/// running, the fifth not started.
fn app_with_cv_set(width: u16, height: u16) -> (tempfile::TempDir, App) {
    let (d, mut app) = app(width, height);
    let folds: Vec<Arc<RunState>> = (0..4)
        .map(|k| {
            let (id, records) = fixture_cv_records(k, 5, 8, if k < 3 { 8 } else { 4 });
            Arc::new(RunState::folded(id, "", &records))
        })
        .collect();
    app.update(Action::RunsUpdated(folds));
    (d, app)
}

fn select_set(app: &mut App) {
    app.update(Action::Focus(Pane::Runs));
    app.run_sel = app
        .run_rows()
        .iter()
        .position(|r| matches!(r, RunRow::Set(_)))
        .unwrap();
}

#[test]
fn a_cv_set_is_one_row_of_the_runs_list_and_opens_to_its_folds() {
    let (_d, mut app) = app_with_cv_set(120, 36);
    select_set(&mut app);
    let closed = render_once(&app, 120, 36);
    assert!(
        closed.contains("cv: 5 folds, 3 done, 1 running") && !closed.contains("cv.fold-0"),
        "{closed}"
    );
    insta::assert_snapshot!("runs_cv_set_closed_120x36", closed);
    app.update(Action::ToggleSet);
    let open = render_once(&app, 120, 36);
    assert!(
        open.contains("  cv.fold-0") && open.contains("  cv.fold-3"),
        "{open}"
    );
    insta::assert_snapshot!("runs_cv_set_open_120x36", open);
}

#[test]
fn comparison_summarises_a_cv_set_as_mean_and_sd() {
    let (_d, mut app) = app_with_cv_set(120, 40);
    select_set(&mut app);
    app.update(Action::ToggleMark);
    // Rows are not runs here: the set's row stands for four.
    let id = fixture_run_id(1);
    app.run_sel = app
        .run_rows()
        .iter()
        .position(|r| matches!(r, RunRow::Run(i) if app.runs[*i].id == id))
        .unwrap();
    app.update(Action::ToggleMark);
    assert_eq!(app.marked.len(), 5);
    app.update(Action::OpenCompare);
    let screen = render_once(&app, 120, 40);
    assert!(
        screen.contains("cv (5 folds)") && screen.contains("±") && screen.contains("OOF AUC"),
        "{screen}"
    );
    insta::assert_snapshot!("compare_cv_set_120x40", screen);
}
