//! A registry of every leaf field of the schema: its dotted key, its type as
//! the loader checks it, a one-line help text and how the dashboard steps it.
//!
//! serde knows the struct layout, but not which fields are lists (sweep vs
//! value), which strings are closed choices, or how to step a value; this
//! table is that knowledge in one place. A unit test checks that it covers
//! exactly the fields `schema.rs` serialises, so the two cannot drift apart.
//!
//! Longer than most files here on purpose: it is one table (a row per field), read top to
//! bottom; splitting it would scatter the fields a reader compares.

/// What a leaf field holds, as the loader type-checks it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// `f64` field.
    F64,
    /// `f32` field (displayed with f32 precision so 0.1 stays "0.1").
    F32,
    /// Unsigned integer with this maximum (usize, u64 or u32).
    Int(u64),
    Bool,
    /// A closed set of strings (serde enums, the early-stopping metric).
    Choice(&'static [&'static str]),
    Text,
    /// `Option<String>`: an empty string means "not set".
    OptText,
    /// A list of unsigned integers (`model.filters`).
    List,
    /// A list of strings (`slurm.extra`, `slurm.setup`).
    Lines,
    /// One string or a list of strings (`data.source`): a list of strings is one value, so
    /// only a list holding lists is a sweep.
    Paths,
}

impl Kind {
    pub(crate) fn is_list(self) -> bool {
        matches!(self, Kind::List | Kind::Lines | Kind::Paths)
    }
}

/// How `step_field` moves a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Step {
    /// x/÷ 2. Up from 0 jumps to `seed`; down to below `floor` snaps to 0
    /// (`floor` = 0: never reaches 0).
    Mul2 {
        seed: f64,
        floor: f64,
    },
    /// ± `by`, clamped to [min, max].
    Add {
        by: f64,
        min: f64,
        max: f64,
    },
    /// ± `by`, clamped to [min, max].
    IntAdd {
        by: u64,
        min: u64,
        max: u64,
    },
    /// x/÷ 2, not below `min`; up from 0 jumps to `seed`.
    IntMul2 {
        min: u64,
        seed: u64,
    },
    /// Fold count: 0 (off) <-> 2, then ±1.
    Folds,
    /// Crop side ±8 within [32, 96]; 0 (no crop) steps as 96.
    Crop,
    /// Resize side ±16 within [32, 512]; 0 (keep) steps as 96.
    Resize,
    /// Filters: up appends a block twice as wide as the last, down drops the last.
    Filters,
    Toggle,
    /// Cycle through the kind's choices.
    Cycle,
    /// Cycle through these common values of a free-text field.
    CycleText(&'static [&'static str]),
    /// Free text (paths): typed, not stepped.
    Typed,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub key: &'static str,
    pub kind: Kind,
    pub help: &'static str,
    pub step: Step,
}

pub(crate) const OPTIMIZERS: &[&str] = &["adam", "adamw", "sgd"];
pub(crate) const SCHEDULES: &[&str] = &["constant", "step", "cosine", "one-cycle"];
pub(crate) const METRICS: &[&str] = &[
    "valid_auc",
    "valid_loss",
    "valid_accuracy",
    "valid_f1",
    "valid_precision",
    "valid_recall",
    "valid_average_precision",
    "train_auc",
    "train_loss",
    "train_accuracy",
    "train_f1",
    "train_precision",
    "train_recall",
    "train_average_precision",
];
pub(crate) const ARCHS: &[&str] = &["cnn", "efficientnet-lite0"];
pub(crate) const HEADS: &[&str] = &["flatten", "gap"];
pub(crate) const FREEZE: &[&str] = &["none", "backbone"];
pub(crate) const NORMALIZE: &[&str] = &["dataset", "lite", "unit"];
pub(crate) const BAD_TILES: &[&str] = &["error", "skip"];
pub(crate) const DEVICES: &[&str] = &["auto", "cpu", "cuda"];
pub(crate) const LAUNCHERS: &[&str] = &["local", "detached", "slurm"];

const USIZE: u64 = usize::MAX as u64;
const U64: u64 = i64::MAX as u64; // TOML integers are i64
const U32: u64 = u32::MAX as u64;

const fn s(key: &'static str, kind: Kind, step: Step, help: &'static str) -> Spec {
    Spec {
        key,
        kind,
        help,
        step,
    }
}

const fn add(by: f64, min: f64, max: f64) -> Step {
    Step::Add { by, min, max }
}
const fn inc(min: u64) -> Step {
    Step::IntAdd {
        by: 1,
        min,
        max: USIZE,
    }
}

/// Every editable leaf, in the dashboard's order: train, then model, then data.
/// `name` and `description` are identity, not hyperparameters, and come last.
pub(crate) const SPECS: &[Spec] = &[
    s(
        "train.epochs",
        Kind::Int(USIZE),
        inc(1),
        "Passes over the training split",
    ),
    s(
        "train.batch_size",
        Kind::Int(USIZE),
        Step::IntMul2 { min: 1, seed: 1 },
        "Tiles per optimisation step",
    ),
    s(
        "train.lr",
        Kind::F64,
        Step::Mul2 {
            seed: 1e-3,
            floor: 0.0,
        },
        "Learning rate (peak rate for schedules)",
    ),
    s(
        "train.optimizer",
        Kind::Choice(OPTIMIZERS),
        Step::Cycle,
        "Optimiser: adam, adamw or sgd",
    ),
    s(
        "train.schedule",
        Kind::Choice(SCHEDULES),
        Step::Cycle,
        "Learning-rate schedule: constant, step, cosine or one-cycle",
    ),
    s(
        "train.momentum",
        Kind::F64,
        add(0.05, 0.0, 0.99),
        "SGD momentum (also beta1 for Adam/AdamW)",
    ),
    s(
        "train.weight_decay",
        Kind::F64,
        Step::Mul2 {
            seed: 1e-4,
            floor: 1e-6,
        },
        "Weight decay (L2 for adam/sgd, decoupled for adamw)",
    ),
    s(
        "train.warmup_epochs",
        Kind::F64,
        add(0.5, 0.0, 1e6),
        "Linear warm-up length in epochs (fractions allowed)",
    ),
    s(
        "train.step_epochs",
        Kind::Int(USIZE),
        inc(1),
        "Step schedule: epochs between decays",
    ),
    s(
        "train.gamma",
        Kind::F64,
        add(0.05, 0.05, 1.0),
        "Step schedule: factor applied at each decay",
    ),
    s(
        "train.min_lr",
        Kind::F64,
        Step::Mul2 {
            seed: 1e-6,
            floor: 1e-9,
        },
        "Cosine/one-cycle: final learning rate",
    ),
    s(
        "train.grad_clip",
        Kind::F64,
        Step::Mul2 {
            seed: 1.0,
            floor: 0.1,
        },
        "Clip gradients to this global L2 norm (0 = off)",
    ),
    s(
        "train.class_weight",
        Kind::Bool,
        Step::Toggle,
        "Weight the positive class by n_neg / n_pos",
    ),
    s(
        "train.early_stopping.metric",
        Kind::Choice(METRICS),
        Step::Cycle,
        "Early stopping: metric to watch",
    ),
    s(
        "train.early_stopping.patience",
        Kind::Int(USIZE),
        inc(0),
        "Early stopping: epochs without improvement (0 = never stop)",
    ),
    s(
        "train.early_stopping.min_delta",
        Kind::F64,
        Step::Mul2 {
            seed: 1e-3,
            floor: 1e-6,
        },
        "Early stopping: smallest change that counts as an improvement",
    ),
    s(
        "train.seed",
        Kind::Int(U64),
        Step::IntAdd {
            by: 1,
            min: 0,
            max: U64,
        },
        "Seed of initialisation, shuffling and augmentation",
    ),
    s(
        "train.device",
        Kind::Text,
        Step::CycleText(DEVICES),
        "Device: auto, cpu, cuda or cuda:N",
    ),
    s(
        "train.max_batches",
        Kind::Int(USIZE),
        Step::IntMul2 { min: 0, seed: 10 },
        "Cap on batches per epoch (0 = all), for smoke tests",
    ),
    s(
        "model.arch",
        Kind::Choice(ARCHS),
        Step::Cycle,
        "Architecture: cnn (seed family) or efficientnet-lite0",
    ),
    s(
        "model.filters",
        Kind::List,
        Step::Filters,
        "CNN: filters per conv block (block count = list length)",
    ),
    s(
        "model.first_kernel",
        Kind::Int(USIZE),
        Step::IntAdd {
            by: 2,
            min: 1,
            max: 15,
        },
        "CNN: kernel of the first conv block (odd)",
    ),
    s(
        "model.kernel",
        Kind::Int(USIZE),
        Step::IntAdd {
            by: 2,
            min: 1,
            max: 15,
        },
        "CNN: kernel of the other conv blocks (odd)",
    ),
    s(
        "model.batchnorm",
        Kind::Bool,
        Step::Toggle,
        "CNN: BatchNorm after each conv",
    ),
    s(
        "model.head",
        Kind::Choice(HEADS),
        Step::Cycle,
        "Head: flatten (seed notebook) or gap (global average pooling)",
    ),
    s(
        "model.dropout",
        Kind::F64,
        add(0.05, 0.0, 0.95),
        "Dropout before the dense layer (CNN) or the logit (EfficientNet)",
    ),
    s(
        "model.dense",
        Kind::Int(USIZE),
        Step::IntMul2 { min: 0, seed: 16 },
        "CNN: width of the dense layer (0 = none)",
    ),
    s(
        "model.dense_dropout",
        Kind::F64,
        add(0.05, 0.0, 0.95),
        "CNN: dropout after the dense layer",
    ),
    s(
        "model.pretrained",
        Kind::Text,
        Step::Typed,
        "EfficientNet: ImageNet weights (.safetensors); empty = random init",
    ),
    s(
        "model.freeze",
        Kind::Choice(FREEZE),
        Step::Cycle,
        "Freeze: none, or backbone (train only the head at first)",
    ),
    s(
        "model.unfreeze_after",
        Kind::Int(USIZE),
        inc(0),
        "Unfreeze the backbone after this many epochs (0 = never)",
    ),
    s(
        "model.backbone_lr_scale",
        Kind::F64,
        Step::Mul2 {
            seed: 0.1,
            floor: 0.0,
        },
        "Backbone learning rate = train.lr x this",
    ),
    s(
        "data.source",
        Kind::Paths,
        Step::Typed,
        "Tiles: bundled, bundled-extra, a Kaggle zip or folder; a list combines them",
    ),
    s(
        "data.labels",
        Kind::OptText,
        Step::Typed,
        "Labels CSV when not inside the source (empty = none)",
    ),
    s(
        "data.limit",
        Kind::Int(USIZE),
        Step::IntMul2 { min: 0, seed: 500 },
        "Use at most this many tiles, stratified (0 = all)",
    ),
    s(
        "data.split.valid",
        Kind::F64,
        add(0.05, 0.0, 0.95),
        "Fraction held out for validation",
    ),
    s(
        "data.split.test",
        Kind::F64,
        add(0.05, 0.0, 0.95),
        "Fraction held back as a test split",
    ),
    s(
        "data.split.seed",
        Kind::Int(U64),
        Step::IntAdd {
            by: 1,
            min: 0,
            max: U64,
        },
        "Seed of the split (shared across a sweep)",
    ),
    s(
        "data.split.folds",
        Kind::Int(USIZE),
        Step::Folds,
        "k-fold cross-validation: number of folds (0 = off)",
    ),
    s(
        "data.split.fold",
        Kind::Int(USIZE),
        inc(0),
        "k-fold: which fold validates (0-based)",
    ),
    s(
        "data.split.group",
        Kind::Text,
        Step::Typed,
        "Labels CSV column (slide, patient) kept whole on one side (empty = none)",
    ),
    s(
        "data.crop",
        Kind::Int(U32),
        Step::Crop,
        "Centre crop side in pixels, 32..96 (0 = none)",
    ),
    s(
        "data.resize",
        Kind::Int(U32),
        Step::Resize,
        "Resize after crop to this side in pixels (0 = keep)",
    ),
    s(
        "data.normalize",
        Kind::Choice(NORMALIZE),
        Step::Cycle,
        "Normalisation: dataset, lite or unit",
    ),
    s(
        "data.bad_tiles",
        Kind::Choice(BAD_TILES),
        Step::Cycle,
        "Undecodable tile: error (stop) or skip",
    ),
    s(
        "data.cache",
        Kind::Bool,
        Step::Toggle,
        "Decode once into a memory-mapped cache",
    ),
    s(
        "data.cache_dir",
        Kind::Text,
        Step::Typed,
        "Folder of the packed tile cache",
    ),
    s(
        "data.workers",
        Kind::Int(USIZE),
        inc(0),
        "Loader threads (0 = one per core)",
    ),
    s(
        "data.prefetch",
        Kind::Int(USIZE),
        inc(0),
        "Ready batches kept ahead of the trainer",
    ),
    s(
        "data.augment.enabled",
        Kind::Bool,
        Step::Toggle,
        "Augmentation master switch",
    ),
    s(
        "data.augment.rot90",
        Kind::Bool,
        Step::Toggle,
        "Random multiples of 90 degrees",
    ),
    s(
        "data.augment.flip_h",
        Kind::Bool,
        Step::Toggle,
        "Random horizontal flips",
    ),
    s(
        "data.augment.flip_v",
        Kind::Bool,
        Step::Toggle,
        "Random vertical flips",
    ),
    s(
        "data.augment.rotate",
        Kind::F32,
        add(5.0, 0.0, 180.0),
        "Arbitrary rotation up to ± degrees",
    ),
    s(
        "data.augment.zoom",
        Kind::F32,
        add(0.05, 0.0, 0.95),
        "Zoom in [1 - zoom, 1 + zoom]",
    ),
    s(
        "data.augment.shift",
        Kind::F32,
        add(0.05, 0.0, 0.3),
        "Shift up to this fraction of the side",
    ),
    s(
        "data.augment.brightness",
        Kind::F32,
        add(0.05, 0.0, 1.0),
        "Brightness offset up to ± this fraction",
    ),
    s(
        "data.augment.contrast",
        Kind::F32,
        add(0.05, 0.0, 0.95),
        "Contrast factor in [1 - c, 1 + c]",
    ),
    s(
        "data.augment.saturation",
        Kind::F32,
        add(0.05, 0.0, 1.0),
        "Saturation factor in [1 - s, 1 + s]",
    ),
    s(
        "data.augment.hue",
        Kind::F32,
        add(0.05, 0.0, 0.5),
        "Hue shift up to ± this fraction of the wheel",
    ),
    s(
        "data.augment.hed",
        Kind::F32,
        add(0.05, 0.0, 1.0),
        "HED stain jitter sigma",
    ),
    s(
        "launcher",
        Kind::Choice(LAUNCHERS),
        Step::Cycle,
        "Where the launch key runs it: local threads, detached process or slurm",
    ),
    s(
        "slurm.partition",
        Kind::OptText,
        Step::Typed,
        "Slurm partition (empty = the cluster's default)",
    ),
    s(
        "slurm.account",
        Kind::OptText,
        Step::Typed,
        "Slurm account to charge (empty = your default)",
    ),
    s(
        "slurm.qos",
        Kind::OptText,
        Step::Typed,
        "Slurm quality of service (empty = the default)",
    ),
    s(
        "slurm.gpus",
        Kind::Int(U32),
        Step::IntAdd {
            by: 1,
            min: 0,
            max: 64,
        },
        "GPUs per run (--gres=gpu:N)",
    ),
    s(
        "slurm.cpus",
        Kind::Int(U32),
        Step::IntMul2 { min: 0, seed: 1 },
        "CPU cores per run (--cpus-per-task); 0 = the cluster's default",
    ),
    s(
        "slurm.mem",
        Kind::Text,
        Step::CycleText(&["", "8G", "16G", "32G", "64G", "128G"]),
        "Memory per run (--mem), e.g. 16G; empty = the cluster's default",
    ),
    s(
        "slurm.time",
        Kind::Text,
        Step::CycleText(&["00:30:00", "01:00:00", "04:00:00", "12:00:00", "1-00:00:00"]),
        "Wall-clock limit per run (--time), [D-]HH:MM:SS",
    ),
    s(
        "slurm.array_limit",
        Kind::Int(U32),
        Step::IntAdd {
            by: 1,
            min: 0,
            max: U32,
        },
        "Runs of a sweep running at once (0 = no limit)",
    ),
    s(
        "slurm.signal_lead_s",
        Kind::Int(U32),
        Step::IntMul2 { min: 0, seed: 60 },
        "Seconds before the time limit that Slurm signals the run to checkpoint",
    ),
    s(
        "slurm.requeue",
        Kind::Bool,
        Step::Toggle,
        "Let Slurm requeue the run after pre-emption or node failure (it resumes)",
    ),
    s(
        "slurm.setup",
        Kind::Lines,
        Step::Typed,
        "Shell lines run on the node before training, e.g. module load cuda",
    ),
    s(
        "slurm.extra",
        Kind::Lines,
        Step::Typed,
        "Extra #SBATCH options, e.g. --constraint=h100",
    ),
    s(
        "name",
        Kind::Text,
        Step::Typed,
        "Short name; runs are named after it",
    ),
    s(
        "description",
        Kind::Text,
        Step::Typed,
        "One line about the experiment",
    ),
];

/// Tables of the schema (dotted paths); `""` is the root.
pub(crate) const TABLES: &[&str] = &[
    "",
    "data",
    "data.split",
    "data.augment",
    "model",
    "train",
    "train.early_stopping",
    "slurm",
];

/// Keys of the root that are loader directives, not schema fields.
pub(crate) const DIRECTIVES: &[&str] = &["extends", "sweep"];

pub(crate) fn spec(key: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.key == key)
}

pub(crate) fn is_table(path: &str) -> bool {
    TABLES.contains(&path)
}

/// Position of a key in the schema order (for stable sweep axis order).
pub(crate) fn order(key: &str) -> usize {
    SPECS
        .iter()
        .position(|s| s.key == key)
        .unwrap_or(SPECS.len())
}

/// Direct children (last segment) of a table: its leaves and sub-tables.
pub(crate) fn children(table: &str) -> Vec<&'static str> {
    let prefix = if table.is_empty() {
        String::new()
    } else {
        format!("{table}.")
    };
    let mut out: Vec<&'static str> = Vec::new();
    let keys = SPECS.iter().map(|s| s.key).chain(TABLES.iter().copied());
    for key in keys {
        if let Some(rest) = key.strip_prefix(prefix.as_str())
            && !rest.is_empty()
            && !rest.contains('.')
            && !out.contains(&rest)
        {
            out.push(rest);
        }
    }
    if table.is_empty() {
        out.extend_from_slice(DIRECTIVES);
    }
    out
}

pub(crate) fn join(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_string()
    } else {
        format!("{table}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::Experiment;

    fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in table {
            let key = join(prefix, k);
            match v {
                toml::Value::Table(t) => leaves(&key, t, out),
                _ => out.push(key),
            }
        }
    }

    #[test]
    fn registry_covers_exactly_the_schema() {
        let mut exp = Experiment::default();
        // Option fields are skipped when None; give them a value to see them.
        exp.data.labels = Some("x.csv".into());
        exp.slurm.partition = Some("gpu".into());
        exp.slurm.account = Some("lab".into());
        exp.slurm.qos = Some("normal".into());
        let table = toml::Table::try_from(&exp).expect("schema serialises");
        let mut found = Vec::new();
        leaves("", &table, &mut found);
        for key in &found {
            assert!(
                spec(key).is_some(),
                "schema field `{key}` missing from SPECS"
            );
        }
        for s in SPECS {
            assert!(
                found.iter().any(|k| k == s.key),
                "SPECS has `{}`, which the schema does not serialise",
                s.key
            );
        }
        assert_eq!(found.len(), SPECS.len());
    }

    #[test]
    fn choices_match_serde_names() {
        // Every choice must deserialise, so the loader and serde agree on spelling.
        for s in SPECS {
            if let Kind::Choice(options) = s.kind {
                for o in options {
                    let mut t = toml::Table::try_from(Experiment::default()).unwrap();
                    let (table, leaf) = s.key.rsplit_once('.').unwrap_or(("", s.key));
                    let mut cur = &mut t;
                    for seg in table.split('.').filter(|s| !s.is_empty()) {
                        cur = cur.get_mut(seg).unwrap().as_table_mut().unwrap();
                    }
                    cur.insert(leaf.into(), toml::Value::String(o.to_string()));
                    let parsed: Result<Experiment, _> = toml::Value::Table(t).try_into();
                    assert!(parsed.is_ok(), "`{}` = `{o}` rejected by serde", s.key);
                }
            }
        }
    }

    #[test]
    fn children_of_tables() {
        assert_eq!(
            children("train.early_stopping"),
            vec!["metric", "patience", "min_delta"]
        );
        let root = children("");
        for k in [
            "train",
            "model",
            "data",
            "name",
            "description",
            "extends",
            "sweep",
        ] {
            assert!(root.contains(&k), "{k}");
        }
        assert!(children("data").contains(&"augment"));
    }
}
