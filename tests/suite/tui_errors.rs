//! The dashboard's Errors tab: what it asks the shell for, its keys, and how it draws a
//! gallery (synthetic tiles, half blocks).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use histoboard::data::{SIDE, TILE_BYTES};
use histoboard::gallery::{self, Kind, Loaded};
use histoboard::runs::fixture::{
    T0, fixture_run_id, write_fixture_experiments, write_fixture_runs,
};
use histoboard::runs::predictions::Prediction;
use histoboard::tui::action::{Action, DetailTab, Effect, Pane};
use histoboard::tui::app::App;
use histoboard::tui::{load_app, render_once, ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

fn app() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    write_fixture_experiments(dir.path()).unwrap();
    write_fixture_runs(dir.path(), 2, 4).unwrap();
    let mut app = load_app(dir.path());
    app.dir = PathBuf::from("/srv/pcam");
    app.update(Action::Tick(T0 + 10_000.0));
    app.update(Action::Resize {
        width: 100,
        height: 30,
    });
    app.update(Action::Focus(Pane::Runs));
    let id = fixture_run_id(0);
    app.run_sel = app.runs.iter().position(|r| r.id == id).unwrap();
    (dir, app)
}

/// A tile of one colour with a lighter centre 32x32, so the outline has something to frame.
fn tile(base: [u8; 3]) -> Vec<u8> {
    let mut px = Vec::with_capacity(TILE_BYTES);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let centre = (32..64).contains(&x) && (32..64).contains(&y);
            px.extend(base.map(|v| if centre { v.saturating_add(80) } else { v }));
        }
    }
    px
}

fn gallery_of(run_id: &str, epoch: Option<usize>) -> Loaded {
    let preds = vec![
        Prediction {
            id: "aaaa1111ffff".into(),
            label: 0,
            prob: 0.97,
        },
        Prediction {
            id: "bbbb2222ffff".into(),
            label: 0,
            prob: 0.61,
        },
        Prediction {
            id: "cccc3333ffff".into(),
            label: 1,
            prob: 0.04,
        },
        Prediction {
            id: "dddd4444ffff".into(),
            label: 1,
            prob: 0.52,
        },
    ];
    let g = gallery::rank(&preds, 8);
    let colours = [
        [200, 60, 120],
        [90, 40, 160],
        [230, 180, 200],
        [120, 30, 90],
    ];
    let tiles: HashMap<String, Vec<u8>> = preds
        .iter()
        .zip(colours)
        .map(|(p, c)| (p.id.clone(), tile(c)))
        .collect();
    let saliency = HashMap::from([("aaaa1111ffff".to_string(), vec![255u8; SIDE * SIDE])]);
    Loaded {
        run_id: run_id.into(),
        epoch,
        file: PathBuf::from("valid_predictions.csv"),
        gallery: g,
        tiles,
        saliency,
    }
}

/// Opens the tab, checks it asks for the selected run's gallery at the shown epoch, and
/// answers with the synthetic one.
fn open_with_gallery(app: &mut App) {
    let effects = app.update(Action::Tab(DetailTab::Errors));
    let [Effect::LoadGallery { run_id, epoch, .. }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    let run = app.selected_run().unwrap();
    assert_eq!(run_id, &run.id);
    assert_eq!(
        *epoch,
        run.completed.last().map(|e| e.epoch),
        "follows the latest"
    );
    let (run_id, epoch) = (run_id.clone(), *epoch);
    let loaded = Arc::new(gallery_of(&run_id, epoch));
    let again = app.update(Action::GalleryLoaded {
        run_id,
        epoch,
        result: Ok(loaded),
    });
    assert!(again.is_empty(), "nothing more to read: {again:?}");
}

#[test]
fn the_tab_asks_once_per_run_and_epoch_and_follows_the_epoch_keys() {
    let (_d, mut app) = app();
    assert!(
        app.update(Action::Down).is_empty(),
        "no gallery is read while its tab is closed"
    );
    app.update(Action::Up);
    open_with_gallery(&mut app);
    // Asked again only for another epoch or run, once while it is being read.
    let back = app.update(Action::EpochPrev);
    assert!(
        matches!(
            back.as_slice(),
            [Effect::LoadGallery { epoch: Some(3), .. }]
        ),
        "{back:?}"
    );
    assert!(
        app.update(Action::ToggleMark).is_empty(),
        "pending: not asked twice"
    );
    assert_eq!(
        app.tab,
        DetailTab::Errors,
        "the epoch keys keep the gallery"
    );
    let other = app.update(Action::Down);
    assert!(
        matches!(other.as_slice(), [Effect::LoadGallery { .. }]),
        "{other:?}"
    );
}

#[test]
fn v_switches_the_group_and_o_says_how_to_get_saliency() {
    let (_d, mut app) = app();
    open_with_gallery(&mut app);
    assert_eq!(app.errors.view, Kind::FalsePositive);
    app.update(Action::GalleryView);
    assert_eq!(app.errors.view, Kind::FalseNegative);
    app.update(Action::GalleryView);
    app.update(Action::GalleryView);
    assert_eq!(app.errors.view, Kind::FalsePositive);

    // The fixture's best epoch is not its last: the overlay needs the best epoch's gallery.
    let run = app.selected_run().unwrap().clone();
    app.update(Action::ToggleSaliency);
    let (err, text) = app.message.clone().unwrap();
    if run.best_epoch != run.completed.last().map(|e| e.epoch) {
        assert!(err && text.contains("b shows the best epoch"), "{text}");
    }
    // A gallery without maps: the exact command that computes them.
    app.update(Action::EpochBest);
    let id = run.id.clone();
    let best = run.best_epoch;
    let mut bare = gallery_of(&id, best);
    bare.saliency.clear();
    app.update(Action::GalleryLoaded {
        run_id: id.clone(),
        epoch: best,
        result: Ok(Arc::new(bare)),
    });
    app.update(Action::ToggleSaliency);
    app.update(Action::ToggleSaliency);
    let (err, text) = app.message.clone().unwrap();
    assert!(err, "{text}");
    assert!(
        text.contains(&format!(
            "histoboard errors /srv/pcam/runs/{id} --saliency --out errors"
        )),
        "{text}"
    );
}

#[test]
fn a_gallery_draws_as_half_blocks_with_captions() {
    let (_d, mut app) = app();
    app.truecolor = true;
    open_with_gallery(&mut app);
    let screen = render_once(&app, 100, 30);
    assert!(screen.contains("false positives 2"), "{screen}");
    assert!(
        screen.contains("aaaa1111 y=0") && screen.contains("p=0.970"),
        "{screen}"
    );
    insta::assert_snapshot!("errors_false_positives_100x30", screen);

    // Pixels are cells' colours: the tile's own, and the outline's yellow round its centre.
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    term.draw(|f| ui::draw(f, &app)).unwrap();
    let buf = term.backend().buffer().clone();
    let colours: Vec<(Color, Color)> = buf
        .content()
        .iter()
        .filter(|c| c.symbol() == "▀")
        .map(|c| (c.fg, c.bg))
        .collect();
    assert!(colours.contains(&(Color::Rgb(200, 60, 120), Color::Rgb(200, 60, 120))));
    assert!(colours.iter().any(|c| c.0 == Color::Rgb(255, 220, 0)));

    // Saliency over the first tile turns it towards red-yellow; others stay as they were.
    app.update(Action::ToggleSaliency);
    let loaded = app.errors.loaded.clone().unwrap();
    app.update(Action::GalleryLoaded {
        run_id: loaded.0.0.clone(),
        epoch: loaded.0.1,
        result: loaded.1,
    });
    term.draw(|f| ui::draw(f, &app)).unwrap();
    let after = term.backend().buffer().clone();
    assert_ne!(buf, after, "the overlay changes the picture");

    // Without 24-bit colour, the 256-colour palette.
    app.truecolor = false;
    term.draw(|f| ui::draw(f, &app)).unwrap();
    assert!(
        term.backend()
            .buffer()
            .content()
            .iter()
            .filter(|c| c.symbol() == "▀")
            .all(|c| matches!((c.fg, c.bg), (Color::Indexed(_), Color::Indexed(_))))
    );

    // The most uncertain: 0.52 first.
    app.update(Action::GalleryView);
    app.update(Action::GalleryView);
    let screen = render_once(&app, 100, 30);
    let at = |s: &str| screen.find(s).unwrap_or(usize::MAX);
    assert!(at("dddd4444") < at("bbbb2222"), "{screen}");
}

/// For terminals with a graphics protocol the pane also returns each tile whole, framed, over
/// exactly the cells its half blocks fill; none while a pop-up covers it.
#[test]
fn a_gallery_also_gives_its_tiles_as_pictures() {
    let (_d, mut app) = app();
    app.truecolor = true;
    open_with_gallery(&mut app);
    let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut pictures = Vec::new();
    term.draw(|f| pictures = ui::draw_with_pictures(f, &app))
        .unwrap();
    assert_eq!(pictures.len(), 2, "the two false positives");
    let buf = term.backend().buffer().clone();
    for p in &pictures {
        assert_eq!((p.side, p.rgb.len()), (SIDE, SIDE * SIDE * 3));
        assert_eq!(p.area.width as usize, 2 * p.area.height as usize);
        for y in p.area.top()..p.area.bottom() {
            for x in p.area.left()..p.area.right() {
                assert_eq!(buf[(x, y)].symbol(), "▀", "({x}, {y}) under a picture");
            }
        }
        // The outline round the labelled centre, at full resolution.
        let at = |x: usize, y: usize| &p.rgb[3 * (y * SIDE + x)..3 * (y * SIDE + x) + 3];
        assert_eq!(at(31, 40), [255, 220, 0]);
        let bases: [[u8; 3]; 4] = [
            [200, 60, 120],
            [90, 40, 160],
            [230, 180, 200],
            [120, 30, 90],
        ];
        assert!(
            bases.iter().any(|b| at(0, 0) == b),
            "the tile itself, unscaled"
        );
    }
    assert_eq!(pictures[0].rgb[..3], [200, 60, 120]);
    app.update(Action::ToggleHelp);
    term.draw(|f| pictures = ui::draw_with_pictures(f, &app))
        .unwrap();
    assert!(pictures.is_empty(), "help covers the gallery");
}
