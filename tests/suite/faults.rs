//! The fault-injection suite: a real `histoboard train` process is killed (`kill -9`, and the
//! `HISTOBOARD_FAILPOINT` aborts between the writes a checkpoint is made of), signalled,
//! starved of disk, fed torn and corrupt files, and resumed; every resumed run must end with
//! exactly the metrics of an uninterrupted run of the same seed. Each test proves a sentence of
//! the README's "What survives what".

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use histoboard::runs::{RunPaths, RunState, RunStatus, RunsWatcher, Tail};
use histoboard::train::checkpoint::{self, Which};

/// 4 epochs of 3 batches on 160 real tiles: a few seconds per run.
const EPOCHS: usize = 4;

fn experiment_text(train: &str) -> String {
    crate::support::tiny_toml(
        "[data.split]\nvalid = 0.25",
        &format!("epochs = {EPOCHS}\nmax_batches = 3\n{train}"),
        "",
    )
}

fn histoboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_histoboard"));
    c.env_remove("HISTOBOARD_FAILPOINT").env_remove("NO_COLOR");
    c
}

/// A folder with the experiment file and a `runs/` folder.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(train: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.toml"), experiment_text(train)).unwrap();
        Setup { dir }
    }

    fn runs(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    fn run_dir(&self, id: &str) -> PathBuf {
        self.runs().join(id)
    }

    /// `histoboard train tiny.toml` as run `id`, with `failpoint` set when not empty.
    fn train_cmd(&self, id: &str, failpoint: &str) -> Command {
        self.train_cmd_in(&self.runs(), id, failpoint)
    }

    fn train_cmd_in(&self, runs: &Path, id: &str, failpoint: &str) -> Command {
        let mut c = histoboard();
        c.arg("train")
            .arg(self.dir.path().join("tiny.toml"))
            .args(["--plain", "--run-id", id, "--runs-dir"])
            .arg(runs);
        if !failpoint.is_empty() {
            c.env("HISTOBOARD_FAILPOINT", failpoint);
        }
        c
    }

    fn resume(&self, id: &str) -> Output {
        histoboard()
            .args(["train", "--plain", "--resume"])
            .arg(self.run_dir(id))
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "expected success:\n{}", text(&out));
    out
}

/// Every line of the run's stream parses; the run folded from it.
fn fold(run: &Path) -> RunState {
    let mut st = RunState::new("run", run);
    for rec in Tail::new(RunPaths::new(run).events()).poll() {
        let rec = rec.unwrap_or_else(|e| panic!("every line of the stream parses: {e}"));
        st.apply(&rec);
    }
    st
}

/// The uninterrupted run every resumed run is held to (trained once per test binary).
fn reference() -> &'static RunState {
    static REF: OnceLock<RunState> = OnceLock::new();
    REF.get_or_init(|| {
        let s = Setup::new("");
        ok(s.train_cmd("ref", "").output().unwrap());
        fold(&s.run_dir("ref"))
    })
}

/// The resumed run ended as the uninterrupted one did: same epochs, same numbers to the bit,
/// one `metrics.csv` row per epoch, and its last checkpoint loadable.
fn assert_matches_reference(run: &Path) {
    let want = reference();
    let got = fold(run);
    assert_eq!(got.status, RunStatus::Finished, "{:?}", got.error);
    assert_eq!(got.completed.len(), EPOCHS);
    for (a, b) in want.completed.iter().zip(&got.completed) {
        assert_eq!(a.epoch, b.epoch);
        assert_eq!(
            a.train.loss.to_bits(),
            b.train.loss.to_bits(),
            "epoch {}",
            a.epoch
        );
        assert_eq!(
            a.valid.loss.to_bits(),
            b.valid.loss.to_bits(),
            "epoch {}",
            a.epoch
        );
        assert_eq!(
            a.valid.auc.to_bits(),
            b.valid.auc.to_bits(),
            "epoch {}",
            a.epoch
        );
        assert_eq!(a.valid.confusion, b.valid.confusion, "epoch {}", a.epoch);
        assert_eq!(a.is_best, b.is_best, "epoch {}", a.epoch);
    }
    assert_eq!(want.best_epoch, got.best_epoch);
    let csv = std::fs::read_to_string(RunPaths::new(run).metrics_csv()).unwrap();
    let epochs: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["1", "2", "3", "4"], "{csv}");
    for which in [Which::Best, Which::Last] {
        checkpoint::read_pointer(&RunPaths::new(run).checkpoints(), which).unwrap();
    }
}

/// A trainer stopped at a `:pause` failpoint, with its stderr collected.
struct Paused {
    child: Child,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Paused {
    /// Starts the trainer and returns once it has paused at its failpoint.
    fn spawn(mut cmd: Command) -> Paused {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = child.stderr.take().unwrap();
        let (paused_tx, paused_rx) = std::sync::mpsc::channel();
        let (tx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("failpoint") && line.contains("paused") {
                    let _ = paused_tx.send(());
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            let _ = tx.send(seen);
        });
        if paused_rx.recv_timeout(Duration::from_secs(120)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the trainer did not reach its failpoint:\n{}",
                stderr.recv().unwrap_or_default()
            );
        }
        Paused { child, stderr }
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for the trainer to end: its exit status and everything it wrote to stderr.
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.stderr.recv().unwrap_or_default())
    }
}

/// A test that needs root (mounts) says SKIPPED elsewhere, and fails under `CI=true`, where it
/// must run.
fn skip(reason: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("cannot run under CI: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// A tmpfs of `size` mounted on a new folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str, read_only: bool) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = format!("size={size}");
        if read_only {
            opts.push_str(",ro");
        }
        let out = match Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(dir.path())
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                skip(&format!("cannot run `mount` here: {e}"));
                return None;
            }
        };
        if !out.status.success() {
            skip(&format!(
                "cannot mount a tmpfs here (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the file system is full.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

// --- kill -9 ----------------------------------------------------------------------------------

/// Aborts the trainer (as `kill -9` would) at `failpoint`, resumes, and checks the result.
fn killed_at_then_resumed(failpoint: &str) {
    let s = Setup::new("");
    let out = s.train_cmd("r", failpoint).output().unwrap();
    assert!(
        !out.status.success(),
        "the failpoint must stop it:\n{}",
        text(&out)
    );
    assert!(text(&out).contains("aborting"), "{}", text(&out));
    ok(s.resume("r"));
    assert_matches_reference(&s.run_dir("r"));
}

#[test]
fn kill_9_in_the_first_epoch_then_resume_matches_an_uninterrupted_run() {
    killed_at_then_resumed("batch@2");
}

#[test]
fn kill_9_while_the_first_checkpoint_is_written_then_resume_starts_over() {
    // Model file written, optimizer and pointer not: there is no checkpoint yet.
    killed_at_then_resumed("model-saved@1");
}

#[test]
fn kill_9_before_a_pointer_flips_then_resume_repeats_the_epoch() {
    // Epoch 1's files are written; `last` still names epoch 0.
    killed_at_then_resumed("before-pointer@2");
}

#[test]
fn kill_9_between_the_best_and_last_pointers_then_resume_matches() {
    killed_at_then_resumed("best-pointer-written@1");
}

#[test]
fn kill_9_after_an_epoch_summary_before_its_checkpoint_then_resume_matches() {
    // Epoch 2 is reported, not checkpointed: resume repeats it and its summary is replaced.
    killed_at_then_resumed("epoch-event-written@2");
}

#[test]
fn a_real_kill_9_mid_epoch_then_resume_matches() {
    let s = Setup::new("");
    let paused = Paused::spawn(s.train_cmd("r", "batch@5:pause"));
    paused.signal("-KILL");
    assert!(!paused.wait().0.success());
    ok(s.resume("r"));
    assert_matches_reference(&s.run_dir("r"));
}

#[test]
fn a_torn_last_line_is_cut_on_resume_and_nothing_else_is_lost() {
    let s = Setup::new("");
    let out = s.train_cmd("r", "batch@5").output().unwrap();
    assert!(!out.status.success());
    let events = RunPaths::new(s.run_dir("r")).events();
    let before = std::fs::read_to_string(&events).unwrap();
    // A trainer killed in the middle of writing a line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&events)
        .unwrap();
    f.write_all(br#"{"v":1,"t":1.5,"type":"batch","epoch":2,"ba"#)
        .unwrap();
    drop(f);
    ok(s.resume("r"));
    let after = std::fs::read_to_string(&events).unwrap();
    assert!(after.starts_with(&before), "what was saved stays as it was");
    assert!(after.contains("torn last line"), "the cut is logged");
    assert_matches_reference(&s.run_dir("r"));
}

// --- signals in the first epoch -----------------------------------------------------------------

#[test]
fn sigterm_and_ctrl_c_in_the_first_epoch_leave_a_resumable_run() {
    for sig in ["-TERM", "-INT"] {
        let s = Setup::new("");
        let paused = Paused::spawn(s.train_cmd("r", "batch@1:pause"));
        paused.signal(sig);
        let (status, err) = paused.wait();
        assert_eq!(status.code(), Some(130), "{sig}: {err}");
        assert!(err.contains("--resume"), "{sig}: {err}");

        // The epoch-0 checkpoint reads back (its best value is not a number yet).
        let ckpt = RunPaths::new(s.run_dir("r")).checkpoints();
        let ptr = checkpoint::read_pointer(&ckpt, Which::Last).unwrap();
        assert_eq!(ptr.state.epoch, 0);
        assert!(ptr.state.best_value.is_nan());

        // Evaluated: `last` scores the initial weights; `best` says why there is none.
        let eval = |which: &str| {
            histoboard()
                .args(["eval", "--device", "cpu", "--json", "--checkpoint", which])
                .arg(s.run_dir("r"))
                .output()
                .unwrap()
        };
        ok(eval("last"));
        let best = eval("best");
        assert!(!best.status.success());
        assert!(
            text(&best).contains("no `best` checkpoint yet"),
            "{}",
            text(&best)
        );

        ok(s.resume("r"));
        assert_matches_reference(&s.run_dir("r"));
    }
}

// --- full disk ----------------------------------------------------------------------------------

#[test]
fn a_full_disk_while_saving_the_optimizer_is_named_and_resume_loses_nothing() {
    let Some(fs) = Tmpfs::mount("16m", false) else {
        return;
    };
    let s = Setup::new("");
    let runs = fs.path().join("runs");
    // Pause once epoch 1's model file is written, then fill the disk under the optimizer save.
    let paused = Paused::spawn(s.train_cmd_in(&runs, "r", "model-saved@2:pause"));
    let filler = fs.fill();
    let (status, err) = paused.wait();
    assert!(!status.success(), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("e0001-optim.mpk"), "names the file: {err}");
    for internal in ["MessagePack", "Unknown(", "RecorderError"] {
        assert!(!err.contains(internal), "no internal names: {err}");
    }
    let run = runs.join("r");
    let leftovers: Vec<String> = std::fs::read_dir(RunPaths::new(&run).checkpoints())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files hold the space: {leftovers:?}"
    );

    std::fs::remove_file(filler).unwrap();
    let out = histoboard()
        .args(["train", "--plain", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    ok(out);
    assert_matches_reference(&run);
}

#[test]
fn a_full_disk_mid_epoch_stops_the_run_with_the_path_and_resume_loses_nothing() {
    let Some(fs) = Tmpfs::mount("16m", false) else {
        return;
    };
    let s = Setup::new("");
    let runs = fs.path().join("runs");
    let paused = Paused::spawn(s.train_cmd_in(&runs, "r", "batch@5:pause"));
    let filler = fs.fill();
    let (status, err) = paused.wait();
    assert!(!status.success(), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(&runs.join("r").display().to_string()),
        "names the path: {err}"
    );
    std::fs::remove_file(filler).unwrap();
    let run = runs.join("r");
    ok(histoboard()
        .args(["train", "--plain", "--resume"])
        .arg(&run)
        .output()
        .unwrap());
    assert_matches_reference(&run);
}

#[test]
fn a_full_disk_before_the_first_event_is_named() {
    let Some(fs) = Tmpfs::mount("1m", false) else {
        return;
    };
    let _filler = fs.fill();
    let s = Setup::new("");
    let out = s
        .train_cmd_in(&fs.path().join("runs"), "r", "")
        .output()
        .unwrap();
    let err = text(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(&fs.path().display().to_string()),
        "names the path: {err}"
    );
}

// --- corrupt checkpoints --------------------------------------------------------------------------

#[test]
fn a_truncated_checkpoint_is_named_as_such_and_nothing_restarts_over_it() {
    let s = Setup::new("");
    let out = s.train_cmd("r", "epoch-event-written@3").output().unwrap();
    assert!(!out.status.success());
    let run = s.run_dir("r");
    let ckpt = RunPaths::new(&run).checkpoints();
    let ptr = checkpoint::read_pointer(&ckpt, Which::Last).unwrap();
    let model = ckpt.join(&ptr.model);
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();

    let resumed = s.resume("r");
    let err = text(&resumed);
    assert!(!resumed.status.success());
    assert!(err.contains("truncated or corrupt"), "{err}");
    assert!(err.contains(&ptr.model), "names the file: {err}");
    assert!(!err.contains("0.14.0"), "no burn-internal wording: {err}");
    let eval = histoboard()
        .args(["eval", "--device", "cpu", "--checkpoint", "last"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(!eval.status.success());
    assert!(
        text(&eval).contains("truncated or corrupt"),
        "{}",
        text(&eval)
    );

    // A pointer that cannot be read: resume and a Slurm requeue both refuse; the stream stays.
    std::fs::write(checkpoint::pointer_path(&ckpt, Which::Last), "{\"model\": ").unwrap();
    let err = text(&s.resume("r"));
    assert!(err.contains("corrupt checkpoint pointer"), "{err}");
    let st = fold(&run);
    assert_eq!(st.status, RunStatus::Failed, "the stream says why");
    assert!(
        st.error
            .unwrap_or_default()
            .contains("corrupt checkpoint pointer")
    );
    let events = std::fs::read_to_string(RunPaths::new(&run).events()).unwrap();
    std::fs::write(RunPaths::new(&run).launch(), experiment_text("")).unwrap();
    let requeue = histoboard()
        .args(["train", "--plain", "--run-folder"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(!requeue.status.success(), "a requeue must not start over");
    assert!(
        text(&requeue).contains("corrupt checkpoint pointer"),
        "{}",
        text(&requeue)
    );
    assert_eq!(
        std::fs::read_to_string(RunPaths::new(&run).events()).unwrap(),
        events,
        "the stream is neither moved aside nor restarted"
    );
}

// --- divergence ------------------------------------------------------------------------------------

#[test]
fn adam_divergence_fails_the_run_with_advice() {
    let s = Setup::new("lr = 1000.0");
    let out = s.train_cmd("r", "").output().unwrap();
    let err = text(&out);
    assert!(
        !out.status.success(),
        "a diverged run must not complete: {err}"
    );
    assert!(
        err.contains("diverged") || err.contains("loss became"),
        "{err}"
    );
    assert!(err.contains("train.lr"), "{err}");
    let st = fold(&s.run_dir("r"));
    assert_eq!(st.status, RunStatus::Failed);
}

// --- symbolic links -------------------------------------------------------------------------------

#[test]
fn a_run_folder_that_is_a_symbolic_link_is_not_resumed_through() {
    let s = Setup::new("");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = s
        .train_cmd_in(elsewhere.path(), "r", "batch@5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let target = elsewhere.path().join("r");
    std::fs::create_dir_all(s.runs()).unwrap();
    std::os::unix::fs::symlink(&target, s.run_dir("r")).unwrap();
    let events = std::fs::read_to_string(RunPaths::new(&target).events()).unwrap();
    let resumed = s.resume("r");
    assert!(!resumed.status.success());
    assert!(
        text(&resumed).contains("symbolic link"),
        "{}",
        text(&resumed)
    );
    assert_eq!(
        std::fs::read_to_string(RunPaths::new(&target).events()).unwrap(),
        events,
        "nothing written through the link"
    );
}

// --- corrupt run folders, as the dashboard watches them ----------------------------------------

fn watched(runs: &Path, id: &str) -> RunState {
    let mut w = RunsWatcher::new(runs);
    w.poll();
    w.get(id).cloned().expect("the run is listed")
}

fn finished_run(runs: &Path, id: &str) -> PathBuf {
    let dir = runs.join(id);
    histoboard::runs::write_synthetic_run(&dir, "exp", 3, 4, 1000.0).unwrap();
    dir
}

#[test]
fn damaged_run_folders_are_flagged_not_shown_as_healthy() {
    let runs = tempfile::tempdir().unwrap();
    let healthy = finished_run(runs.path(), "healthy");
    let st = watched(runs.path(), "healthy");
    assert_eq!(st.status, RunStatus::Finished);
    assert_eq!(st.problem_count, 0, "{:?}", st.problems);

    let insert_line = |dir: &Path, line: &str| {
        let path = RunPaths::new(dir).events();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(lines.len() / 2, line);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    };
    let garbage = finished_run(runs.path(), "garbage");
    insert_line(&garbage, "#!@ not an event");
    let unknown = finished_run(runs.path(), "unknown");
    insert_line(&unknown, r#"{"v":1,"t":1.0,"type":"teleport","to":"mars"}"#);
    let huge = finished_run(runs.path(), "huge");
    insert_line(
        &huge,
        &format!(
            "{{\"v\":1,\"t\":1.0,\"type\":\"log\",\"level\":\"info\",\"message\":\"{}\"}}",
            "x".repeat(5 << 20)
        ),
    );
    let no_config = finished_run(runs.path(), "no-config");
    std::fs::remove_file(RunPaths::new(&no_config).config()).unwrap();
    let no_stream = finished_run(runs.path(), "no-stream");
    std::fs::remove_file(RunPaths::new(&no_stream).events()).unwrap();

    for (id, needle) in [
        ("garbage", "events.jsonl:"),
        ("unknown", "teleport"),
        ("huge", "skipped"),
        ("no-config", "config.toml is missing"),
        ("no-stream", "events.jsonl is missing"),
    ] {
        let st = watched(runs.path(), id);
        assert!(st.problem_count > 0, "{id} is flagged");
        assert!(
            st.problems.iter().any(|p| p.contains(needle)),
            "{id}: {:?}",
            st.problems
        );
        if id == "no-stream" {
            assert_eq!(st.status, RunStatus::Damaged);
        } else {
            assert_eq!(st.status, RunStatus::Finished, "{id}: the rest still reads");
        }
    }

    // A stream deleted while watched keeps what was read, flagged.
    let mut w = RunsWatcher::new(runs.path());
    w.poll();
    std::fs::remove_file(RunPaths::new(&healthy).events()).unwrap();
    w.poll();
    let st = w.get("healthy").unwrap();
    assert_eq!(st.status, RunStatus::Finished);
    assert_eq!(st.completed.len(), 3);
    assert!(
        st.problems.iter().any(|p| p.contains("deleted")),
        "{:?}",
        st.problems
    );
}

// --- the dashboard's launcher ---------------------------------------------------------------------

#[test]
fn launching_into_an_unwritable_runs_folder_is_an_error_the_dashboard_can_show() {
    use histoboard::experiment::LauncherKind;
    use histoboard::runs::Launcher;
    let dir = tempfile::tempdir().unwrap();
    let exp = {
        let mut exps =
            histoboard::experiment::load_str(&experiment_text(""), "tiny", dir.path(), &[])
                .unwrap();
        exps.pop().unwrap()
    };
    let launcher = histoboard::train::EngineLauncher::new(dir.path()).unwrap();
    // `runs` is a file: nothing can be created under it (even by root).
    let file = dir.path().join("runs");
    std::fs::write(&file, "not a folder").unwrap();
    for mode in [LauncherKind::Local, LauncherKind::Detached] {
        let err = launcher
            .launch(&exp, &file, mode)
            .err()
            .unwrap_or_else(|| panic!("{mode:?}: a launch that cannot write must fail"));
        let msg = format!("{err:#}");
        assert!(msg.contains(&file.display().to_string()), "{mode:?}: {msg}");
    }
    // A read-only file system.
    let Some(ro) = Tmpfs::mount("1m", true) else {
        return;
    };
    let err = launcher
        .launch(&exp, &ro.path().join("runs"), LauncherKind::Local)
        .expect_err("read-only runs folder");
    assert!(
        format!("{err:#}").contains("Read-only file system"),
        "{err:#}"
    );
}

// --- a moved project ------------------------------------------------------------------------------

#[test]
fn a_transfer_learning_run_is_evaluated_from_anywhere() {
    let project = tempfile::tempdir().unwrap();
    let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/weights/efficientnet_lite0-imagenet.safetensors");
    std::fs::create_dir_all(project.path().join("weights")).unwrap();
    let copy = project.path().join("weights/imagenet.safetensors");
    std::fs::copy(&weights, &copy).unwrap();
    let exp = r#"
name = "transfer"
[data]
limit = 64
crop = 32
cache = false
workers = 1
normalize = "lite"
[data.split]
valid = 0.25
[model]
arch = "efficientnet-lite0"
pretrained = "weights/imagenet.safetensors"
head = "gap"
[train]
epochs = 2
max_batches = 1
batch_size = 16
device = "cpu"
[train.early_stopping]
patience = 0
"#;
    std::fs::write(project.path().join("transfer.toml"), exp).unwrap();
    // Trained from the project folder with relative paths, as a user would; stopped after
    // its first epoch.
    let out = histoboard()
        .current_dir(project.path())
        .args(["train", "transfer.toml", "--plain", "--run-id", "t"])
        .env("HISTOBOARD_FAILPOINT", "epoch-event-written@2")
        .output()
        .unwrap();
    assert!(text(&out).contains("aborting"), "{}", text(&out));
    let run = project.path().join("runs/t");
    let config = std::fs::read_to_string(RunPaths::new(&run).config()).unwrap();
    assert!(config.contains("pretrained = \"weights/"), "{config}");

    // The ImageNet file is gone and the commands run from elsewhere.
    std::fs::remove_file(&copy).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    ok(histoboard()
        .current_dir(elsewhere.path())
        .args(["eval", "--device", "cpu", "--checkpoint", "last"])
        .arg(&run)
        .output()
        .unwrap());
    ok(histoboard()
        .current_dir(elsewhere.path())
        .args(["train", "--plain", "--resume"])
        .arg(&run)
        .output()
        .unwrap());
    assert_eq!(fold(&run).status, RunStatus::Finished);
}
