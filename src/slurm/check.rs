//! The resource request against the cluster, before `sbatch`: a job asking for more CPUs,
//! memory or GPUs than any node of its partition has is not always refused by Slurm; it may
//! pend for ever (reason `PartitionConfig`). `sinfo` lists every node of every partition, so
//! such a request is refused here, naming the field, with nothing created.
//!
//! Only what can never fit is refused: the nodes' configured sizes count, whatever their state,
//! and options in `slurm.extra` or `SBATCH_*` variables that change the request are not second
//! guessed (that part is left to Slurm).
//!
//! About 490 lines of code; the rest are its tests (sinfo outputs, units, gres forms).

use std::collections::BTreeSet;

use crate::experiment::SlurmConfig;

/// The `sinfo -N -o` format [`parse_sinfo`] reads: partition (`*` marks the default), CPUs,
/// memory in MB, generic resources, the partition's time limit.
pub const SINFO_FORMAT: &str = "%P|%c|%m|%G|%l";

/// `sinfo` arguments: every partition, hidden ones too (`-a`), one line per node and partition.
pub fn sinfo_args() -> Vec<String> {
    ["-a", "-h", "-N", "-o", SINFO_FORMAT]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// One node in one partition, as `sinfo` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub partition: String,
    /// The cluster's default partition (`debug*` in sinfo).
    pub default: bool,
    pub cpus: u32,
    pub mem_mb: u64,
    pub gpus: u32,
    /// The partition's time limit in seconds; `None` when unlimited.
    pub time_limit_s: Option<u64>,
    /// The time limit as sinfo wrote it, for messages.
    pub time_limit: String,
}

/// Parses `sinfo -h -N -o SINFO_FORMAT`. An error says which line could not be read.
pub fn parse_sinfo(text: &str) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        let [part, cpus, mem, gres, time] = f[..] else {
            return Err(format!("`{line}` does not have 5 |-separated fields"));
        };
        // Without -N, sizes that differ between nodes read `2+`; take the number either way.
        let number = |s: &str| s.trim_end_matches('+').parse::<u64>().ok();
        let (Some(cpus), Some(mem_mb)) = (number(cpus), number(mem)) else {
            return Err(format!(
                "`{line}`: CPUs `{cpus}` or memory `{mem}` is not a number"
            ));
        };
        let (name, default) = match part.strip_suffix('*') {
            Some(n) => (n, true),
            None => (part, false),
        };
        if name.is_empty() {
            return Err(format!("`{line}` names no partition"));
        }
        nodes.push(Node {
            partition: name.to_string(),
            default,
            cpus: u32::try_from(cpus).unwrap_or(u32::MAX),
            mem_mb,
            gpus: gres_gpus(gres),
            time_limit_s: parse_time_s(time),
            time_limit: time.to_string(),
        });
    }
    if nodes.is_empty() {
        return Err("it listed no nodes".into());
    }
    Ok(nodes)
}

/// GPUs in a node's generic resources: `gpu:4`, `gpu:h100:8(S:0-1)`, `gpu:a100:2,gpu:v100:2`
/// (4), `(null)` (0). Other resources (`mps:100`) do not count.
pub fn gres_gpus(gres: &str) -> u32 {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    // Commas inside `(S:0,1)` do not separate items.
    for (i, c) in gres.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&gres[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&gres[start..]);
    items
        .iter()
        .map(|item| item.split('(').next().unwrap_or("").trim())
        .filter(|item| item.split(':').next() == Some("gpu"))
        .map(|item| {
            let parts: Vec<&str> = item.split(':').collect();
            // `gpu` and `gpu:h100` without a count mean one.
            match parts.last().and_then(|p| p.parse::<u32>().ok()) {
                Some(n) if parts.len() > 1 => n,
                _ => 1,
            }
        })
        .fold(0u32, u32::saturating_add)
}

/// Megabytes in a Slurm size: `16G`, `500M`, `1T`, `512K`, or a bare number (megabytes).
pub fn mem_mb(size: &str) -> Option<u64> {
    let size = size.trim();
    let (digits, unit) = match size.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&size[..i], c.to_ascii_uppercase()),
        _ => (size, 'M'),
    };
    let n: u64 = digits.parse().ok()?;
    match unit {
        'K' => Some(n.div_ceil(1024)),
        'M' => Some(n),
        'G' => n.checked_mul(1024),
        'T' => n.checked_mul(1024 * 1024),
        _ => None,
    }
}

/// Seconds in a Slurm time: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`.
/// `None` for `infinite`, `UNLIMITED`, `n/a` or anything else that is no time.
pub fn parse_time_s(t: &str) -> Option<u64> {
    let t = t.trim();
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d.parse::<u64>().ok()?), r),
        None => (None, t),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match (days.is_some(), &parts[..]) {
        (false, &[m]) => (0, m, 0),
        (false, &[m, s]) => (0, m, s),
        (_, &[h, m, s]) => (h, m, s),
        (true, &[h]) => (h, 0, 0),
        (true, &[h, m]) => (h, m, 0),
        _ => return None,
    };
    Some(days.unwrap_or(0) * 86_400 + h * 3600 + m * 60 + s)
}

/// What one job asks for, as far as the check goes. 0 / `None`: not asked here (the cluster's
/// default, or decided by an option the check leaves to Slurm).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Partitions the job may run in; empty: the cluster's default partition.
    pub partitions: Vec<String>,
    /// Where the partition came from, for messages (`slurm.partition`).
    pub partition_from: String,
    pub cpus: u32,
    pub mem_mb: u64,
    /// `slurm.mem` as written (`16G`).
    pub mem: String,
    pub gpus: u32,
    pub time_s: Option<u64>,
    /// `slurm.time` as written.
    pub time: String,
}

/// The request a `[slurm]` table makes. `env` reads environment variables: sbatch's `SBATCH_*`
/// input variables override the script's options, and so do later `slurm.extra` options.
pub fn request(cfg: &SlurmConfig, env: impl Fn(&str) -> Option<String>) -> Request {
    // `--opt=value` or `--opt value`: the option's name and its value.
    let extra: Vec<(&str, &str)> = cfg
        .extra
        .iter()
        .map(|l| {
            let l = l.trim();
            l.split_once(['=', ' '])
                .map_or((l, ""), |(k, v)| (k, v.trim()))
        })
        .collect();
    let in_extra = |names: &[&str]| extra.iter().any(|(k, _)| names.contains(k));
    let set_in_env = |names: &[&str]| names.iter().any(|n| env(n).is_some_and(|v| !v.is_empty()));
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    let (partitions, partition_from) =
        if let Some(p) = env("SBATCH_PARTITION").filter(|p| !p.is_empty()) {
            (
                list(&p),
                "the SBATCH_PARTITION environment variable".to_string(),
            )
        } else if let Some((_, p)) = extra.iter().rev().find(|(k, _)| *k == "--partition") {
            (list(p), "slurm.extra".to_string())
        } else {
            (
                cfg.partition.as_deref().map(list).unwrap_or_default(),
                "slurm.partition".to_string(),
            )
        };
    let cpus = if in_extra(&["--cpus-per-task", "--cpus-per-gpu", "--mincpus"]) {
        0
    } else {
        cfg.cpus
    };
    let mem_opts = ["--mem", "--mem-per-cpu", "--mem-per-gpu"];
    let mem_env = [
        "SBATCH_MEM_PER_NODE",
        "SBATCH_MEM_PER_CPU",
        "SBATCH_MEM_PER_GPU",
    ];
    let mem_mb = if in_extra(&mem_opts) || set_in_env(&mem_env) {
        0
    } else {
        // 0 (`--mem=0`) asks for all of a node's memory, which any node has.
        mem_mb(&cfg.mem).unwrap_or(0)
    };
    let gpu_opts = [
        "--gres",
        "--gpus",
        "--gpus-per-node",
        "--gpus-per-task",
        "--gpus-per-socket",
    ];
    let gpu_env = ["SBATCH_GRES", "SBATCH_GPUS", "SBATCH_GPUS_PER_NODE"];
    let gpus = if in_extra(&gpu_opts) || set_in_env(&gpu_env) {
        0
    } else {
        cfg.gpus
    };
    let time_s = if in_extra(&["--time"]) || set_in_env(&["SBATCH_TIMELIMIT"]) {
        None
    } else {
        parse_time_s(&cfg.time)
    };
    Request {
        partitions,
        partition_from,
        cpus,
        mem_mb,
        mem: cfg.mem.clone(),
        gpus,
        time_s,
        time: cfg.time.clone(),
    }
}

/// True when the job goes to another cluster (`--clusters`): this one's nodes say nothing.
pub fn other_cluster(cfg: &SlurmConfig, env: impl Fn(&str) -> Option<String>) -> bool {
    cfg.extra
        .iter()
        .any(|l| l.starts_with("--clusters") || l.starts_with("--cluster="))
        || env("SBATCH_CLUSTERS").is_some_and(|v| !v.is_empty())
}

/// What the cluster says about a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Some node of the partition could run it (or the check does not apply).
    Fits,
    /// No node ever could: why, naming the fields.
    Refused(String),
    /// Submit, but say this: `sinfo` failed or printed what the check cannot read, or the
    /// time is over the partition's limit.
    Warn(String),
}

/// Runs `sinfo` and checks `cfg` against its nodes.
pub fn against_cluster(cfg: &SlurmConfig) -> Verdict {
    let env = |k: &str| std::env::var(k).ok();
    if other_cluster(cfg, env) {
        return Verdict::Fits;
    }
    let nodes = super::run_command("sinfo", &sinfo_args())
        .map_err(|e| format!("{e:#}"))
        .and_then(|out| {
            parse_sinfo(&String::from_utf8_lossy(&out.stdout))
                .map_err(|e| format!("cannot read what `sinfo` printed: {e}"))
        });
    match nodes {
        Ok(nodes) => match check(&request(cfg, env), &nodes) {
            Ok(None) => Verdict::Fits,
            Ok(Some(warning)) => Verdict::Warn(warning),
            Err(why) => Verdict::Refused(why),
        },
        Err(why) => Verdict::Warn(format!(
            "the [slurm] request was not checked against the cluster's nodes ({why}); it goes \
             to sbatch unchecked"
        )),
    }
}

/// `21694` MB as `21.2G`, for messages.
pub fn fmt_mb(mb: u64) -> String {
    let (v, unit) = if mb >= 1024 * 1024 {
        (mb as f64 / (1024.0 * 1024.0), "T")
    } else if mb >= 1024 {
        (mb as f64 / 1024.0, "G")
    } else {
        return format!("{mb}M");
    };
    let s = format!("{v:.1}");
    format!("{}{unit}", s.strip_suffix(".0").unwrap_or(&s))
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn names(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why no node of the request's partition(s) could ever run it, in a sentence or more naming
/// the fields. `Ok` when some node can, with a warning when the time is over the partition's
/// limit: the job would pend (`PartitionTimeLimit`) unless a QOS lifts that limit, which
/// `sinfo` cannot tell, so that is not refused.
pub fn check(req: &Request, nodes: &[Node]) -> Result<Option<String>, String> {
    let all: BTreeSet<&str> = nodes.iter().map(|n| n.partition.as_str()).collect();
    let listed = || {
        all.iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted: Vec<String> = if req.partitions.is_empty() {
        let defaults: BTreeSet<&str> = nodes
            .iter()
            .filter(|n| n.default)
            .map(|n| n.partition.as_str())
            .collect();
        if defaults.is_empty() {
            return Err(format!(
                "slurm.partition is unset and the cluster has no default partition; name one \
                 of {}",
                listed()
            ));
        }
        defaults.into_iter().map(String::from).collect()
    } else {
        req.partitions.clone()
    };
    let missing: Vec<String> = wanted
        .iter()
        .filter(|p| !all.contains(p.as_str()))
        .cloned()
        .collect();
    // A list (`a,b`) runs in any of its partitions; every one of them must exist.
    if !missing.is_empty() {
        return Err(format!(
            "{} names partition {}, which this cluster does not have; its partitions are {}",
            req.partition_from,
            names(&missing),
            listed()
        ));
    }
    sizes(req, nodes, &wanted).map_err(|why| {
        let others = partitions_that_fit(req, nodes, &wanted);
        match others.len() {
            0 => format!("{why}; no partition of this cluster has a node that fits"),
            1 => format!(
                "{why}; ask for less, or for partition `{}` (slurm.partition), which has a node \
                 that fits",
                others[0]
            ),
            _ => format!(
                "{why}; ask for less, or for one of partitions {} (slurm.partition), which have \
                 nodes that fit",
                names(&others)
            ),
        }
    })?;
    Ok(time_over(req, nodes, &wanted))
}

/// The warning when the request's time is over the limit of every partition in `wanted`.
fn time_over(req: &Request, nodes: &[Node], wanted: &[String]) -> Option<String> {
    let t = req.time_s?;
    // The most generous partition of a list decides; unlimited beats any number.
    let longest = nodes
        .iter()
        .filter(|n| wanted.contains(&n.partition))
        .max_by_key(|n| n.time_limit_s.unwrap_or(u64::MAX))?;
    let limit = longest.time_limit_s?;
    (t > limit).then(|| {
        format!(
            "slurm.time = {}, but partition `{}` allows at most {}: the job will pend \
             (PartitionTimeLimit) unless its QOS lifts that limit",
            req.time, longest.partition, longest.time_limit
        )
    })
}

/// Whether some node of the partitions `wanted` could run the request: the fields it asks
/// for more of than any node has, or no node with all of them at once.
fn sizes(req: &Request, nodes: &[Node], wanted: &[String]) -> Result<(), String> {
    let mine: Vec<&Node> = nodes
        .iter()
        .filter(|n| wanted.contains(&n.partition))
        .collect();
    let which = if wanted.len() == 1 {
        format!("partition `{}`", wanted[0])
    } else {
        format!("partitions {}", names(wanted))
    };
    let mut why = Vec::new();
    let max_cpus = mine.iter().map(|n| n.cpus).max().unwrap_or(0);
    if req.cpus > max_cpus {
        why.push(format!(
            "slurm.cpus = {}, but the largest node of {which} has {}",
            req.cpus,
            plural(max_cpus.into(), "CPU", "CPUs")
        ));
    }
    let max_mem = mine.iter().map(|n| n.mem_mb).max().unwrap_or(0);
    if req.mem_mb > max_mem {
        why.push(format!(
            "slurm.mem = {}, but the largest node of {which} has {} of memory",
            req.mem,
            fmt_mb(max_mem)
        ));
    }
    let max_gpus = mine.iter().map(|n| n.gpus).max().unwrap_or(0);
    if req.gpus > max_gpus {
        why.push(if max_gpus == 0 {
            format!(
                "slurm.gpus = {}, but no node of {which} has a GPU",
                req.gpus
            )
        } else {
            format!(
                "slurm.gpus = {}, but the largest node of {which} has {}",
                req.gpus,
                plural(max_gpus.into(), "GPU", "GPUs")
            )
        });
    }
    if !why.is_empty() {
        return Err(why.join("; "));
    }
    // Each size fits some node: one node must have them all at once.
    let fits = |n: &&Node| n.cpus >= req.cpus && n.mem_mb >= req.mem_mb && n.gpus >= req.gpus;
    if !mine.iter().any(fits) {
        let mut shapes: Vec<String> = mine
            .iter()
            .map(|n| format!("{} CPUs, {}, {} GPUs", n.cpus, fmt_mb(n.mem_mb), n.gpus))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        shapes.truncate(4);
        let mut asked = Vec::new();
        if req.cpus > 0 {
            asked.push(format!("slurm.cpus = {}", req.cpus));
        }
        if req.mem_mb > 0 {
            asked.push(format!("slurm.mem = {}", req.mem));
        }
        if req.gpus > 0 {
            asked.push(format!("slurm.gpus = {}", req.gpus));
        }
        let last = asked.pop().unwrap_or_default();
        return Err(format!(
            "no node of {which} has {} and {last} at once (its nodes: {})",
            asked.join(", "),
            shapes.join("; ")
        ));
    }
    Ok(())
}

/// Partitions other than `wanted` with a node the request fits, for a hint.
fn partitions_that_fit(req: &Request, nodes: &[Node], wanted: &[String]) -> Vec<String> {
    let all: BTreeSet<&str> = nodes.iter().map(|n| n.partition.as_str()).collect();
    all.into_iter()
        .filter(|p| !wanted.iter().any(|w| w == p))
        .filter(|p| sizes(req, nodes, &[p.to_string()]).is_ok())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What this project's test cluster prints, plus a GPU partition with a short limit.
    const SINFO: &str = "debug*|2|21694|(null)|infinite\n\
                         gpu|64|128000|gpu:h100:8(S:0-1)|1-00:00:00\n\
                         gpu|32|256000|gpu:a100:2,gpu:v100:2|1-00:00:00\n\
                         short|2|21694|(null)|30:00\n";

    fn nodes() -> Vec<Node> {
        parse_sinfo(SINFO).unwrap()
    }

    fn ask(edit: impl FnOnce(&mut SlurmConfig)) -> Request {
        let mut cfg = SlurmConfig::default();
        edit(&mut cfg);
        request(&cfg, |_| None)
    }

    #[test]
    fn sinfo_lines() {
        let n = nodes();
        assert_eq!(n.len(), 4);
        assert_eq!(n[0].partition, "debug");
        assert!(n[0].default);
        assert_eq!((n[0].cpus, n[0].mem_mb, n[0].gpus), (2, 21694, 0));
        assert_eq!(n[0].time_limit_s, None);
        assert!(!n[1].default);
        assert_eq!(n[1].gpus, 8);
        assert_eq!(n[1].time_limit_s, Some(86_400));
        assert_eq!(n[2].gpus, 4);
        assert_eq!(n[3].time_limit_s, Some(1800));
        // Without -N, sizes that vary read `2+`.
        assert_eq!(
            parse_sinfo("p*|2+|1000+|(null)|infinite").unwrap()[0].cpus,
            2
        );
        for bad in [
            "",
            "debug*|2|21694",
            "debug*|two|21694|(null)|infinite",
            "|2|1|(null)|1",
        ] {
            assert!(parse_sinfo(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gres() {
        for (g, n) in [
            ("(null)", 0),
            ("", 0),
            ("gpu:4", 4),
            ("gpu:h100:8(S:0-1)", 8),
            ("gpu:tesla:2(S:0,1),gpu:k80:1(S:1)", 3),
            ("gpu:4,mps:400", 4),
            ("mps:400", 0),
            ("gpu", 1),
            ("gpu:1g.5gb", 1),
            ("gpu:3g.40gb:2", 2),
        ] {
            assert_eq!(gres_gpus(g), n, "{g}");
        }
    }

    #[test]
    fn sizes_and_times() {
        assert_eq!(mem_mb("16G"), Some(16 * 1024));
        assert_eq!(mem_mb("16g"), Some(16 * 1024));
        assert_eq!(mem_mb("500M"), Some(500));
        assert_eq!(mem_mb("64000"), Some(64000));
        assert_eq!(mem_mb("1T"), Some(1024 * 1024));
        assert_eq!(mem_mb("1536K"), Some(2));
        assert_eq!(mem_mb(""), None);
        assert_eq!(mem_mb("16GB"), None);
        assert_eq!(fmt_mb(21694), "21.2G");
        assert_eq!(fmt_mb(16 * 1024), "16G");
        assert_eq!(fmt_mb(500), "500M");
        assert_eq!(fmt_mb(2 * 1024 * 1024), "2T");
        for (t, s) in [
            ("30", Some(1800)),
            ("30:00", Some(1800)),
            ("04:00:00", Some(4 * 3600)),
            ("1-12", Some(36 * 3600)),
            ("1-12:30", Some(36 * 3600 + 1800)),
            ("2-00:00:00", Some(2 * 86_400)),
            ("infinite", None),
            ("UNLIMITED", None),
            ("n/a", None),
            ("1:2:3:4", None),
        ] {
            assert_eq!(parse_time_s(t), s, "{t}");
        }
    }

    #[test]
    fn the_defaults_fit_the_default_partition() {
        let req = ask(|_| {});
        assert_eq!((req.cpus, req.mem_mb, req.gpus), (0, 0, 0));
        assert_eq!(check(&req, &nodes()), Ok(None));
    }

    #[test]
    fn too_many_cpus_names_the_field_and_the_largest_node() {
        let req = ask(|c| c.cpus = 8);
        assert_eq!(
            check(&req, &nodes()).unwrap_err(),
            "slurm.cpus = 8, but the largest node of partition `debug` has 2 CPUs; ask for \
             less, or for partition `gpu` (slurm.partition), which has a node that fits"
        );
        assert_eq!(check(&ask(|c| c.cpus = 2), &nodes()), Ok(None));
        let err = check(&ask(|c| c.cpus = 1000), &nodes()).unwrap_err();
        assert!(
            err.ends_with("has 2 CPUs; no partition of this cluster has a node that fits"),
            "{err}"
        );
    }

    #[test]
    fn too_much_memory_too_many_gpus_too_long() {
        let err = check(&ask(|c| c.mem = "32G".into()), &nodes()).unwrap_err();
        assert_eq!(
            err,
            "slurm.mem = 32G, but the largest node of partition `debug` has 21.2G of memory; \
             ask for less, or for partition `gpu` (slurm.partition), which has a node that fits"
        );
        let err = check(&ask(|c| c.gpus = 1), &nodes()).unwrap_err();
        assert!(
            err.starts_with("slurm.gpus = 1, but no node of partition `debug` has a GPU; "),
            "{err}"
        );
        let gpu = |c: &mut SlurmConfig| c.partition = Some("gpu".into());
        let err = check(
            &ask(|c| {
                gpu(c);
                c.gpus = 16;
                c.cpus = 100;
            }),
            &nodes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "slurm.cpus = 100, but the largest node of partition `gpu` has 64 CPUs; \
             slurm.gpus = 16, but the largest node of partition `gpu` has 8 GPUs; \
             no partition of this cluster has a node that fits"
        );
        // Over the time limit: a QOS may lift it, so a warning, not a refusal.
        let warning = check(
            &ask(|c| {
                gpu(c);
                c.time = "2-00:00:00".into();
            }),
            &nodes(),
        )
        .unwrap();
        assert_eq!(
            warning.as_deref(),
            Some(
                "slurm.time = 2-00:00:00, but partition `gpu` allows at most 1-00:00:00: the \
                 job will pend (PartitionTimeLimit) unless its QOS lifts that limit"
            )
        );
        // 8 GPUs and 200000 MB each fit a node, but not the same one.
        let err = check(
            &ask(|c| {
                gpu(c);
                c.gpus = 8;
                c.mem = "200000".into();
            }),
            &nodes(),
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "no node of partition `gpu` has slurm.mem = 200000 and slurm.gpus = 8 at once \
                 (its nodes: 32 CPUs, 250G, 4 GPUs; 64 CPUs, 125G, 8 GPUs)"
            ),
            "{err}"
        );
        // `--mem=0` asks for a whole node, whatever its size.
        assert_eq!(check(&ask(|c| c.mem = "0".into()), &nodes()), Ok(None));
    }

    #[test]
    fn unknown_partitions_list_the_real_ones() {
        let req = ask(|c| c.partition = Some("nope".into()));
        assert_eq!(
            check(&req, &nodes()).unwrap_err(),
            "slurm.partition names partition `nope`, which this cluster does not have; its \
             partitions are `debug`, `gpu`, `short`"
        );
        // A list runs in any of its partitions: the most generous one decides.
        let req = ask(|c| {
            c.partition = Some("short,gpu".into());
            c.time = "02:00:00".into();
        });
        assert_eq!(check(&req, &nodes()), Ok(None));
        let no_default = parse_sinfo("a|2|1000|(null)|infinite").unwrap();
        let err = check(&ask(|_| {}), &no_default).unwrap_err();
        assert!(
            err.contains("no default partition; name one of `a`"),
            "{err}"
        );
    }

    #[test]
    fn what_sbatch_takes_from_elsewhere_wins() {
        // SBATCH_PARTITION overrides the script's --partition.
        let cfg = SlurmConfig {
            partition: Some("debug".into()),
            cpus: 8,
            ..SlurmConfig::default()
        };
        let env = |k: &str| (k == "SBATCH_PARTITION").then(|| "gpu".to_string());
        let req = request(&cfg, env);
        assert_eq!(req.partitions, vec!["gpu"]);
        assert_eq!(check(&req, &nodes()), Ok(None));
        // A later option in slurm.extra decides: the check leaves it to Slurm.
        let cfg = SlurmConfig {
            cpus: 8,
            mem: "64G".into(),
            extra: vec!["--cpus-per-task=1".into(), "--mem-per-cpu=1G".into()],
            ..SlurmConfig::default()
        };
        assert_eq!(check(&request(&cfg, |_| None), &nodes()), Ok(None));
        let cfg = SlurmConfig {
            extra: vec!["--partition=nope".into()],
            ..SlurmConfig::default()
        };
        let err = check(&request(&cfg, |_| None), &nodes()).unwrap_err();
        assert!(
            err.starts_with("slurm.extra names partition `nope`"),
            "{err}"
        );
        assert!(other_cluster(
            &SlurmConfig {
                extra: vec!["--clusters=other".into()],
                ..SlurmConfig::default()
            },
            |_| None
        ));
        assert!(!other_cluster(&SlurmConfig::default(), |_| None));
    }
}
