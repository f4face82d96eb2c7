//! Submitting experiments to Slurm, re-submitting stopped runs, cancelling.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::check::{self, Verdict};
use super::script::{self, ScriptSpec};
use super::{SCRIPT_FILE, SlurmRecord, run_command};
use crate::experiment::{Experiment, to_toml};
use crate::runs::paths::sanitize_name;
use crate::runs::{Event, RunPaths, new_run_id, now_unix, write_atomic};

/// Where and how runs are submitted.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// The shared runs folder (made absolute: the compute nodes must find it).
    pub runs_dir: PathBuf,
    /// The `histoboard` executable, on a path the compute nodes share.
    pub exe: PathBuf,
    /// Relative paths in the experiment (pretrained weights) resolve against this folder.
    pub base_dir: PathBuf,
    /// The job's working directory (default: the current one).
    pub workdir: PathBuf,
    /// Render the script and check the request, but create no run and call no `sbatch`.
    pub dry_run: bool,
}

impl SubmitOptions {
    pub fn new(runs_dir: impl Into<PathBuf>, base_dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(SubmitOptions {
            runs_dir: runs_dir.into(),
            exe: std::env::current_exe().context("locating the histoboard executable")?,
            base_dir: base_dir.into(),
            workdir: std::env::current_dir().context("reading the current directory")?,
            dry_run: false,
        })
    }
}

/// What one `submit` did.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The array job id (`None` for a dry run).
    pub job_id: Option<String>,
    /// Run ids and folders, in array-task order.
    pub runs: Vec<(String, PathBuf)>,
    /// The batch script as written.
    pub script: String,
    /// Time from the first folder written to the last record written.
    pub elapsed: Duration,
    /// What the caller should pass on: the request could not be checked against the cluster,
    /// or its time is over the partition's limit.
    pub warnings: Vec<String>,
    /// Dry runs only: why a real submission would be refused (it returns that as its error).
    pub refused: Option<String>,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// Submits `exps` (one experiment, or the runs of a sweep) as one Slurm job array: a run folder
/// per experiment with its `launch.toml`, the batch script, one `sbatch` call, and `slurm.json`
/// tying each folder to its array task. If `sbatch` refuses, the new folders are removed and
/// the scheduler's message is the error.
///
/// First the request is checked against the partition's nodes ([`check`](super::check)): one
/// no node could ever run is refused before anything is created, naming the field (a dry run
/// reports it in [`Submission::refused`]). When `sinfo` fails, or the time is over the
/// partition's limit, the submission goes ahead with a warning in [`Submission::warnings`].
pub fn submit(exps: &[Experiment], opts: &SubmitOptions) -> Result<Submission> {
    let started = Instant::now();
    let Some(first) = exps.first() else {
        bail!("nothing to submit");
    };
    // One array shares one resource request.
    if let Some(other) = exps.iter().find(|e| e.slurm != first.slurm) {
        bail!(
            "runs `{}` and `{}` ask for different [slurm] resources; one job array has one \
             request: sweep other settings, or submit them separately",
            first.name,
            other.name
        );
    }
    let runs_dir = absolute(&opts.runs_dir)?;
    let base_dir = absolute(&opts.base_dir)?;
    let workdir = absolute(&opts.workdir)?;
    let exe = absolute(&opts.exe)?;
    let ids: Vec<String> = exps.iter().map(|e| new_run_id(&e.name)).collect();
    // A sweep's runs are `<name>.<axis>-<value>`: the job is named after the experiment.
    let base_name = first.name.split('.').next().unwrap_or(&first.name);
    let job_name = format!("hb-{}", sanitize_name(base_name));
    let text = script::render(&ScriptSpec {
        slurm: &first.slurm,
        job_name: &job_name,
        runs_dir: &runs_dir,
        run_ids: &ids,
        exe: &exe,
        base_dir: &base_dir,
        workdir: &workdir,
        written_at: now_unix() as u64,
    });
    let runs: Vec<(String, PathBuf)> = ids
        .iter()
        .map(|id| (id.clone(), runs_dir.join(id)))
        .collect();
    let mut warnings = Vec::new();
    let refused = match check::against_cluster(&first.slurm) {
        Verdict::Fits => None,
        Verdict::Warn(w) => {
            warnings.push(w);
            None
        }
        Verdict::Refused(why) if opts.dry_run => Some(format!(
            "experiment `{base_name}` would not be submitted: {why}"
        )),
        Verdict::Refused(why) => Some(format!("experiment `{base_name}` was not submitted: {why}")),
    };
    if opts.dry_run {
        return Ok(Submission {
            job_id: None,
            runs,
            script: text,
            elapsed: started.elapsed(),
            warnings,
            refused,
        });
    }
    if let Some(why) = refused {
        bail!(why);
    }

    let out_dir = script::output_dir(&runs_dir);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let prepared = prepare(exps, &runs, &text);
    let job_id = prepared.and_then(|()| {
        let script_path = runs[0].1.join(SCRIPT_FILE);
        sbatch(&[script_path.display().to_string()])
    });
    let job_id = match job_id {
        Ok(id) => id,
        Err(e) => {
            // Nothing was queued: leave no half-made runs for the dashboard to show.
            for (_, dir) in &runs {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(e);
        }
    };
    let now = now_unix();
    for (task, (_, dir)) in runs.iter().enumerate() {
        SlurmRecord {
            job_id: job_id.clone(),
            task,
            submitted_at: now,
            previous_jobs: Vec::new(),
        }
        .write(dir)?;
    }
    Ok(Submission {
        job_id: Some(job_id),
        runs,
        script: text,
        elapsed: started.elapsed(),
        warnings,
        refused: None,
    })
}

/// Each run's folder with its `launch.toml` and a copy of the script.
fn prepare(exps: &[Experiment], runs: &[(String, PathBuf)], script: &str) -> Result<()> {
    for (exp, (_, dir)) in exps.iter().zip(runs) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_atomic(&RunPaths::new(dir).launch(), to_toml(exp).as_bytes())?;
        write_atomic(&dir.join(SCRIPT_FILE), script.as_bytes())?;
    }
    Ok(())
}

/// `sbatch --parsable ARGS...`; returns the job id (`1234`, or `1234;cluster` trimmed).
fn sbatch(args: &[String]) -> Result<String> {
    let mut full = vec!["--parsable".to_string()];
    full.extend_from_slice(args);
    let out = run_command("sbatch", &full).context("submitting to Slurm")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed no job id: {text:?}");
    }
    Ok(id.to_string())
}

/// Submits a stopped Slurm run again as its own array task; it resumes from its checkpoint.
/// Refused while the run's task is still queued or running.
pub fn resubmit(run_dir: &Path) -> Result<SlurmRecord> {
    let mut record = SlurmRecord::read(run_dir)?.with_context(|| {
        format!(
            "{} was not submitted to Slurm (resume it with histoboard train --resume)",
            run_dir.display()
        )
    })?;
    let task_id = record.task_id();
    if let Some(state) = super::query(std::slice::from_ref(&task_id))?.get(&task_id)
        && !state.state.is_final()
    {
        bail!(
            "{} is still in Slurm's queue as job {task_id} ({}); cancel it first",
            run_dir.display(),
            state.state.label()
        );
    }
    let script_path = run_dir.join(SCRIPT_FILE);
    if !script_path.is_file() {
        bail!("{} is missing: cannot re-submit", script_path.display());
    }
    let job_id = sbatch(&[
        format!("--array={}", record.task),
        script_path.display().to_string(),
    ])?;
    let previous = std::mem::replace(&mut record.job_id, job_id);
    record.previous_jobs.push(previous);
    record.submitted_at = now_unix();
    record.write(run_dir)?;
    Ok(record)
}

/// Cancels a Slurm run with `scancel`: Slurm sends SIGTERM and the trainer stops at its last
/// checkpoint and writes `cancelled`. A task that had not started yet gets the `cancelled`
/// event here, so the run does not look queued forever.
pub fn cancel(run_dir: &Path) -> Result<()> {
    let record = SlurmRecord::read(run_dir)?
        .with_context(|| format!("{} was not submitted to Slurm", run_dir.display()))?;
    let task_id = record.task_id();
    let before = super::query(std::slice::from_ref(&task_id))?;
    run_command("scancel", std::slice::from_ref(&task_id))
        .with_context(|| format!("cancelling Slurm job {task_id}"))?;
    let was_pending = before
        .get(&task_id)
        .is_some_and(|s| s.state == super::SchedState::Pending);
    let paths = RunPaths::new(run_dir);
    if was_pending && !paths.events().is_file() {
        let record = crate::runs::Record {
            v: crate::runs::SCHEMA_VERSION,
            t: now_unix(),
            event: Event::Cancelled { epoch: 0 },
        };
        let line = serde_json::to_string(&record).context("encoding the cancelled event")? + "\n";
        write_atomic(&paths.events(), line.as_bytes())?;
    }
    Ok(())
}
