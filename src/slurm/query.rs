//! Job states from the scheduler, for many runs at once: one `squeue` for every job still in
//! the queue, then one `sacct` for those that have left it (where accounting is kept).
//!
//! Text output with an explicit format (`-o`/`--format`, `|`-separated) rather than `--json`:
//! it reads the same on every Slurm release, while the JSON output needs a data-parser plugin
//! that many installations lack and whose keys changed between releases.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;

use super::run_command;

/// A Slurm job state, as `squeue`/`sacct` name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SchedState {
    Pending,
    Configuring,
    Running,
    Completing,
    Suspended,
    Requeued,
    Completed,
    Cancelled,
    Failed,
    Timeout,
    NodeFail,
    Preempted,
    OutOfMemory,
    BootFail,
    Deadline,
    /// Left the queue, and the cluster keeps no accounting to say how it ended.
    Gone,
    Other(String),
}

impl SchedState {
    pub fn parse(s: &str) -> SchedState {
        // sacct writes `CANCELLED by 1000`; squeue's long names have no suffix.
        let word = s
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('+');
        match word {
            "PENDING" | "PD" => SchedState::Pending,
            "CONFIGURING" | "CF" => SchedState::Configuring,
            "RUNNING" | "R" => SchedState::Running,
            "COMPLETING" | "CG" => SchedState::Completing,
            "SUSPENDED" | "S" => SchedState::Suspended,
            "REQUEUED" | "RQ" | "REQUEUE_HOLD" | "REQUEUE_FED" => SchedState::Requeued,
            "COMPLETED" | "CD" => SchedState::Completed,
            "CANCELLED" | "CA" => SchedState::Cancelled,
            "FAILED" | "F" => SchedState::Failed,
            "TIMEOUT" | "TO" => SchedState::Timeout,
            "NODE_FAIL" | "NF" => SchedState::NodeFail,
            "PREEMPTED" | "PR" => SchedState::Preempted,
            "OUT_OF_MEMORY" | "OOM" => SchedState::OutOfMemory,
            "BOOT_FAIL" | "BF" => SchedState::BootFail,
            "DEADLINE" | "DL" => SchedState::Deadline,
            other => SchedState::Other(other.to_string()),
        }
    }

    /// True once Slurm will not run this task again by itself.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            SchedState::Pending
                | SchedState::Configuring
                | SchedState::Running
                | SchedState::Completing
                | SchedState::Suspended
                | SchedState::Requeued
        )
    }

    pub fn label(&self) -> &str {
        match self {
            SchedState::Pending => "pending",
            SchedState::Configuring => "configuring",
            SchedState::Running => "running",
            SchedState::Completing => "completing",
            SchedState::Suspended => "suspended",
            SchedState::Requeued => "requeued",
            SchedState::Completed => "completed",
            SchedState::Cancelled => "cancelled",
            SchedState::Failed => "failed",
            SchedState::Timeout => "timed out",
            SchedState::NodeFail => "node failed",
            SchedState::Preempted => "pre-empted",
            SchedState::OutOfMemory => "out of memory",
            SchedState::BootFail => "boot failed",
            SchedState::Deadline => "deadline",
            SchedState::Gone => "left the queue",
            SchedState::Other(s) => s,
        }
    }
}

/// One task's state as the scheduler reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobState {
    pub state: SchedState,
    /// Why it is pending (`Resources`, `Priority`, ...), when it is.
    pub reason: Option<String>,
    /// Node(s) it runs or ran on.
    pub nodes: Option<String>,
}

impl JobState {
    /// The run state's view of this task.
    pub fn scheduled(&self) -> crate::runs::Scheduled {
        crate::runs::Scheduled {
            describe: self.describe(),
            waiting: self.state == SchedState::Pending,
            ended: self.state.is_final(),
        }
    }

    /// Short text for the dashboard (a 22-column cell): `running on node3`; a pending task says
    /// why in words (`too big for partition`), or `pending (Code)` for a code without words.
    pub fn describe(&self) -> String {
        let mut s = match self.reason.as_deref().map(|r| (r, pending_reason(r))) {
            Some((_, Some(words))) => words,
            Some((r, None)) => format!("{} ({r})", self.state.label()),
            None => self.state.label().to_string(),
        };
        if let Some(n) = &self.nodes {
            s.push_str(&format!(" on {n}"));
        }
        s
    }
}

/// Why a task pends, in words short enough for a table cell (at most 22 characters), for
/// Slurm's common reason codes; `None` for the others (shown as the code itself).
/// `ReqNodeNotAvail, UnavailableNodes:n1` reads by its first word.
pub fn pending_reason(reason: &str) -> Option<String> {
    let code = reason
        .split([',', ' ', '('])
        .next()
        .unwrap_or(reason)
        .trim();
    let fixed = match code {
        "Resources" => "waiting for resources",
        "Priority" => "queued behind others",
        "PartitionConfig" => "too big for partition",
        "PartitionTimeLimit" => "time > partition max",
        "PartitionNodeLimit" => "nodes > partition max",
        "PartitionDown" => "partition is down",
        "PartitionInactive" => "partition inactive",
        "ReqNodeNotAvail" => "nodes unavailable",
        "NodeDown" => "a needed node is down",
        "BadConstraints" => "constraints never met",
        "BeginTime" => "start time not reached",
        "Dependency" => "waiting on dependency",
        "DependencyNeverSatisfied" => "dependency failed",
        "JobHeldUser" => "held by user",
        "JobHeldAdmin" => "held by admin",
        "JobArrayTaskLimit" => "at slurm.array_limit",
        "Reservation" => "waiting on reservation",
        "Licenses" => "waiting for licenses",
        "InvalidAccount" => "invalid account",
        "InvalidQOS" => "invalid QOS",
        "launch" => "launch failed, held",
        "Cleaning" => "cleaning up to requeue",
        "Prolog" => "node running prolog",
        _ => "",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_string());
    }
    // Limits of an association (account/user) or a QOS: `AssocGrpCpuLimit`,
    // `QOSMaxJobsPerUserLimit`, `AssocGrpGRES`, ...: whose limit, and of what.
    let who = if code.starts_with("Assoc") {
        "account"
    } else if code.starts_with("QOS") {
        "QOS"
    } else {
        return None;
    };
    let lower = code.to_ascii_lowercase();
    let what = [
        ("minutes", "time"),
        ("submit", "submit"),
        ("wall", "time"),
        ("gres", "GPU"),
        ("mem", "memory"),
        ("cpu", "CPU"),
        ("node", "node"),
        ("job", "job"),
        ("billing", "billing"),
    ]
    .iter()
    .find(|(needle, _)| lower.contains(needle))
    .map_or("", |(_, w)| w);
    if what.is_empty() {
        return Some(format!("{who} limit"));
    }
    let cpu_time = lower.contains("minutes") && lower.contains("cpu");
    Some(format!(
        "{who} {} limit",
        if cpu_time { "CPU-time" } else { what }
    ))
}

fn field(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty() && s != "None" && s != "(null)" && s != "N/A" && s != "None assigned")
        .then(|| s.to_string())
}

/// The `squeue -o` format [`parse_squeue`] reads: array job, task, state, reason, nodes.
pub const SQUEUE_FORMAT: &str = "%F|%K|%T|%r|%N";

/// Parses `squeue -h -r -o SQUEUE_FORMAT` into `(JOB_TASK, state)` pairs. Lines of jobs that
/// are not array tasks (task `N/A`) are keyed by the job id alone.
pub fn parse_squeue(text: &str) -> Vec<(String, JobState)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('|');
            let job = parts.next()?.trim();
            let task = parts.next()?.trim();
            let state = SchedState::parse(parts.next()?.trim());
            let reason = parts.next().and_then(field);
            let nodes = parts.next().and_then(field);
            if job.is_empty() {
                return None;
            }
            let id = match task {
                "" | "N/A" => job.to_string(),
                t => format!("{job}_{t}"),
            };
            // squeue gives running jobs the reason `None`: only a pending reason says anything.
            let reason = if state == SchedState::Pending {
                reason
            } else {
                None
            };
            Some((
                id,
                JobState {
                    state,
                    reason,
                    nodes,
                },
            ))
        })
        .collect()
}

/// Parses `sacct -n -P -X -o JobID,State,NodeList`.
pub fn parse_sacct(text: &str) -> Vec<(String, JobState)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('|');
            let id = parts.next()?.trim();
            let state = SchedState::parse(parts.next()?.trim());
            let nodes = parts.next().and_then(field);
            (!id.is_empty() && !id.contains('[')).then(|| {
                (
                    id.to_string(),
                    JobState {
                        state,
                        reason: None,
                        nodes,
                    },
                )
            })
        })
        .collect()
}

/// The state of each task id (`JOB_TASK`) in `tasks`. A task in neither the queue nor the
/// accounting records is [`SchedState::Gone`]. Fails only when `squeue` itself cannot run.
pub fn query(tasks: &[String]) -> Result<BTreeMap<String, JobState>> {
    let mut found: BTreeMap<String, JobState> = BTreeMap::new();
    if tasks.is_empty() {
        return Ok(found);
    }
    let wanted: BTreeSet<&str> = tasks.iter().map(String::as_str).collect();
    let jobs: BTreeSet<&str> = tasks
        .iter()
        .map(|t| t.split('_').next().unwrap_or(t))
        .collect();
    let job_list = jobs.iter().copied().collect::<Vec<_>>().join(",");
    // `-t all` keeps jobs that ended recently (within the controller's MinJobAge), so their
    // final state is known even on clusters without accounting.
    let args = vec![
        "-h".to_string(),
        "-r".to_string(),
        "-t".to_string(),
        "all".to_string(),
        "-o".to_string(),
        SQUEUE_FORMAT.to_string(),
        "-j".to_string(),
        job_list.clone(),
    ];
    match run_command("squeue", &args) {
        Ok(out) => found.extend(
            parse_squeue(&String::from_utf8_lossy(&out.stdout))
                .into_iter()
                .filter(|(id, _)| wanted.contains(id.as_str())),
        ),
        // Every listed job has left the queue: squeue calls that an invalid id.
        Err(e) if format!("{e:#}").contains("Invalid job id") => {}
        Err(e) => return Err(e),
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|t| !found.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        let args = vec![
            "-n".to_string(),
            "-P".to_string(),
            "-X".to_string(),
            "-o".to_string(),
            "JobID,State,NodeList".to_string(),
            "-j".to_string(),
            job_list,
        ];
        // Without accounting (slurmdbd) sacct fails; those tasks are simply gone.
        if let Ok(out) = run_command("sacct", &args) {
            found.extend(
                parse_sacct(&String::from_utf8_lossy(&out.stdout))
                    .into_iter()
                    .filter(|(id, _)| missing.contains(&id.as_str())),
            );
        }
        for t in missing {
            found.entry(t.to_string()).or_insert(JobState {
                state: SchedState::Gone,
                reason: None,
                nodes: None,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines() {
        let text =
            "41|0|RUNNING|None|node1\n41|1|PENDING|Resources|\n42|N/A|PENDING|Priority|(null)\n";
        let got = parse_squeue(text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, "41_0");
        assert_eq!(got[0].1.state, SchedState::Running);
        assert_eq!(got[0].1.reason, None);
        assert_eq!(got[0].1.describe(), "running on node1");
        assert_eq!(got[1].1.describe(), "waiting for resources");
        assert_eq!(got[2].0, "42");
        assert_eq!(got[2].1.nodes, None);
    }

    #[test]
    fn sacct_lines() {
        let text =
            "41_0|CANCELLED by 0|node1\n41_1|TIMEOUT|node2\n41_[2-5]|PENDING|None assigned\n";
        let got = parse_sacct(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1.state, SchedState::Cancelled);
        assert_eq!(got[1].1.state, SchedState::Timeout);
        assert_eq!(got[1].1.describe(), "timed out on node2");
    }

    #[test]
    fn pending_reasons_in_words() {
        let pending = |r: &str| JobState {
            state: SchedState::Pending,
            reason: Some(r.into()),
            nodes: None,
        };
        for (code, words) in [
            ("PartitionConfig", "too big for partition"),
            ("Resources", "waiting for resources"),
            ("Priority", "queued behind others"),
            (
                "ReqNodeNotAvail, UnavailableNodes:n[1-3]",
                "nodes unavailable",
            ),
            ("QOSMaxJobsPerUserLimit", "QOS job limit"),
            ("QOSMaxSubmitJobPerUserLimit", "QOS submit limit"),
            ("AssocGrpCpuLimit", "account CPU limit"),
            ("AssocGrpGRES", "account GPU limit"),
            ("AssocGrpMemLimit", "account memory limit"),
            ("AssocGrpCPUMinutesLimit", "account CPU-time limit"),
            ("AssocMaxJobsLimit", "account job limit"),
            ("QOSMaxWallDurationPerJobLimit", "QOS time limit"),
            ("QOSMaxNodePerJobLimit", "QOS node limit"),
            ("BeginTime", "start time not reached"),
            ("Dependency", "waiting on dependency"),
            ("JobHeldUser", "held by user"),
            ("JobHeldAdmin", "held by admin"),
            ("PartitionTimeLimit", "time > partition max"),
            ("JobArrayTaskLimit", "at slurm.array_limit"),
        ] {
            let got = pending(code).describe();
            assert_eq!(got, words, "{code}");
            // The dashboard's slurm column is 22 characters wide.
            assert!(
                got.chars().count() <= 22,
                "{got:?} is too long for the table"
            );
        }
        // A code without words still says what Slurm said.
        assert_eq!(pending("SomethingNew").describe(), "pending (SomethingNew)");
    }

    #[test]
    fn states() {
        assert!(!SchedState::parse("PENDING").is_final());
        assert!(!SchedState::parse("REQUEUED").is_final());
        assert!(SchedState::parse("NODE_FAIL").is_final());
        assert!(SchedState::parse("CANCELLED+").is_final());
        assert_eq!(
            SchedState::parse("WEIRD"),
            SchedState::Other("WEIRD".into())
        );
    }
}
