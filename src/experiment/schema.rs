//! The experiment file's schema: every field, its default and its meaning.
//!
//! Every struct has a `Default`, so a three-line TOML file is a valid experiment.
//! `deny_unknown_fields` turns typos into errors (the loader adds a "did you mean").

use serde::{Deserialize, Serialize};

/// One experiment, fully resolved (after `extends`, sweeps and `--set` overrides).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Experiment {
    /// Short name; runs are named after it. Defaults to the file stem.
    pub name: String,
    pub description: String,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub train: TrainConfig,
    /// Where the dashboard's launch key runs it (`histoboard submit` always uses Slurm).
    pub launcher: LauncherKind,
    /// Resources and batch-script settings for `launcher = "slurm"` and `histoboard submit`.
    pub slurm: SlurmConfig,
}

impl Default for Experiment {
    fn default() -> Self {
        Experiment {
            name: "experiment".into(),
            description: String::new(),
            data: DataConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
            launcher: LauncherKind::Local,
            slurm: SlurmConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LauncherKind {
    /// Worker threads of the dashboard (the default).
    Local,
    /// A background `histoboard train` process that outlives the dashboard.
    Detached,
    /// A Slurm job (a sweep is one job array).
    Slurm,
}

/// The `[slurm]` table: what `sbatch` is asked for. Unset values (`None`, `cpus = 0`,
/// `mem = ""`) ask for nothing, so the cluster's defaults apply: a default that asked for more
/// than a small cluster's nodes have would pend for ever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmConfig {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// GPUs per run (`--gres=gpu:N`); 0 asks for none.
    pub gpus: u32,
    /// CPU cores per run (`--cpus-per-task`); 0 leaves the cluster default.
    pub cpus: u32,
    /// Memory per run (`--mem`), e.g. `16G`; empty leaves the cluster default.
    pub mem: String,
    /// Wall-clock limit (`--time`), `[D-]HH:MM:SS`.
    pub time: String,
    /// Runs of a sweep running at once (the job array's `%K`); 0 = no limit.
    pub array_limit: u32,
    /// Seconds before the time limit at which Slurm sends SIGTERM, so the run checkpoints.
    pub signal_lead_s: u32,
    /// Let Slurm requeue the run after pre-emption or a node failure; it resumes.
    pub requeue: bool,
    /// Shell lines run before training on the node, e.g. `module load cuda`.
    pub setup: Vec<String>,
    /// Extra `#SBATCH` options, e.g. `--constraint=h100`.
    pub extra: Vec<String>,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            partition: None,
            account: None,
            qos: None,
            gpus: 0,
            cpus: 0,
            mem: String::new(),
            time: "04:00:00".into(),
            array_limit: 0,
            signal_lead_s: 120,
            requeue: true,
            setup: Vec::new(),
            extra: Vec::new(),
        }
    }
}

/// `data.source`: one source, or several combined into one data set
/// (`["bundled", "bundled-extra"]`). One source is written back as a plain string, so
/// single-source files, run configs and event streams read as they always did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources(pub Vec<String>);

impl Sources {
    /// What a message calls entry `i`: `data.source` alone, `data.source[1]` in a list.
    pub fn field(&self, i: usize) -> String {
        if self.0.len() == 1 {
            "data.source".into()
        } else {
            format!("data.source[{i}]")
        }
    }
}

impl std::fmt::Display for Sources {
    /// `bundled + bundled-extra`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" + "))
    }
}

impl From<&str> for Sources {
    fn from(s: &str) -> Sources {
        Sources(vec![s.to_string()])
    }
}

impl From<String> for Sources {
    fn from(s: String) -> Sources {
        Sources(vec![s])
    }
}

impl Serialize for Sources {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Sources {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sources, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => Sources(vec![s]),
            OneOrMany::Many(v) => Sources(v),
        })
    }
}

/// Where tiles come from and how they are turned into tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// `"bundled"` (the shipped 3,850-tile sample), `"bundled-extra"` (18,449 more PCam
    /// training tiles), a Kaggle zip, a Kaggle folder, or a folder of tiles (then `labels`
    /// names the CSV); or a list of them, combined (each with its own labels CSV).
    pub source: Sources,
    /// Labels CSV when it is not inside `source` (`train_labels.csv[.zip]`; one source only).
    pub labels: Option<String>,
    /// Use at most this many tiles (a stratified, seeded subset). 0 = all.
    pub limit: usize,
    pub split: SplitConfig,
    /// Centre crop side in pixels (keeps the labelled centre 32x32). 0 = no crop.
    pub crop: u32,
    /// Resize (after crop) to this side in pixels. 0 = keep.
    pub resize: u32,
    pub normalize: Normalize,
    pub augment: AugmentConfig,
    /// What to do with a tile that cannot be decoded or has the wrong shape.
    pub bad_tiles: BadTilePolicy,
    /// Decode once into a packed, memory-mapped cache under `cache_dir`.
    pub cache: bool,
    /// Folder of the packed cache (relative paths are relative to the working directory).
    pub cache_dir: String,
    /// Loader threads (0 = one per core).
    pub workers: usize,
    /// Ready batches kept ahead of the trainer.
    pub prefetch: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: "bundled".into(),
            labels: None,
            limit: 0,
            split: SplitConfig::default(),
            crop: 0,
            resize: 0,
            normalize: Normalize::Dataset,
            augment: AugmentConfig::default(),
            bad_tiles: BadTilePolicy::Error,
            cache: true,
            cache_dir: ".cache".into(),
            workers: 0,
            prefetch: 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of tiles held out for validation (stratified by label).
    pub valid: f64,
    /// Fraction held back as a test split, never seen in training or model selection.
    pub test: f64,
    /// Seed of the split (independent of the training seed, so sweeps share one split).
    pub seed: u64,
    /// k-fold cross-validation: number of folds (0 = off; then `valid` is used).
    pub folds: usize,
    /// Which fold is the validation fold (0-based) when `folds > 0`.
    pub fold: usize,
    /// A column of the labels CSV (a slide or patient id): every group stays on one side of
    /// the split and in one fold. Empty = tiles are split one by one.
    pub group: String,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            valid: 0.2,
            test: 0.0,
            seed: 1234,
            folds: 0,
            fold: 0,
            group: String::new(),
        }
    }
}

/// Per-channel normalisation applied after augmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalize {
    /// Mean and std measured on the training split.
    Dataset,
    /// `(p - 127) / 128`, what the EfficientNet-Lite ImageNet weights expect.
    Lite,
    /// Pixels scaled to [0, 1], nothing else.
    Unit,
}

/// Augmentations, applied on the fly, deterministic given (seed, epoch, tile).
/// A magnitude of 0 turns that augmentation off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Master switch: false turns every augmentation off.
    pub enabled: bool,
    /// Random multiples of 90 degrees (exact, lossless).
    pub rot90: bool,
    pub flip_h: bool,
    pub flip_v: bool,
    /// Arbitrary rotation up to ± this many degrees, reflect padding.
    pub rotate: f32,
    /// Zoom in [1 - zoom, 1 + zoom].
    pub zoom: f32,
    /// Shift up to this fraction of the side (bounded so the labelled centre stays in view).
    pub shift: f32,
    /// Brightness offset up to ± this fraction of full scale.
    pub brightness: f32,
    /// Contrast factor in [1 - contrast, 1 + contrast].
    pub contrast: f32,
    /// Saturation factor in [1 - saturation, 1 + saturation].
    pub saturation: f32,
    /// Hue shift up to ± this fraction of the colour wheel.
    pub hue: f32,
    /// HED stain jitter: sigma of the per-channel scale/offset in haematoxylin-eosin-DAB space.
    pub hed: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            enabled: true,
            rot90: true,
            flip_h: true,
            flip_v: true,
            rotate: 0.0,
            zoom: 0.0,
            shift: 0.0,
            brightness: 0.1,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.0,
            hed: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BadTilePolicy {
    /// Stop with an error naming the tile.
    Error,
    /// Skip it, count it and list it in the data report.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// The seed notebook's CNN family, built from `filters`.
    Cnn,
    /// EfficientNet-Lite0 backbone (optionally ImageNet-pretrained) with a 1-logit head.
    EfficientnetLite0,
}

/// How the classifier head reduces the last feature map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    /// Flatten (the seed notebook).
    Flatten,
    /// Global average pooling (fewer parameters, any input size).
    Gap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Freeze {
    /// Train everything.
    None,
    /// Train only the head (linear probe); see `unfreeze_after`.
    Backbone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    pub arch: Arch,
    /// CNN: filters per conv block; the block count is the list's length.
    pub filters: Vec<usize>,
    /// CNN: kernel of the first conv block.
    pub first_kernel: usize,
    /// CNN: kernel of the other conv blocks.
    pub kernel: usize,
    /// CNN: BatchNorm after each conv.
    pub batchnorm: bool,
    pub head: Head,
    /// Dropout before the dense layer (CNN) or before the logit (EfficientNet).
    pub dropout: f64,
    /// CNN: width of the dense layer (0 = no dense layer).
    pub dense: usize,
    /// CNN: dropout after the dense layer.
    pub dense_dropout: f64,
    /// EfficientNet: ImageNet weights (safetensors, PyTorch names). Empty = random init.
    pub pretrained: String,
    pub freeze: Freeze,
    /// Unfreeze the backbone after this many epochs (0 = never, when frozen).
    pub unfreeze_after: usize,
    /// Backbone learning rate = `train.lr * backbone_lr_scale`.
    pub backbone_lr_scale: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            arch: Arch::Cnn,
            filters: vec![32, 64, 128],
            first_kernel: 5,
            kernel: 3,
            batchnorm: true,
            head: Head::Flatten,
            dropout: 0.5,
            dense: 256,
            dense_dropout: 0.3,
            pretrained: String::new(),
            freeze: Freeze::None,
            unfreeze_after: 0,
            backbone_lr_scale: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optimizer {
    Adam,
    Adamw,
    Sgd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Multiply by `gamma` every `step_epochs` epochs.
    Step,
    /// Cosine decay to `min_lr` over the run.
    Cosine,
    /// One-cycle: warm up to `lr`, then cosine down to `min_lr`.
    OneCycle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStopping {
    /// Metric to watch: `valid_auc`, `valid_loss`, `valid_accuracy`, `valid_f1`, ...
    pub metric: String,
    /// Epochs without improvement before stopping (0 = never stop early).
    pub patience: usize,
    /// Smallest change that counts as an improvement.
    pub min_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            metric: "valid_auc".into(),
            patience: 5,
            min_delta: 0.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: Optimizer,
    pub lr: f64,
    /// SGD momentum (also beta1 for Adam/AdamW).
    pub momentum: f64,
    pub weight_decay: f64,
    pub schedule: Schedule,
    /// Linear warm-up length in epochs (fractions allowed).
    pub warmup_epochs: f64,
    pub step_epochs: usize,
    pub gamma: f64,
    pub min_lr: f64,
    /// Clip gradients to this global L2 norm (0 = off).
    pub grad_clip: f64,
    /// Weight the positive class by n_neg / n_pos (for the 60/40 imbalance).
    pub class_weight: bool,
    pub early_stopping: EarlyStopping,
    pub seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Cap on batches per epoch (0 = all), for smoke tests and quick looks.
    pub max_batches: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 64,
            optimizer: Optimizer::Adam,
            lr: 1e-3,
            momentum: 0.9,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            warmup_epochs: 0.0,
            step_epochs: 10,
            gamma: 0.1,
            min_lr: 1e-6,
            grad_clip: 0.0,
            class_weight: false,
            early_stopping: EarlyStopping::default(),
            seed: 42,
            device: "auto".into(),
            max_batches: 0,
        }
    }
}
