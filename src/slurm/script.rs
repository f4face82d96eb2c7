//! The batch script: one file per sweep, one array task per run.
//!
//! Task `K` trains run folder `RUNS[K]`: it starts the run from its `launch.toml`, or resumes it
//! when it has a checkpoint (a requeued, pre-empted or re-submitted task), so the same script
//! serves the first submission, Slurm's own requeue and `sbatch --array=K slurm.sh` by hand.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::experiment::SlurmConfig;

/// Everything the script needs besides the `[slurm]` table.
#[derive(Debug, Clone)]
pub struct ScriptSpec<'a> {
    pub slurm: &'a SlurmConfig,
    /// `--job-name`.
    pub job_name: &'a str,
    /// Absolute path of the shared runs folder.
    pub runs_dir: &'a Path,
    /// Run ids, in array-task order.
    pub run_ids: &'a [String],
    /// The `histoboard` executable as the compute nodes see it.
    pub exe: &'a Path,
    /// Relative paths in experiments resolve against this folder.
    pub base_dir: &'a Path,
    /// Working directory of the job (`--chdir`): where `data.cache_dir` and relative sources
    /// resolve, as for a local run started from there.
    pub workdir: &'a Path,
    /// Unix seconds, for the header comment.
    pub written_at: u64,
}

/// Folder (inside the runs folder, hidden from run discovery) for Slurm's own output files.
pub fn output_dir(runs_dir: &Path) -> PathBuf {
    runs_dir.join(".slurm")
}

/// The `--array` value: `0-N` and `%K` when a limit is set.
pub fn array_range(tasks: usize, limit: u32) -> String {
    let last = tasks.saturating_sub(1);
    let range = if last == 0 {
        "0".to_string()
    } else {
        format!("0-{last}")
    };
    if limit > 0 && (limit as usize) < tasks {
        format!("{range}%{limit}")
    } else {
        range
    }
}

/// Single-quotes `s` for bash (`'` becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Renders the batch script.
pub fn render(spec: &ScriptSpec) -> String {
    let s = spec.slurm;
    let runs = spec.runs_dir.display().to_string();
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    line("#!/bin/bash".into());
    line(format!(
        "# Written by histoboard submit ({}): {} run(s), one array task each.",
        crate::runs::paths::utc_stamp(spec.written_at),
        spec.run_ids.len()
    ));
    line("# Re-submit one run (it resumes from its checkpoint): sbatch --array=K this-file".into());
    let mut sb = |opt: String| line(format!("#SBATCH {opt}"));
    sb(format!("--job-name={}", spec.job_name));
    sb(format!(
        "--array={}",
        array_range(spec.run_ids.len(), s.array_limit)
    ));
    sb(format!(
        "--output={}/%x-%A_%a.out",
        output_dir(spec.runs_dir).display()
    ));
    sb("--open-mode=append".into());
    sb(format!("--chdir={}", spec.workdir.display()));
    sb("--ntasks=1".into());
    // Unset asks for nothing: the cluster's default, which any of its nodes can give.
    if s.cpus > 0 {
        sb(format!("--cpus-per-task={}", s.cpus));
    }
    if !s.mem.is_empty() {
        sb(format!("--mem={}", s.mem));
    }
    sb(format!("--time={}", s.time));
    if s.gpus > 0 {
        sb(format!("--gres=gpu:{}", s.gpus));
    }
    if let Some(p) = &s.partition {
        sb(format!("--partition={p}"));
    }
    if let Some(a) = &s.account {
        sb(format!("--account={a}"));
    }
    if let Some(q) = &s.qos {
        sb(format!("--qos={q}"));
    }
    if s.signal_lead_s > 0 {
        // B: to the batch shell only, which is the trainer itself after `exec`.
        sb(format!("--signal=B:TERM@{}", s.signal_lead_s));
    }
    sb(if s.requeue {
        "--requeue"
    } else {
        "--no-requeue"
    }
    .into());
    for extra in &s.extra {
        sb(extra.clone());
    }
    line(String::new());
    line("set -u".into());
    line("RUNS=(".into());
    for id in spec.run_ids {
        line(format!("  {}", shell_quote(id)));
    }
    line(")".into());
    line("RUN_ID=\"${RUNS[${SLURM_ARRAY_TASK_ID:-0}]}\"".into());
    line(format!("RUN_DIR={}/\"$RUN_ID\"", shell_quote(&runs)));
    line("exec >>\"$RUN_DIR/train.log\" 2>&1".into());
    line(
        "echo \"== slurm job ${SLURM_JOB_ID:-?} (array ${SLURM_ARRAY_JOB_ID:-?}_${SLURM_ARRAY_TASK_ID:-?}, restart ${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -u +%FT%TZ)\""
            .into(),
    );
    // The trainer sizes its thread pool from the CPUs it may use; where the cluster does not
    // bind tasks to their cores (TaskPlugin=task/none) that is the whole node, so the count
    // Slurm gave (set only with --cpus-per-task) caps it; the user's own setting wins.
    line(
        "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export RAYON_NUM_THREADS=\"${RAYON_NUM_THREADS:-$SLURM_CPUS_PER_TASK}\"; fi"
            .into(),
    );
    for l in &s.setup {
        line(l.clone());
    }
    let mut exec = String::new();
    let _ = write!(
        exec,
        "exec {} train --run-folder \"$RUN_DIR\" --base-dir {} --plain",
        shell_quote(&spec.exe.display().to_string()),
        shell_quote(&spec.base_dir.display().to_string())
    );
    line(exec);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with<'a>(slurm: &'a SlurmConfig, ids: &'a [String]) -> ScriptSpec<'a> {
        ScriptSpec {
            slurm,
            job_name: "hb-quick",
            runs_dir: Path::new("/shared/proj/runs"),
            run_ids: ids,
            exe: Path::new("/opt/histoboard/bin/histoboard"),
            base_dir: Path::new("/shared/proj/experiments"),
            workdir: Path::new("/shared/proj"),
            written_at: 0,
        }
    }

    #[test]
    fn array_ranges() {
        assert_eq!(array_range(1, 0), "0");
        assert_eq!(array_range(2, 0), "0-1");
        assert_eq!(array_range(30, 4), "0-29%4");
        assert_eq!(array_range(3, 3), "0-2");
        assert_eq!(array_range(3, 9), "0-2");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn defaults_and_every_option() {
        let ids = vec!["a-1".to_string(), "b-2".to_string()];
        let def = SlurmConfig::default();
        let text = render(&spec_with(&def, &ids));
        assert!(text.starts_with("#!/bin/bash\n"));
        for want in [
            "#SBATCH --job-name=hb-quick\n",
            "#SBATCH --array=0-1\n",
            "#SBATCH --output=/shared/proj/runs/.slurm/%x-%A_%a.out\n",
            "#SBATCH --chdir=/shared/proj\n",
            "#SBATCH --ntasks=1\n",
            "#SBATCH --time=04:00:00\n",
            "#SBATCH --signal=B:TERM@120\n",
            "#SBATCH --requeue\n",
            "  'a-1'\n  'b-2'\n",
            "RUN_DIR='/shared/proj/runs'/\"$RUN_ID\"\n",
            "exec '/opt/histoboard/bin/histoboard' train --run-folder \"$RUN_DIR\" --base-dir '/shared/proj/experiments' --plain\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // No [slurm] table asks for no CPUs, memory or GPUs: the cluster's defaults apply.
        for absent in [
            "--cpus-per-task",
            "--mem",
            "--gres",
            "--partition",
            "--account",
            "--qos",
        ] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        // Every #SBATCH line comes before the first command, or sbatch ignores it.
        let first_cmd = text.find("\nset -u").unwrap();
        assert!(text.rfind("#SBATCH").unwrap() < first_cmd);

        let full = SlurmConfig {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            qos: Some("high".into()),
            gpus: 2,
            cpus: 8,
            mem: String::new(),
            time: "1-00:00:00".into(),
            array_limit: 1,
            signal_lead_s: 0,
            requeue: false,
            setup: vec!["module load cuda/12".into()],
            extra: vec!["--constraint=h100".into()],
        };
        let text = render(&spec_with(&full, &ids));
        for want in [
            "#SBATCH --array=0-1%1\n",
            "#SBATCH --cpus-per-task=8\n",
            "#SBATCH --gres=gpu:2\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --account=lab\n",
            "#SBATCH --qos=high\n",
            "#SBATCH --no-requeue\n",
            "#SBATCH --constraint=h100\n",
            "\nmodule load cuda/12\nexec ",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        for absent in ["--mem", "--signal"] {
            assert!(!text.contains(absent), "{absent} in\n{text}");
        }
        // Where Slurm gave a CPU count, the trainer's threads follow it.
        assert!(
            text.contains("RAYON_NUM_THREADS=\"${RAYON_NUM_THREADS:-$SLURM_CPUS_PER_TASK}\""),
            "{text}"
        );

        let with_mem = SlurmConfig {
            mem: "500M".into(),
            ..SlurmConfig::default()
        };
        let text = render(&spec_with(&with_mem, &ids));
        assert!(text.contains("#SBATCH --mem=500M\n"), "{text}");
    }
}
