//! Where a run keeps its files, and how runs are named.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

/// The files of one run, all inside `dir` (`runs/<run-id>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub dir: PathBuf,
}

impl RunPaths {
    pub fn new(dir: impl Into<PathBuf>) -> RunPaths {
        RunPaths { dir: dir.into() }
    }
    /// The event stream, one JSON record per line.
    pub fn events(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }
    /// The fully resolved experiment.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Which tile went to which split.
    pub fn split(&self) -> PathBuf {
        self.dir.join("split.csv")
    }
    /// One row per epoch, for spreadsheets and pandas.
    pub fn metrics_csv(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }
    /// Per-tile validation predictions of the best epoch (`id,label,prob`).
    pub fn predictions(&self) -> PathBuf {
        self.dir.join("valid_predictions.csv")
    }
    /// Per-tile validation predictions of every epoch, one file each (`id,label,prob`; runs
    /// trained before these existed have only [`RunPaths::predictions`]).
    pub fn epoch_predictions(&self, epoch: usize) -> PathBuf {
        self.dir
            .join("predictions")
            .join(format!("epoch-{epoch:03}.csv"))
    }
    /// Input-gradient saliency maps of one checkpoint (`best` or `last`): `<tile id>.png`,
    /// 96x96 grey, written by `histoboard errors --saliency`.
    pub fn saliency(&self, checkpoint: &str) -> PathBuf {
        self.dir.join("saliency").join(checkpoint)
    }
    /// The temperature fitted on the validation predictions (`histoboard calibrate`).
    pub fn calibration(&self) -> PathBuf {
        self.dir.join("calibration.toml")
    }
    /// The user's note and tags.
    pub fn meta(&self) -> PathBuf {
        self.dir.join("meta.toml")
    }
    /// stdout/stderr of a detached run.
    pub fn log(&self) -> PathBuf {
        self.dir.join("train.log")
    }
    /// The experiment a run was launched with, before its trainer starts (detached and Slurm
    /// runs): the folder is a run, queued, from the moment this exists.
    pub fn launch(&self) -> PathBuf {
        self.dir.join("launch.toml")
    }

    /// Refuses a run folder that is, or holds, a symbolic link where histoboard writes: resuming
    /// through one would write outside the runs folder, where other runs' files (or anything
    /// else) may live. The runs folder itself may be a link (`runs -> /scratch/runs`).
    pub fn refuse_links(&self) -> Result<()> {
        for path in [
            self.dir.clone(),
            self.events(),
            self.checkpoints(),
            self.metrics_csv(),
        ] {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path)
                    .map_or_else(|_| "?".into(), |t| t.display().to_string());
                anyhow::bail!(
                    "{} is a symbolic link (to {target}); histoboard writes only into real run \
                     folders, never through a link. Copy the run into the runs folder, or resume \
                     the link's target by its own path",
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// The run id: the folder name.
    pub fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl From<&Path> for RunPaths {
    fn from(dir: &Path) -> RunPaths {
        RunPaths::new(dir)
    }
}

/// A new run id: `<sanitized-name>-<YYYYmmdd-HHMMSS>-<4 hex>` in UTC, e.g.
/// `baseline-cnn-20240607-142501-9f3a`. Ids of one experiment sort by start time; the random
/// suffix keeps two runs started in the same second apart.
pub fn new_run_id(experiment_name: &str) -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{}-{}-{:04x}",
        sanitize_name(experiment_name),
        utc_stamp(secs),
        rand::random::<u16>()
    )
}

/// Keeps ASCII letters, digits, `-` and `_`; anything else becomes `-` (runs of them collapse),
/// so the id is a safe folder name on every platform and never starts with a dot.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
        if out.len() >= 48 {
            break;
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "run".to_string()
    } else {
        trimmed.to_string()
    }
}

/// `YYYYmmdd-HHMMSS` for seconds since the Unix epoch, in UTC.
pub fn utc_stamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rem = unix_secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Seconds since the Unix epoch, as recorded in events.
pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// This machine's host name (what a trainer records, and a watcher compares, before trusting
/// a pid). Empty when it cannot be read.
pub fn host_name() -> &'static str {
    // Read once: the watcher asks on every poll of every live run.
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default()
    })
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the folder, so
/// a reader (or a crash) never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    let written = write().with_context(|| format!("writing {}", path.display()));
    if written.is_err() {
        // A half-written temporary file would only hold on to the space a full disk lacks.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_known_dates() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        // 2000-02-29 12:34:56 UTC (leap day of a century leap year).
        assert_eq!(utc_stamp(951_827_696), "20000229-123456");
        // 2024-12-31 23:59:59 UTC.
        assert_eq!(utc_stamp(1_735_689_599), "20241231-235959");
        assert_eq!(utc_stamp(1_735_689_600), "20250101-000000");
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize_name("baseline cnn/v2"), "baseline-cnn-v2");
        assert_eq!(sanitize_name("..hidden"), "hidden");
        assert_eq!(sanitize_name("  "), "run");
        assert_eq!(sanitize_name("effnet_lite0-aug"), "effnet_lite0-aug");
    }

    #[test]
    fn run_ids_have_the_documented_shape() {
        let id = new_run_id("my exp");
        let parts: Vec<&str> = id.rsplitn(4, '-').collect();
        assert_eq!(parts.len(), 4, "{id}");
        assert_eq!(parts[3], "my-exp");
        assert_eq!(parts[2].len(), 8, "{id}: date");
        assert_eq!(parts[1].len(), 6, "{id}: time");
        assert!(
            parts[0].len() == 4 && parts[0].chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
    }
}
