//! Slurm end to end, against the real single-node cluster `scripts/slurm-up.sh` starts
//! (Debian's slurm-wlm and munge): a sweep goes in as one job array, its runs stream into
//! `runs/`, a cancelled run checkpoints and resumes when re-submitted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use histoboard::runs::{RunState, RunStatus, RunsWatcher};
use histoboard::slurm::{self, SchedState, SlurmRecord};

/// The cluster has two cores: one Slurm test at a time.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Starts (or checks) the cluster. `None` only when its packages cannot be installed on this
/// machine (exit 3), said out loud, and a failure under `CI=true`, where the cluster must run;
/// any other failure fails the test.
fn cluster() -> Option<std::sync::MutexGuard<'static, ()>> {
    let guard = CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-up.sh");
    let out = Command::new("bash").arg(&script).output().unwrap();
    match out.status.code() {
        Some(0) => Some(guard),
        Some(3) => {
            let why = String::from_utf8_lossy(&out.stderr);
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("cannot run under CI: no Slurm cluster here: {}", why.trim());
            }
            eprintln!("SKIPPED: no Slurm cluster here: {}", why.trim());
            None
        }
        _ => panic!(
            "scripts/slurm-up.sh failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn histoboard(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_histoboard"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A project folder with a two-run sweep: a short run and a long one.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("experiments")).unwrap();
    std::fs::write(
        dir.path().join("experiments/tiny.toml"),
        crate::support::tiny_toml(
            "",
            "max_batches = 3",
            "[slurm]\ncpus = 1\nmem = \"1G\"\ntime = \"00:10:00\"\n[sweep]\n\"train.epochs\" = [2, 30]",
        ),
    )
    .unwrap();
    dir
}

/// Polls `runs/` until `done` holds for the run `id`, or panics after `secs` with the state.
fn wait_for(runs: &Path, id: &str, secs: u64, what: &str, done: impl Fn(&RunState) -> bool) {
    let mut watcher = RunsWatcher::new(runs).with_quiet_after(f64::INFINITY);
    let start = Instant::now();
    loop {
        watcher.poll();
        if let Some(s) = watcher.get(id)
            && done(s)
        {
            return;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let log = std::fs::read_to_string(runs.join(id).join("train.log")).unwrap_or_default();
            panic!(
                "{id}: not {what} after {secs} s: {:?}\ntrain.log:\n{log}",
                watcher.get(id).map(|s| (s.status, s.completed.len()))
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn sched_state(run_dir: &Path) -> SchedState {
    let rec = SlurmRecord::read(run_dir).unwrap().expect("a Slurm record");
    let id = rec.task_id();
    slurm::query(std::slice::from_ref(&id)).unwrap()[&id]
        .state
        .clone()
}

#[test]
fn sweep_runs_as_one_array_cancels_and_resumes() {
    let Some(_cluster) = cluster() else { return };
    let proj = project();
    let out = ok(histoboard(
        proj.path(),
        &["submit", "experiments/tiny.toml", "--runs-dir", "runs"],
    ));
    // `JOB_TASK  RUN_ID` per run, then the summary naming one array.
    let rows: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            let (task, id) = (p.next()?, p.next()?);
            (p.next().is_none() && task.contains('_')).then(|| (task.into(), id.into()))
        })
        .collect();
    assert_eq!(rows.len(), 2, "{out}");
    let job = rows[0].0.split('_').next().unwrap().to_string();
    assert_eq!(rows[1].0, format!("{job}_1"), "one array, two tasks: {out}");
    assert!(out.contains(&format!("as Slurm job array {job}")), "{out}");
    let runs = proj.path().join("runs");
    let (short, long): (PathBuf, PathBuf) = (runs.join(&rows[0].1), runs.join(&rows[1].1));
    for dir in [&short, &long] {
        for f in ["launch.toml", "slurm.sh", "slurm.json"] {
            assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
        }
    }
    assert!(
        std::fs::read_to_string(short.join("slurm.sh"))
            .unwrap()
            .contains("#SBATCH --array=0-1\n"),
    );

    // Both stream into runs/; the short one finishes.
    wait_for(&runs, &rows[0].1, 180, "finished", |s| {
        s.status == RunStatus::Finished
    });
    wait_for(&runs, &rows[1].1, 180, "past epoch 1", |s| {
        s.status == RunStatus::Running && !s.completed.is_empty()
    });

    // Cancel the long one through Slurm: it checkpoints and says so.
    ok(histoboard(proj.path(), &["cancel", long.to_str().unwrap()]));
    wait_for(&runs, &rows[1].1, 60, "cancelled", |s| {
        s.status == RunStatus::Cancelled
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sched_state(&long) != SchedState::Cancelled && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(sched_state(&long), SchedState::Cancelled);
    assert_eq!(sched_state(&short), SchedState::Completed);
    let done_before = {
        let mut w = RunsWatcher::new(&runs);
        w.poll();
        w.get(&rows[1].1).unwrap().completed.len()
    };
    assert!(done_before >= 1);
    assert!(long.join("checkpoints/last.json").is_file());

    // Re-submitted, the same array task resumes from the checkpoint and completes.
    let out = ok(histoboard(
        proj.path(),
        &["submit", "--resume", long.to_str().unwrap()],
    ));
    assert!(out.contains("re-submitted"), "{out}");
    let rec = SlurmRecord::read(&long).unwrap().unwrap();
    assert_eq!(rec.previous_jobs, vec![job.clone()]);
    assert_eq!(rec.task, 1);
    wait_for(&runs, &rows[1].1, 240, "finished after resuming", |s| {
        s.status == RunStatus::Finished
    });
    let mut w = RunsWatcher::new(&runs);
    w.poll();
    let s = w.get(&rows[1].1).unwrap();
    assert!(s.start_epoch >= done_before, "resumed at {}", s.start_epoch);
    assert_eq!(s.completed.len(), 30);
    assert!(!s.host.is_empty());
}

/// Run folders under `runs/` (Slurm's own `.slurm` output folder aside).
fn run_folders(proj: &Path) -> Vec<String> {
    std::fs::read_dir(proj.join("runs"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes `experiments/<name>.toml`: the tiny experiment, named `name`, with `tables` after it.
fn experiment(proj: &Path, name: &str, train: &str, tables: &str) {
    let text = crate::support::tiny_toml("", train, tables)
        .replace("name = \"tiny\"", &format!("name = \"{name}\""));
    std::fs::write(proj.join(format!("experiments/{name}.toml")), text).unwrap();
}

#[test]
fn refusals_show_the_scheduler_message_and_leave_nothing() {
    let Some(_cluster) = cluster() else { return };
    let proj = project();
    // A feature no node has: the check leaves constraints to Slurm, which refuses.
    experiment(
        proj.path(),
        "nofeature",
        "",
        "[slurm]\ncpus = 1\nextra = [\"--constraint=no-such-feature\"]",
    );
    let out = histoboard(proj.path(), &["submit", "experiments/nofeature.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sbatch"), "{err}");
    assert!(err.contains("Invalid feature specification"), "{err}");
    // No half-made runs for the dashboard to show.
    assert_eq!(run_folders(proj.path()), Vec::<String>::new());
}

#[test]
fn an_unknown_partition_is_refused_before_sbatch_naming_the_real_ones() {
    let Some(_cluster) = cluster() else { return };
    let proj = project();
    let out = histoboard(
        proj.path(),
        &[
            "submit",
            "experiments/tiny.toml",
            "--partition",
            "no-such-partition",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "experiment `tiny` was not submitted: slurm.partition names partition \
             `no-such-partition`, which this cluster does not have; its partitions are `debug`"
        ),
        "{err}"
    );
    assert!(
        !proj.path().join("runs").exists(),
        "{:?}",
        run_folders(proj.path())
    );
}

/// `(CPUs, memory in MB)` of the test cluster's largest node in partition `debug`.
fn debug_node_size() -> (u64, u64) {
    let out = Command::new("sinfo")
        .args(["-h", "-N", "-p", "debug", "-o", "%c %m"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?))
        })
        .max()
        .unwrap_or_else(|| panic!("sinfo printed no node sizes: {text:?}"))
}

#[test]
fn a_request_no_node_can_meet_is_refused_before_sbatch() {
    let Some(_cluster) = cluster() else { return };
    let (cpus, mem_mb) = debug_node_size();
    let proj = project();
    // More CPUs than the node has: sbatch would queue it, pending for ever (PartitionConfig).
    let too_many = (cpus + 1).to_string();
    let out = histoboard(
        proj.path(),
        &["submit", "experiments/tiny.toml", "--cpus", &too_many],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let s = if cpus == 1 { "" } else { "s" };
    assert!(
        err.contains(&format!(
            "experiment `tiny` was not submitted: slurm.cpus = {too_many}, but the largest \
             node of partition `debug` has {cpus} CPU{s}"
        )),
        "{err}"
    );
    assert!(
        !proj.path().join("runs").exists(),
        "{:?}",
        run_folders(proj.path())
    );

    // More memory than the node has, from the file this time.
    let mem = format!("{}M", mem_mb + 1024);
    experiment(
        proj.path(),
        "bigmem",
        "",
        &format!("[slurm]\ncpus = 1\nmem = \"{mem}\""),
    );
    let out = histoboard(proj.path(), &["submit", "experiments/bigmem.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "experiment `bigmem` was not submitted: slurm.mem = {mem}, but the largest node of \
             partition `debug` has"
        )),
        "{err}"
    );
    assert!(
        !proj.path().join("runs").exists(),
        "{:?}",
        run_folders(proj.path())
    );

    // A dry run shows the script, then says the same and fails.
    let out = histoboard(
        proj.path(),
        &["submit", "experiments/bigmem.toml", "--dry-run"],
    );
    assert!(!out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains(&format!("#SBATCH --mem={mem}\n")),
        "{script}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("slurm.mem = {mem}")), "{err}");
    assert!(!proj.path().join("runs").exists());
}

#[test]
fn no_slurm_table_asks_for_nothing_and_runs() {
    let Some(_cluster) = cluster() else { return };
    let proj = project();
    experiment(proj.path(), "plain", "epochs = 1\nmax_batches = 2", "");
    let out = histoboard(
        proj.path(),
        &["submit", "experiments/plain.toml", "--dry-run"],
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let script = ok(out);
    assert!(script.contains("#SBATCH --time="), "{script}");
    for absent in ["--cpus-per-task", "--mem", "--gres"] {
        assert!(!script.contains(absent), "{absent} in\n{script}");
    }
    assert!(!err.contains("warning"), "{err}");

    // The cluster's defaults fit its nodes: the run is accepted and finishes.
    let out = ok(histoboard(
        proj.path(),
        &["submit", "experiments/plain.toml", "--runs-dir", "runs"],
    ));
    let id = out
        .lines()
        .find_map(|l| l.split_once("  "))
        .map(|(_, i)| i.trim().to_string())
        .unwrap_or_else(|| panic!("no run in {out}"));
    wait_for(&proj.path().join("runs"), &id, 180, "finished", |s| {
        s.status == RunStatus::Finished
    });
}

#[test]
fn thirty_run_sweep_is_one_sbatch_call() {
    let Some(_cluster) = cluster() else { return };
    let proj = project();
    let exp = proj.path().join("experiments/wide.toml");
    std::fs::write(
        &exp,
        "name = \"wide\"\n[slurm]\ncpus = 1\narray_limit = 4\n[train]\nepochs = 1\n[sweep]\n\"train.seed\" = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]\n",
    )
    .unwrap();
    let out = ok(histoboard(
        proj.path(),
        &[
            "submit",
            "experiments/wide.toml",
            "--runs-dir",
            "runs",
            "--dry-run",
        ],
    ));
    assert!(out.contains("#SBATCH --array=0-29%4"), "{out}");
    // Held, so the scheduler starts none of them: this is about submission.
    let exps = histoboard::experiment::load(&exp, &[]).unwrap();
    let mut opts = slurm::SubmitOptions::new(proj.path().join("runs"), proj.path()).unwrap();
    opts.exe = env!("CARGO_BIN_EXE_histoboard").into();
    let mut held = exps.clone();
    for e in &mut held {
        e.slurm.extra.push("--hold".into());
    }
    let sub = slurm::submit(&held, &opts).unwrap();
    let job = sub.job_id.clone().unwrap();
    assert_eq!(sub.runs.len(), 30);
    let tasks: Vec<String> = (0..30).map(|t| format!("{job}_{t}")).collect();
    let states = slurm::query(&tasks).unwrap();
    assert_eq!(states.len(), 30);
    assert!(
        states.values().all(|s| s.state == SchedState::Pending),
        "{states:?}"
    );
    eprintln!(
        "submitting a 30-run sweep took {:.1} ms",
        sub.elapsed.as_secs_f64() * 1e3
    );
    // A task cancelled before it ever started still ends as a cancelled run, not a queued one.
    let first = &sub.runs[0];
    ok(histoboard(
        proj.path(),
        &["cancel", first.1.to_str().unwrap()],
    ));
    let mut w = RunsWatcher::new(proj.path().join("runs"));
    w.poll();
    assert_eq!(w.get(&first.0).unwrap().status, RunStatus::Cancelled);
    assert_eq!(w.get(&sub.runs[1].0).unwrap().status, RunStatus::Queued);
    Command::new("scancel").arg(&job).status().unwrap();
}

/// A folder with a fake `sinfo` that prints `stdout` and exits `code`, for the front of PATH.
fn fake_sinfo(stdout: &str, code: i32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sinfo");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nprintf '%s' '{stdout}'\necho 'sinfo: fake failure' >&2\nexit {code}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn when_sinfo_fails_or_is_unreadable_the_submission_warns_and_goes_on() {
    // A dry run calls no sbatch: this needs no cluster.
    let proj = project();
    for (stdout, code, why) in [
        ("", 1, "sinfo: fake failure"),
        ("what is this\n", 0, "cannot read what `sinfo` printed"),
    ] {
        let bin = fake_sinfo(stdout, code);
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_histoboard"))
            .args(["submit", "experiments/tiny.toml", "--dry-run"])
            .current_dir(proj.path())
            .env("PATH", path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let script = ok(out);
        assert!(script.starts_with("#!/bin/bash\n"), "{script}");
        assert!(
            err.contains(
                "warning: the [slurm] request was not checked against the cluster's nodes"
            ),
            "{err}"
        );
        assert!(err.contains(why), "{err}");
        assert!(err.contains("it goes to sbatch unchecked"), "{err}");
    }
}

#[test]
fn without_slurm_commands_the_error_says_so() {
    let proj = project();
    let out = Command::new(env!("CARGO_BIN_EXE_histoboard"))
        .args(["submit", "experiments/tiny.toml"])
        .current_dir(proj.path())
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`sbatch` is not on the PATH"), "{err}");
    assert!(
        !proj.path().join("runs").exists()
            || std::fs::read_dir(proj.path().join("runs"))
                .unwrap()
                .flatten()
                .all(|e| e.file_name().to_string_lossy().starts_with('.'))
    );
}

#[test]
fn a_requeued_task_resumes_from_its_checkpoint() {
    let Some(_cluster) = cluster() else { return };
    let proj = project();
    let out = ok(histoboard(
        proj.path(),
        &[
            "submit",
            "experiments/tiny.toml",
            "--runs-dir",
            "runs",
            "--set",
            "train.epochs=30",
        ],
    ));
    let (task, id) = out
        .lines()
        .find_map(|l| l.split_once("  "))
        .map(|(t, i)| (t.to_string(), i.trim().to_string()))
        .unwrap();
    let runs = proj.path().join("runs");
    wait_for(&runs, &id, 180, "past epoch 1", |s| {
        s.status == RunStatus::Running && !s.completed.is_empty()
    });
    // What pre-emption or a node failure does: Slurm stops the task and queues it again.
    for args in [
        vec!["requeue".to_string(), task.clone()],
        // Requeued tasks wait a while before they are eligible; not here.
        vec![
            "update".into(),
            format!("jobid={task}"),
            "starttime=now".into(),
        ],
    ] {
        let st = Command::new("scontrol").args(&args).output().unwrap();
        assert!(
            st.status.success(),
            "scontrol {args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    wait_for(&runs, &id, 240, "finished after the requeue", |s| {
        s.status == RunStatus::Finished
    });
    let mut w = RunsWatcher::new(&runs);
    w.poll();
    let s = w.get(&id).unwrap();
    assert!(
        s.start_epoch >= 1,
        "the second start resumed: {}",
        s.start_epoch
    );
    assert_eq!(s.completed.len(), 30);
    let log = std::fs::read_to_string(runs.join(&id).join("train.log")).unwrap();
    assert!(log.contains("restart 1"), "{log}");
}
