//! Whether a run's trainer process is still alive, as far as this machine can tell.

/// Whether the trainer with `pid` still runs. On Linux a zombie counts as gone, and so does a
/// process that started after `since` (the pid was reused by something else). Elsewhere, asks
/// `kill -0`.
pub fn trainer_alive(pid: u32, since: Option<f64>) -> bool {
    if pid == 0 {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => s,
            Err(_) => return false,
        };
        // Fields after the parenthesised command name (which may itself contain spaces).
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            return true;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
            return false;
        }
        if let (Some(since), Some(start)) = (since, fields.get(19).and_then(|s| s.parse().ok()))
            && let Some(started) = process_start_unix(start)
            && started > since + 2.0
        {
            return false;
        }
        true
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = since;
        std::process::Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// Start time of a process in Unix seconds from its `/proc/<pid>/stat` start field (clock ticks
/// after boot; Linux fixes USER_HZ at 100 for user space).
#[cfg(target_os = "linux")]
fn process_start_unix(start_ticks: u64) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(btime + start_ticks as f64 / 100.0)
}
