//! Value checks that types cannot express: ranges, cross-field consistency,
//! and that the pretrained weights file exists.

use std::path::Path;

use super::error::ExperimentError;
use super::paths::resolve_weights;
use super::schema::{Arch, Experiment, Optimizer, Schedule};
use super::sweep::fmt_float;

/// Side of the Kaggle tiles, and of their labelled centre.
const TILE: u32 = 96;
const CENTRE: u32 = 32;

/// Check an experiment's values. `base_dir` is the experiment file's folder:
/// `model.pretrained` is looked up there, then in the current directory.
pub fn validate(exp: &Experiment, base_dir: &Path) -> Result<(), ExperimentError> {
    match problems(exp, Some(base_dir)).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every problem, in schema order. Without `base_dir` the weights file is
/// not looked up (the dashboard's form edits have no file yet).
pub(crate) fn problems(exp: &Experiment, base_dir: Option<&Path>) -> Vec<ExperimentError> {
    let mut out = Vec::new();
    let mut bad = |field: &str, msg: String| {
        out.push(ExperimentError::field(
            field,
            format!("invalid `{field}`: {msg}"),
        ));
    };
    let t = &exp.train;
    let m = &exp.model;
    let d = &exp.data;

    if exp.name.trim().is_empty() {
        bad("name", "must not be empty".into());
    } else if exp.name == "."
        || exp.name == ".."
        || exp
            .name
            .chars()
            .any(|c| c.is_control() || "/\\:*?\"<>|".contains(c))
    {
        bad(
            "name",
            format!(
                "`{}` cannot be a folder name (avoid / \\ : * ? \" < > |)",
                exp.name
            ),
        );
    }

    // Train.
    if t.epochs == 0 {
        bad("train.epochs", "must be at least 1, got 0".into());
    }
    if t.batch_size == 0 {
        bad("train.batch_size", "must be at least 1, got 0".into());
    }
    positive(&mut bad, "train.lr", "learning rate", t.lr);
    unit(&mut bad, "train.momentum", t.momentum);
    non_negative(&mut bad, "train.weight_decay", t.weight_decay);
    non_negative(&mut bad, "train.warmup_epochs", t.warmup_epochs);
    if t.warmup_epochs.is_finite()
        && t.warmup_epochs >= t.epochs as f64
        && t.epochs > 0
        && t.warmup_epochs > 0.0
    {
        bad(
            "train.warmup_epochs",
            format!(
                "warm-up ({}) must be shorter than the run ({} epochs)",
                fmt_float(t.warmup_epochs),
                t.epochs
            ),
        );
    }
    if t.schedule == Schedule::Step && t.step_epochs == 0 {
        bad(
            "train.step_epochs",
            "must be at least 1 with the step schedule, got 0".into(),
        );
    }
    positive(&mut bad, "train.gamma", "decay factor", t.gamma);
    non_negative(&mut bad, "train.min_lr", t.min_lr);
    if matches!(t.schedule, Schedule::Cosine | Schedule::OneCycle) && t.min_lr > t.lr {
        bad(
            "train.min_lr",
            format!(
                "final rate {} is above the learning rate {}",
                fmt_float(t.min_lr),
                fmt_float(t.lr)
            ),
        );
    }
    non_negative(&mut bad, "train.grad_clip", t.grad_clip);
    if let Err(e) = t
        .early_stopping
        .metric
        .parse::<crate::metrics::MetricName>()
    {
        bad("train.early_stopping.metric", e);
    }
    non_negative(
        &mut bad,
        "train.early_stopping.min_delta",
        t.early_stopping.min_delta,
    );
    if t.seed > i64::MAX as u64 {
        bad(
            "train.seed",
            "must be below 2^63 (TOML integers are signed)".into(),
        );
    }
    if !valid_device(&t.device) {
        bad(
            "train.device",
            format!(
                "`{}` is not a device; use auto, cpu, cuda or cuda:N",
                t.device
            ),
        );
    }

    // Model.
    if m.filters.is_empty() {
        bad(
            "model.filters",
            "needs at least one conv block, like [32, 64, 128]".into(),
        );
    } else if let Some(i) = m.filters.iter().position(|&f| f == 0) {
        bad("model.filters", format!("block {} has 0 filters", i + 1));
    }
    for (key, k) in [
        ("model.first_kernel", m.first_kernel),
        ("model.kernel", m.kernel),
    ] {
        if k == 0 || k % 2 == 0 {
            bad(
                key,
                format!(
                    "kernel must be odd (1, 3, 5, ...) so 'same' padding is symmetric, got {k}"
                ),
            );
        }
    }
    unit(&mut bad, "model.dropout", m.dropout);
    unit(&mut bad, "model.dense_dropout", m.dense_dropout);
    positive(
        &mut bad,
        "model.backbone_lr_scale",
        "scale",
        m.backbone_lr_scale,
    );
    if !m.pretrained.is_empty() {
        if m.arch != Arch::EfficientnetLite0 {
            bad(
                "model.pretrained",
                "pretrained weights are only available for arch = \"efficientnet-lite0\"".into(),
            );
        } else if let Some(dir) = base_dir
            && resolve_weights(&m.pretrained, dir).is_none()
        {
            bad(
                "model.pretrained",
                format!(
                    "weights file `{}` not found (looked in {} and in the current directory)",
                    m.pretrained,
                    if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    }
                    .display()
                ),
            );
        }
    }

    // Data.
    if d.source.0.is_empty() {
        bad(
            "data.source",
            "names no source (\"bundled\" is the shipped sample)".into(),
        );
    }
    for (i, src) in d.source.0.iter().enumerate() {
        // The list's entry is named in the message; the error points at the field.
        let entry = d.source.field(i);
        if src.trim().is_empty() {
            bad(
                "data.source",
                format!("`{entry}` is empty (\"bundled\" is the shipped sample)"),
            );
        } else if let Some(j) = d.source.0[..i].iter().position(|s| s == src) {
            bad(
                "data.source",
                format!("`{entry}` repeats `data.source[{j}]` (\"{src}\")"),
            );
        }
    }
    if d.source.0.len() > 1 && d.labels.is_some() {
        bad(
            "data.labels",
            "names one labels CSV, but data.source lists several sources: each needs its own \
             train_labels.csv inside it"
                .into(),
        );
    }
    let s = &d.split;
    let valid_ok = fraction(&mut bad, "data.split.valid", s.valid);
    let test_ok = fraction(&mut bad, "data.split.test", s.test);
    if valid_ok && test_ok && s.valid + s.test >= 1.0 {
        bad(
            "data.split.test",
            format!(
                "valid ({}) + test ({}) leave no tiles to train on",
                fmt_float(s.valid),
                fmt_float(s.test)
            ),
        );
    }
    if s.folds == 1 {
        bad(
            "data.split.folds",
            "k-fold needs at least 2 folds (0 turns it off)".into(),
        );
    }
    if s.folds == 0 && s.fold > 0 {
        bad(
            "data.split.fold",
            format!("fold {} is set but folds = 0 (k-fold is off)", s.fold),
        );
    } else if s.folds > 0 && s.fold >= s.folds {
        bad(
            "data.split.fold",
            format!(
                "fold {} does not exist with {} folds (0-based: 0..{})",
                s.fold,
                s.folds,
                s.folds - 1
            ),
        );
    }
    if d.crop != 0 && !(CENTRE..=TILE).contains(&d.crop) {
        bad(
            "data.crop",
            format!(
                "crop must be between {CENTRE} (the labelled centre) and {TILE} (the tile), or 0 for none; got {}",
                d.crop
            ),
        );
    }
    if d.resize != 0 && !(32..=1024).contains(&d.resize) {
        bad(
            "data.resize",
            format!(
                "must be between 32 and 1024 pixels, or 0 to keep; got {}",
                d.resize
            ),
        );
    }
    let a = &d.augment;
    // (field, value, upper bound, whether the bound itself is allowed)
    let mags: [(&str, f32, f32, bool); 8] = [
        ("data.augment.rotate", a.rotate, 180.0, true),
        ("data.augment.zoom", a.zoom, 1.0, false),
        ("data.augment.shift", a.shift, 1.0 / 3.0, true),
        ("data.augment.brightness", a.brightness, 1.0, true),
        ("data.augment.contrast", a.contrast, 1.0, false),
        ("data.augment.saturation", a.saturation, 1.0, true),
        ("data.augment.hue", a.hue, 0.5, true),
        ("data.augment.hed", a.hed, 1.0, true),
    ];
    for (key, v, max, inclusive) in mags {
        let ok = v.is_finite() && v >= 0.0 && if inclusive { v <= max } else { v < max };
        if !ok {
            let close = if inclusive { ']' } else { ')' };
            let msg = if key == "data.augment.shift" {
                // A third of 96 px is the 32 px margin around the labelled centre.
                format!(
                    "must be in [0, 1/3], got {} (more could move the labelled centre out of the tile)",
                    fmt_f32(v)
                )
            } else {
                format!("must be in [0, {max}{close}, got {}", fmt_f32(v))
            };
            bad(key, msg);
        }
    }

    // Each CNN block halves the side with a 2x2 max-pool; something must remain.
    if m.arch == Arch::Cnn && !m.filters.is_empty() {
        let side = if d.resize > 0 {
            d.resize
        } else if d.crop > 0 {
            d.crop
        } else {
            TILE
        };
        let blocks = m.filters.len();
        if blocks >= 32 || side >> blocks == 0 {
            bad(
                "model.filters",
                format!(
                    "{blocks} conv blocks halve a {side}x{side} input to nothing; use fewer blocks or a larger input"
                ),
            );
        }
    }

    // Slurm: checked here so a bad value fails at load, not later as sbatch's complaint.
    let sl = &exp.slurm;
    for (key, v) in [
        ("slurm.partition", &sl.partition),
        ("slurm.account", &sl.account),
        ("slurm.qos", &sl.qos),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            bad(key, format!("`{v}` must be one word"));
        }
    }
    if !sl.mem.is_empty() && !valid_slurm_mem(&sl.mem) {
        bad(
            "slurm.mem",
            format!("`{}` is not a size like 16G, 512M or 64000", sl.mem),
        );
    }
    if !valid_slurm_time(&sl.time) {
        bad(
            "slurm.time",
            format!(
                "`{}` is not a time limit like 04:00:00, 30:00 or 1-12:00:00",
                sl.time
            ),
        );
    }
    for line in &sl.extra {
        if !line.starts_with("--") || line.chars().any(|c| c.is_control()) {
            bad(
                "slurm.extra",
                format!(
                    "`{line}` must be one sbatch option starting with --, like --constraint=h100"
                ),
            );
        }
    }
    if sl
        .setup
        .iter()
        .any(|l| l.contains('\n') || l.contains('\r'))
    {
        bad(
            "slurm.setup",
            "give one shell line per list item (no line breaks inside an item)".into(),
        );
    }
    out
}

/// An f32 as compactly as the f64 it reads as (`5e-45`, not 45 decimals).
fn fmt_f32(v: f32) -> String {
    fmt_float(format!("{v}").parse::<f64>().unwrap_or(f64::from(v)))
}

/// Values that are valid but probably a slip, as (field, why): the dashboard's form accepts
/// them and says so.
pub(crate) fn warnings(exp: &Experiment) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let t = &exp.train;
    // Adam-type optimisers take rates of about 1e-4..3e-3; plain SGD about 1e-3..0.1.
    let (optimizer, usual_max) = match t.optimizer {
        Optimizer::Adam => ("Adam", 1e-2),
        Optimizer::Adamw => ("AdamW", 1e-2),
        Optimizer::Sgd => ("SGD", 0.5),
    };
    if t.lr > usual_max {
        out.push((
            "train.lr",
            format!(
                "unusually high learning rate {} for {optimizer} (usually at most {}): the run \
                 may diverge",
                fmt_float(t.lr),
                fmt_float(usual_max)
            ),
        ));
    }
    out
}

/// Slurm's `--mem`: a whole number with an optional K, M, G or T suffix.
fn valid_slurm_mem(m: &str) -> bool {
    let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    m.len() - digits.len() <= 1 && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// Slurm's `--time`: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS, not zero-length.
fn valid_slurm_time(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let num = |s: &str| !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
    if days.is_some_and(|d| !num(d)) {
        return false;
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let shape_ok = match (days.is_some(), parts.len()) {
        (_, 1..=3) => parts.iter().all(|p| num(p)),
        _ => false,
    };
    let any_time = t.chars().any(|c| c.is_ascii_digit() && c != '0');
    shape_ok && any_time
}

fn valid_device(d: &str) -> bool {
    match d {
        "auto" | "cpu" | "cuda" => true,
        _ => d.strip_prefix("cuda:").is_some_and(|n| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) && n.len() <= 3
        }),
    }
}

fn positive(bad: &mut impl FnMut(&str, String), key: &str, what: &str, v: f64) {
    if !(v.is_finite() && v > 0.0) {
        bad(key, format!("{what} must be > 0, got {}", fmt_float(v)));
    }
}

fn non_negative(bad: &mut impl FnMut(&str, String), key: &str, v: f64) {
    if !(v.is_finite() && v >= 0.0) {
        bad(key, format!("must be >= 0, got {}", fmt_float(v)));
    }
}

/// In [0, 1): dropout, momentum.
fn unit(bad: &mut impl FnMut(&str, String), key: &str, v: f64) {
    if !(v.is_finite() && (0.0..1.0).contains(&v)) {
        bad(key, format!("must be in [0, 1), got {}", fmt_float(v)));
    }
}

/// A split fraction, in [0, 1). Returns whether it is.
fn fraction(bad: &mut impl FnMut(&str, String), key: &str, v: f64) -> bool {
    let ok = v.is_finite() && (0.0..1.0).contains(&v);
    if !ok {
        bad(
            key,
            format!("fraction must be in [0, 1), got {}", fmt_float(v)),
        );
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices() {
        for ok in ["auto", "cpu", "cuda", "cuda:0", "cuda:12"] {
            assert!(valid_device(ok), "{ok}");
        }
        for bad in ["gpu", "cuda:", "cuda:x", "CPU", "", "cuda:-1", "cuda:99999"] {
            assert!(!valid_device(bad), "{bad}");
        }
    }

    #[test]
    fn slurm_sizes_and_times() {
        for ok in ["16G", "512M", "64000", "1T"] {
            assert!(valid_slurm_mem(ok), "{ok}");
        }
        for bad in ["", "16GB", "G", "1.5G", "-1G"] {
            assert!(!valid_slurm_mem(bad), "{bad}");
        }
        for ok in ["04:00:00", "30", "30:00", "1-12", "1-12:00", "2-00:00:00"] {
            assert!(valid_slurm_time(ok), "{ok}");
        }
        for bad in [
            "",
            "0",
            "00:00:00",
            "4h",
            "1:2:3:4",
            "-1",
            "1-",
            "a-01:00:00",
        ] {
            assert!(!valid_slurm_time(bad), "{bad}");
        }
    }

    #[test]
    fn default_is_valid() {
        assert!(problems(&Experiment::default(), Some(Path::new("."))).is_empty());
        assert!(warnings(&Experiment::default()).is_empty());
    }

    #[test]
    fn floats_in_messages_are_compact() {
        let mut e = Experiment::default();
        e.train.lr = -5e-45;
        e.data.augment.zoom = -5e-45;
        let p = problems(&e, None);
        assert!(p[0].message.ends_with("got -5e-45"), "{}", p[0].message);
        let zoom = p
            .iter()
            .find(|p| p.field.as_deref() == Some("data.augment.zoom"));
        assert!(zoom.unwrap().message.ends_with("got -6e-45"), "{zoom:?}");
    }

    #[test]
    fn too_many_blocks_for_the_input() {
        let mut e = Experiment::default();
        e.data.crop = 32;
        e.model.filters = vec![8; 6];
        let p = problems(&e, None);
        assert_eq!(p[0].field.as_deref(), Some("model.filters"));
        assert!(p[0].message.contains("6 conv blocks"), "{}", p[0].message);
        e.model.filters = vec![8; 5];
        assert!(problems(&e, None).is_empty());
    }
}
