//! The dashboard's editing logic: form fields, set/step, diff, save_variant.

use std::path::{Path, PathBuf};

use histoboard::experiment::{
    Experiment, FieldKind, Optimizer, diff, fields, load, save_variant, set_field, step_field,
};

fn seed3() -> Experiment {
    load(Path::new("experiments/seed-cnn-3.toml"), &[])
        .unwrap()
        .remove(0)
}

fn value(e: &Experiment, key: &str) -> String {
    fields(e).into_iter().find(|f| f.key == key).unwrap().value
}

/// Copy shipped experiment files into a temp folder.
fn copy(dir: &Path, files: &[&str]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|f| {
            let to = dir.join(f);
            std::fs::copy(Path::new("experiments").join(f), &to).unwrap();
            to
        })
        .collect()
}

#[test]
fn fields_are_ordered_and_typed() {
    let f = fields(&seed3());
    let keys: Vec<&str> = f.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        &keys[..5],
        [
            "train.epochs",
            "train.batch_size",
            "train.lr",
            "train.optimizer",
            "train.schedule"
        ]
    );
    let first = |p: &str| keys.iter().position(|k| k.starts_with(p)).unwrap();
    let last = |p: &str| keys.iter().rposition(|k| k.starts_with(p)).unwrap();
    assert!(last("train.") < first("model.") && last("model.") < first("data."));
    assert!(first("data.augment.") > first("data.split."));
    assert!(!keys.contains(&"name"));

    let get = |k: &str| f.iter().find(|f| f.key == k).unwrap();
    assert_eq!(get("train.lr").value, "1e-3");
    assert_eq!(get("train.lr").kind, FieldKind::Number);
    assert_eq!(get("train.epochs").kind, FieldKind::Integer);
    assert_eq!(get("model.filters").value, "[32, 64, 128]");
    assert_eq!(get("model.filters").kind, FieldKind::List);
    assert_eq!(get("data.augment.brightness").value, "0.1");
    assert_eq!(get("data.cache").kind, FieldKind::Bool);
    assert_eq!(get("train.device").kind, FieldKind::Text);
    match &get("train.optimizer").kind {
        FieldKind::Choice(o) => assert_eq!(o, &["adam", "adamw", "sgd"]),
        other => panic!("{other:?}"),
    }
    assert!(
        f.iter()
            .all(|f| !f.help.is_empty() && !f.help.contains('\n'))
    );
}

#[test]
fn displayed_values_set_back_unchanged() {
    let e = seed3();
    for f in fields(&e) {
        let mut copy = e.clone();
        set_field(&mut copy, &f.key, &f.value).unwrap_or_else(|err| panic!("{}: {err}", f.key));
        assert_eq!(copy, e, "{} = {}", f.key, f.value);
    }
}

#[test]
fn set_field_validates() {
    let mut e = seed3();
    set_field(&mut e, "train.lr", "5e-4").unwrap();
    assert_eq!(e.train.lr, 5e-4);
    set_field(&mut e, "train.optimizer", "adamw").unwrap();
    assert_eq!(e.train.optimizer, Optimizer::Adamw);
    set_field(&mut e, "model.filters", "16, 32").unwrap();
    assert_eq!(e.model.filters, vec![16, 32]);
    set_field(&mut e, "train.device", "cuda:0").unwrap();
    set_field(&mut e, "data.labels", "l.csv").unwrap();
    assert_eq!(e.data.labels.as_deref(), Some("l.csv"));
    set_field(&mut e, "data.labels", "").unwrap();
    assert_eq!(e.data.labels, None);

    let before = e.clone();
    let err = set_field(&mut e, "train.lr", "-1").unwrap_err();
    assert!(
        err.contains("`train.lr`") && err.contains("must be > 0"),
        "{err}"
    );
    let err = set_field(&mut e, "train.lr", "fast").unwrap_err();
    assert!(err.contains("`train.lr` expects a number"), "{err}");
    let err = set_field(&mut e, "train.lr", "[1e-3, 5e-4]").unwrap_err();
    assert!(err.contains("single value"), "{err}");
    let err = set_field(&mut e, "train.optimizer", "adm").unwrap_err();
    assert!(err.contains("did you mean `adam`?"), "{err}");
    let err = set_field(&mut e, "train.lrr", "1").unwrap_err();
    assert!(err.contains("did you mean `train.lr`?"), "{err}");
    let err = set_field(&mut e, "data.split.fold", "3").unwrap_err();
    assert!(err.contains("folds = 0"), "{err}");
    let err = set_field(&mut e, "model.kernel", "4").unwrap_err();
    assert!(err.contains("odd"), "{err}");
    assert_eq!(e, before, "refused edits leave the experiment unchanged");
}

#[test]
fn an_existing_problem_elsewhere_does_not_block_edits() {
    let mut e = seed3();
    e.train.epochs = 0; // made invalid behind the form's back
    set_field(&mut e, "train.lr", "2e-3").unwrap();
    assert_eq!(e.train.lr, 2e-3);
    // ...but it cannot be set to an invalid value again.
    assert!(set_field(&mut e, "train.epochs", "0").is_err());
}

#[test]
fn step_rules() {
    let mut e = seed3();
    let step = |e: &mut Experiment, k: &str, up: bool| {
        step_field(e, k, up).unwrap_or_else(|err| panic!("{k}: {err}"));
        value(e, k)
    };
    // Learning rates and batch size: x/÷ 2.
    assert_eq!(step(&mut e, "train.lr", true), "2e-3");
    assert_eq!(step(&mut e, "train.lr", false), "1e-3");
    assert_eq!(step(&mut e, "train.lr", false), "5e-4");
    assert_eq!(step(&mut e, "train.batch_size", true), "128");
    set_field(&mut e, "train.batch_size", "2").unwrap();
    assert_eq!(step(&mut e, "train.batch_size", false), "1");
    assert_eq!(step(&mut e, "train.batch_size", false), "1", "min 1");
    // Integers ±1, epochs at least 1.
    assert_eq!(step(&mut e, "train.epochs", true), "21");
    set_field(&mut e, "train.epochs", "1").unwrap();
    assert_eq!(step(&mut e, "train.epochs", false), "1");
    assert_eq!(step(&mut e, "train.early_stopping.patience", false), "4");
    // Fractions ±0.05, clamped, without binary noise.
    assert_eq!(step(&mut e, "model.dropout", true), "0.55");
    assert_eq!(step(&mut e, "model.dense_dropout", false), "0.25");
    set_field(&mut e, "model.dropout", "0.02").unwrap();
    assert_eq!(step(&mut e, "model.dropout", false), "0");
    set_field(&mut e, "model.dropout", "0.93").unwrap();
    assert_eq!(step(&mut e, "model.dropout", true), "0.95");
    assert_eq!(step(&mut e, "model.dropout", true), "0.95");
    // Augmentation ±0.05, rotation ±5 degrees.
    assert_eq!(step(&mut e, "data.augment.brightness", true), "0.15");
    assert_eq!(step(&mut e, "data.augment.hed", true), "0.05");
    assert_eq!(step(&mut e, "data.augment.rotate", true), "25");
    assert_eq!(step(&mut e, "data.augment.rotate", false), "20");
    // Bools toggle, choices cycle both ways and wrap.
    assert_eq!(step(&mut e, "model.batchnorm", true), "false");
    assert_eq!(step(&mut e, "model.batchnorm", false), "true");
    assert_eq!(step(&mut e, "train.optimizer", true), "adamw");
    assert_eq!(step(&mut e, "train.optimizer", true), "sgd");
    assert_eq!(step(&mut e, "train.optimizer", true), "adam");
    assert_eq!(step(&mut e, "train.optimizer", false), "sgd");
    assert_eq!(step(&mut e, "train.device", true), "cpu");
    // Filters: add or drop a block.
    assert_eq!(step(&mut e, "model.filters", true), "[32, 64, 128, 256]");
    assert_eq!(step(&mut e, "model.filters", false), "[32, 64, 128]");
    // Crop in 8 px steps within [32, 96]; 0 (none) steps as 96.
    assert_eq!(step(&mut e, "data.crop", false), "88");
    set_field(&mut e, "data.crop", "32").unwrap();
    assert_eq!(step(&mut e, "data.crop", false), "32");
    // Folds: 0 <-> 2, the fold follows.
    assert_eq!(step(&mut e, "data.split.folds", true), "2");
    assert_eq!(step(&mut e, "data.split.folds", true), "3");
    set_field(&mut e, "data.split.fold", "2").unwrap();
    assert_eq!(step(&mut e, "data.split.folds", false), "2");
    assert_eq!(e.data.split.fold, 1);
    assert_eq!(step(&mut e, "data.split.folds", false), "0");
    assert_eq!(e.data.split.fold, 0);
    // Zero-able rates: up from 0 to a seed value.
    assert_eq!(step(&mut e, "train.weight_decay", true), "1e-4");
    assert_eq!(step(&mut e, "train.weight_decay", false), "5e-5");
}

#[test]
fn steps_the_validation_refuses_are_refused() {
    let mut e = seed3();
    set_field(&mut e, "data.split.test", "0.45").unwrap();
    set_field(&mut e, "data.split.valid", "0.5").unwrap();
    let before = e.clone();
    let err = step_field(&mut e, "data.split.valid", true).unwrap_err();
    assert!(err.contains("no tiles to train on"), "{err}");
    assert_eq!(e, before);
    let err = step_field(&mut e, "model.pretrained", true).unwrap_err();
    assert!(err.contains("type a new value"), "{err}");
    set_field(&mut e, "model.filters", "[8]").unwrap();
    assert!(
        step_field(&mut e, "model.filters", false)
            .unwrap_err()
            .contains("at least one")
    );
    assert!(step_field(&mut e, "nope", true).is_err());
}

#[test]
fn diff_lists_what_differs() {
    let a = seed3();
    let mut b = a.clone();
    assert!(diff(&a, &b).is_empty());
    b.name = "other".into();
    assert!(diff(&a, &b).is_empty(), "names are not hyperparameters");
    b.train.lr = 5e-4;
    b.model.filters = vec![16, 32];
    b.data.labels = Some("l.csv".into());
    assert_eq!(
        diff(&a, &b),
        vec![
            (
                "train.lr".to_string(),
                "1e-3".to_string(),
                "5e-4".to_string()
            ),
            (
                "model.filters".into(),
                "[32, 64, 128]".into(),
                "[16, 32]".into()
            ),
            ("data.labels".into(), "".into(), "l.csv".into()),
        ]
    );
}

#[test]
fn save_variant_keeps_comments_and_changes_only_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let orig = copy(dir.path(), &["seed-cnn-3.toml"]).remove(0);
    let original_text = std::fs::read_to_string(&orig).unwrap();
    let mut e = load(&orig, &[]).unwrap().remove(0);
    set_field(&mut e, "train.lr", "5e-4").unwrap();
    set_field(&mut e, "data.augment.hed", "0.05").unwrap();
    let new = dir.path().join("seed-cnn-3-slow.toml");
    save_variant(&orig, &new, &e).unwrap();

    let text = std::fs::read_to_string(&new).unwrap();
    assert!(text.starts_with("# Variant of seed-cnn-3.toml"), "{text}");
    // Every comment line of the original survives.
    for line in original_text
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
    {
        assert!(text.contains(line), "lost {line:?}\n{text}");
    }
    // The changed value in place, with its trailing comment.
    assert!(
        text.contains("\nlr = 5e-4                   # Adam's usual default"),
        "{text}"
    );
    assert!(text.contains("hed = 0.05"), "{text}");
    assert!(
        !text.contains("name ="),
        "the name comes from the new file's stem"
    );
    // Only two lines changed (plus the header).
    let changed = text
        .lines()
        .filter(|l| !original_text.lines().any(|o| o == *l))
        .count();
    assert_eq!(changed, 3, "{text}");

    let back = load(&new, &[]).unwrap();
    let mut expected = e.clone();
    expected.name = "seed-cnn-3-slow".into();
    assert_eq!(back, vec![expected]);
}

#[test]
fn save_variant_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let orig = copy(dir.path(), &["seed-cnn-3.toml"]).remove(0);
    let e = load(&orig, &[]).unwrap().remove(0);
    let existing = dir.path().join("taken.toml");
    std::fs::write(&existing, "# mine\n").unwrap();
    let err = save_variant(&orig, &existing, &e).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "# mine\n");
    let err = save_variant(&orig, &orig, &e).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn save_variant_of_a_sweep_run_fixes_the_swept_value() {
    let dir = tempfile::tempdir().unwrap();
    let paths = copy(dir.path(), &["seed-cnn-3.toml", "seed-lr-sweep.toml"]);
    let mut e = load(&paths[1], &[]).unwrap().remove(1);
    assert_eq!(e.name, "seed-lr-sweep.lr-5e-4");
    set_field(&mut e, "train.epochs", "5").unwrap();
    let new = dir.path().join("lr-5e-4-short.toml");
    save_variant(&paths[1], &new, &e).unwrap();
    let text = std::fs::read_to_string(&new).unwrap();
    assert!(!text.contains("[sweep]"), "{text}");
    assert!(text.contains("extends = \"seed-cnn-3.toml\""), "{text}");
    let back = load(&new, &[]).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].train.lr, back[0].train.epochs), (5e-4, 5));
    assert_eq!(back[0].name, "lr-5e-4-short");
}

#[test]
fn save_variant_renamed_and_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let paths = copy(dir.path(), &["seed-cnn-3.toml", "seed-lr-sweep.toml"]);
    let mut e = load(&paths[1], &[]).unwrap().remove(0);
    e.name = "my-run".into();
    e.description = "mine".into();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    let new = dir.path().join("elsewhere/v.toml");
    save_variant(&paths[1], &new, &e).unwrap();
    let text = std::fs::read_to_string(&new).unwrap();
    assert!(text.contains("name = \"my-run\""), "{text}");
    assert!(text.contains("description = \"mine\""), "{text}");
    // `extends` still finds its parent from the new folder.
    assert_eq!(load(&new, &[]).unwrap(), vec![e]);
}

#[test]
fn the_form_shows_and_takes_a_list_of_sources() {
    let mut e = seed3();
    assert_eq!(value(&e, "data.source"), "bundled");
    set_field(&mut e, "data.source", "[bundled, bundled-extra]").unwrap();
    assert_eq!(e.data.source.0, ["bundled", "bundled-extra"]);
    assert_eq!(value(&e, "data.source"), "[bundled, bundled-extra]");
    // What the form shows types back in unchanged.
    let shown = value(&e, "data.source");
    set_field(&mut e, "data.source", &shown).unwrap();
    assert_eq!(e.data.source.0, ["bundled", "bundled-extra"]);
    let err = set_field(&mut e, "data.source", "[bundled, bundled]").unwrap_err();
    assert!(err.contains("data.source[1]"), "{err}");
    set_field(&mut e, "data.source", "data/x.zip").unwrap();
    assert_eq!(e.data.source.0, ["data/x.zip"]);
}
