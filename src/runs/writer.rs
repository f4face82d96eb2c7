//! Writes a run's event stream (`events.jsonl`) and its `metrics.csv` companion.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::event::{EpochSummary, Event, LogLevel, Record, SCHEMA_VERSION};
use super::paths::{RunPaths, now_unix};

/// Columns of `metrics.csv`, one row per epoch.
pub const METRICS_CSV_HEADER: &str = "epoch,lr,duration_s,images_per_sec,train_loss,train_accuracy,train_auc,valid_loss,valid_accuracy,valid_precision,valid_recall,valid_specificity,valid_f1,valid_auc,valid_average_precision,is_best";

/// Appends events to `events.jsonl`, one line per event, and keeps `metrics.csv` in step.
///
/// Every line is written with a single `write` call, so a tailer never sees two events
/// interleaved; the file is fsynced after the events a resume depends on (epoch, checkpoint and
/// the terminal ones), so a killed trainer loses nothing it already reported as saved.
pub struct EventWriter {
    paths: RunPaths,
    events: File,
    metrics: File,
    /// Opened with [`EventWriter::append`]: the next `Started` trims `metrics.csv` to its epoch.
    resumed: bool,
}

impl EventWriter {
    /// Starts a new stream in `dir` (created if missing); fails if `events.jsonl` already exists.
    pub fn create(dir: &Path) -> Result<EventWriter> {
        let paths = RunPaths::new(dir);
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the run folder {}", dir.display()))?;
        let events_path = paths.events();
        let events = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&events_path)
            .with_context(|| {
                format!(
                    "creating {} (a run folder holds one event stream; resume it instead)",
                    events_path.display()
                )
            })?;
        let metrics = create_metrics_csv(&paths.metrics_csv())?;
        Ok(EventWriter {
            paths,
            events,
            metrics,
            resumed: false,
        })
    }

    /// Continues the existing stream of `dir` (to resume a run).
    pub fn append(dir: &Path) -> Result<EventWriter> {
        let paths = RunPaths::new(dir);
        paths.refuse_links()?;
        let events_path = paths.events();
        if !events_path.is_file() {
            bail!(
                "cannot resume: {} does not exist (not a run folder?)",
                events_path.display()
            );
        }
        let torn = trim_torn_tail(&events_path)?;
        let events = OpenOptions::new()
            .append(true)
            .open(&events_path)
            .with_context(|| format!("opening {} to append", events_path.display()))?;
        let csv_path = paths.metrics_csv();
        let metrics = match std::fs::metadata(&csv_path) {
            Ok(m) if m.len() > 0 => open_append(&csv_path)?,
            _ => create_metrics_csv(&csv_path)?,
        };
        let mut writer = EventWriter {
            paths,
            events,
            metrics,
            resumed: true,
        };
        if torn > 0 {
            writer.emit(Event::Log {
                level: LogLevel::Warn,
                message: format!(
                    "dropped a torn last line of {torn} bytes from events.jsonl (the trainer \
                     was stopped while writing it; nothing it had reported as saved is lost)"
                ),
            })?;
        }
        Ok(writer)
    }

    pub fn paths(&self) -> &RunPaths {
        &self.paths
    }

    /// Writes `event` stamped with the schema version and the current time.
    pub fn emit(&mut self, event: Event) -> Result<()> {
        self.emit_at(now_unix(), event)
    }

    /// Like [`EventWriter::emit`] with an explicit time (seconds since the Unix epoch), for
    /// replaying or generating streams.
    pub fn emit_at(&mut self, t: f64, event: Event) -> Result<()> {
        if self.resumed
            && let Event::Started { start_epoch, .. } = &event
        {
            self.trim_metrics_csv(*start_epoch)?;
        }
        let record = Record {
            v: SCHEMA_VERSION,
            t,
            event,
        };
        let mut line = serde_json::to_string(&record).context("serialising a run event")?;
        line.push('\n');
        let path = self.paths.events();
        self.events
            .write_all(line.as_bytes())
            .with_context(|| format!("writing to {}", path.display()))?;
        let durable = matches!(
            record.event,
            Event::Epoch(_)
                | Event::Checkpoint { .. }
                | Event::Finished { .. }
                | Event::Failed { .. }
                | Event::Cancelled { .. }
        );
        if let Event::Epoch(summary) = &record.event {
            let csv = self.paths.metrics_csv();
            self.metrics
                .write_all(metrics_csv_row(summary).as_bytes())
                .with_context(|| format!("writing to {}", csv.display()))?;
            self.metrics
                .sync_data()
                .with_context(|| format!("syncing {}", csv.display()))?;
        }
        if durable {
            self.events
                .sync_data()
                .with_context(|| format!("syncing {}", path.display()))?;
        }
        Ok(())
    }

    /// A resumed run repeats the epochs after its checkpoint: drop their old rows so the CSV
    /// keeps one row per epoch (the event stream keeps both; readers let the later one win).
    fn trim_metrics_csv(&mut self, start_epoch: usize) -> Result<()> {
        let path = self.paths.metrics_csv();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut kept = String::with_capacity(text.len());
        let mut dropped = false;
        let columns = METRICS_CSV_HEADER.split(',').count();
        for (i, line) in text.lines().enumerate() {
            // A row cut short by a kill has fewer columns: it goes too (its epoch is re-run).
            let keep = i == 0
                || (line.split(',').count() == columns
                    && line
                        .split(',')
                        .next()
                        .and_then(|e| e.trim().parse::<usize>().ok())
                        .is_none_or(|epoch| epoch <= start_epoch));
            if keep {
                kept.push_str(line);
                kept.push('\n');
            } else {
                dropped = true;
            }
        }
        if dropped {
            let tmp = path.with_extension("csv.tmp");
            std::fs::write(&tmp, &kept).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("replacing {}", path.display()))?;
            self.metrics = open_append(&path)?;
        }
        Ok(())
    }
}

/// Cuts an unterminated last line off `path` (a writer killed mid-line), so appended events
/// start on a line of their own. Returns the bytes cut. Every event is one `write` ending in a
/// newline, so a line without one was never a whole event.
fn trim_torn_tail(path: &Path) -> Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let ctx = || format!("checking the last line of {}", path.display());
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(ctx)?;
    let len = f.metadata().with_context(ctx)?.len();
    // Walk back in blocks to the last newline (a torn line may be long).
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    let keep = loop {
        if end == 0 {
            break 0;
        }
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        f.seek(SeekFrom::Start(start)).with_context(ctx)?;
        f.read_exact(chunk).with_context(ctx)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            break start + i as u64 + 1;
        }
        end = start;
    };
    if keep < len {
        f.set_len(keep)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cutting the torn last line of {}", path.display()))?;
    }
    Ok(len - keep)
}

fn create_metrics_csv(path: &PathBuf) -> Result<File> {
    let mut f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{METRICS_CSV_HEADER}").with_context(|| format!("writing {}", path.display()))?;
    Ok(f)
}

fn open_append(path: &PathBuf) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {} to append", path.display()))
}

/// One `metrics.csv` line (with its newline) in [`METRICS_CSV_HEADER`] order. Non-finite values
/// print as `NaN`/`inf`, which pandas reads as floats.
pub fn metrics_csv_row(s: &EpochSummary) -> String {
    let (t, v) = (&s.train, &s.valid);
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        s.epoch,
        s.lr,
        s.duration_s,
        s.images_per_sec,
        t.loss,
        t.accuracy,
        t.auc,
        v.loss,
        v.accuracy,
        v.precision,
        v.recall,
        v.specificity,
        v.f1,
        v.auc,
        v.average_precision,
        s.is_best
    )
}
