//! The headless progress of a training run, for `histoboard train`.

use std::io::Write;

use histoboard::runs::{Event, LogLevel, Record, RunState, SCHEMA_VERSION, now_unix};

/// Headless progress, drawn from the one run state the dashboard draws too: per-epoch
/// summaries on stdout (so `train ... > log` keeps them), a live bar and the log on stderr.
pub struct Progress {
    fancy: bool,
    /// The run as its events so far describe it.
    pub state: RunState,
    line_open: bool,
}

impl Progress {
    /// `fancy`: a live progress bar on stderr (a terminal), else plain lines only.
    pub fn new(fancy: bool) -> Progress {
        Progress {
            fancy,
            state: RunState::new("", ""),
            line_open: false,
        }
    }

    fn clear(&mut self) {
        clear_line(&mut self.line_open);
    }

    /// Folds the event into the state and prints what it adds.
    pub fn show(&mut self, event: &Event) {
        let now = now_unix();
        self.state.apply(&Record {
            v: SCHEMA_VERSION,
            t: now,
            event: event.clone(),
        });
        let st = &self.state;
        match event {
            Event::Started {
                run_id,
                data,
                start_epoch,
                ..
            } => {
                clear_line(&mut self.line_open);
                eprintln!(
                    "run {run_id} on {}: {} train / {} valid tiles, {} epochs{}",
                    st.device,
                    data.train,
                    data.valid,
                    st.epochs,
                    if *start_epoch > 0 {
                        format!(", resuming after epoch {start_epoch}")
                    } else {
                        String::new()
                    }
                );
            }
            Event::Batch { .. } if self.fancy => {
                let Some(line) = live_line(st, now) else {
                    return;
                };
                eprint!("\r\x1b[2K{line}");
                let _ = std::io::stderr().flush();
                self.line_open = true;
            }
            Event::Epoch(e) => {
                clear_line(&mut self.line_open);
                println!(
                    "epoch {:>3}/{} loss {:.4} val_loss {:.4} val_acc {:.4} val_auc {:.4} {:.0} img/s {}{}",
                    e.epoch,
                    e.epochs,
                    e.train.loss,
                    e.valid.loss,
                    e.valid.accuracy,
                    e.valid.auc,
                    e.images_per_sec,
                    fmt_secs(e.duration_s),
                    if e.is_best { " *best" } else { "" }
                );
            }
            Event::Log { level, message } => {
                clear_line(&mut self.line_open);
                let level = match level {
                    LogLevel::Info => "info",
                    LogLevel::Warn => "warning",
                    LogLevel::Error => "error",
                };
                eprintln!("{level}: {message}");
            }
            Event::Failed { error } => {
                clear_line(&mut self.line_open);
                eprintln!("failed: {error}");
            }
            // The caller prints the one closing line, with the run folder.
            Event::Finished { .. }
            | Event::Cancelled { .. }
            | Event::Checkpoint { .. }
            | Event::Batch { .. } => {}
        }
    }

    /// Closes the live line once the run's events end.
    pub fn done(&mut self) {
        self.clear();
    }

    /// Seconds spent training (a resumed run's pause not counted).
    pub fn trained_s(&self) -> f64 {
        self.state.elapsed_seconds(now_unix()).unwrap_or(0.0)
    }
}

/// The live progress line of a run inside an epoch: the bar, the batch's figures, the best
/// epoch so far on the run's own metric (nothing before one ends) and the ETA (from the pace
/// of the epoch under way until one has ended).
fn live_line(st: &histoboard::runs::RunState, now: f64) -> Option<String> {
    let p = st.progress?;
    let width = 24;
    let filled = (width * p.batch / p.batches.max(1)).min(width);
    let eta = st
        .eta_seconds(now)
        .map_or(String::new(), |s| format!(" ETA {}", fmt_secs(s)));
    let best = st.best_value.map_or(String::new(), |v| {
        format!(" best {} {v:.4}", st.best_metric)
    });
    Some(format!(
        "epoch {}/{} [{}{}] {}/{} loss {:.4} lr {:.1e} {:.0} img/s{best}{eta}",
        p.epoch,
        st.epochs,
        "=".repeat(filled),
        " ".repeat(width - filled),
        p.batch,
        p.batches,
        p.loss,
        p.lr,
        st.images_per_sec,
    ))
}

/// Ends a live progress line, if one is open, so the next line starts clean.
fn clear_line(open: &mut bool) {
    if std::mem::take(open) {
        eprint!("\r\x1b[2K");
    }
}

/// `m:ss`, or `h:mm:ss` from an hour.
pub fn fmt_secs(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use histoboard::runs::{DataSummary, Event, Record, RunState, SCHEMA_VERSION};

    fn rec(t: f64, event: Event) -> Record {
        Record {
            v: SCHEMA_VERSION,
            t,
            event,
        }
    }

    #[test]
    fn the_first_epoch_shows_an_eta_and_no_nan() {
        let mut st = RunState::new("r", "");
        st.apply(&rec(
            0.0,
            Event::Started {
                run_id: "r".into(),
                experiment: "x".into(),
                config: String::new(),
                device: "CPU".into(),
                epochs: 4,
                batches: 10,
                data: DataSummary::default(),
                start_epoch: 0,
                pid: 1,
                host: String::new(),
                metric: "valid_auc".into(),
            },
        ));
        st.apply(&rec(
            10.0,
            Event::Batch {
                epoch: 1,
                batch: 5,
                batches: 10,
                loss: 0.6,
                lr: 1e-3,
                images_per_sec: 50.0,
            },
        ));
        let line = live_line(&st, 10.0).unwrap();
        // Half an epoch in 10 s: 20 s an epoch, 3.5 epochs left.
        assert!(line.contains("ETA 1:10"), "{line}");
        assert!(!line.contains("NaN") && !line.contains("best"), "{line}");
    }
}
