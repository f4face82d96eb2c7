//! Live GPU figures for the dashboard's device line: name, utilisation and memory, as
//! `nvidia-smi` reports them. Asking `nvidia-smi` rather than the CUDA driver keeps the
//! dashboard from opening a CUDA context (hundreds of MiB of GPU memory) just to look.

use std::process::Command;

#[derive(Debug, Clone, PartialEq)]
pub struct GpuStat {
    pub index: u32,
    pub name: String,
    /// Percent of the last sample period a kernel ran; None where the driver does not say.
    pub util_pct: Option<u32>,
    pub mem_used_mib: u64,
    pub mem_total_mib: u64,
}

const QUERY: &str = "--query-gpu=index,name,utilization.gpu,memory.used,memory.total";

/// Asks `nvidia-smi`; an error says why there are no figures (no tool, no driver).
pub fn query() -> Result<Vec<GpuStat>, String> {
    let out = Command::new("nvidia-smi")
        .args([QUERY, "--format=csv,noheader,nounits"])
        .output()
        .map_err(|e| format!("nvidia-smi: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = String::from_utf8_lossy(&out.stdout);
        let why = if err.trim().is_empty() { msg } else { err };
        return Err(format!("nvidia-smi failed: {}", why.trim()));
    }
    parse(&String::from_utf8_lossy(&out.stdout))
}

/// Parses `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total
/// --format=csv,noheader,nounits`. Fields the driver cannot read come as `[N/A]`.
pub fn parse(text: &str) -> Result<Vec<GpuStat>, String> {
    let mut gpus = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 5 {
            return Err(format!(
                "nvidia-smi line {}: expected 5 fields, got {}: {line}",
                n + 1,
                f.len()
            ));
        }
        let num = |i: usize, what: &str| -> Result<u64, String> {
            f[i].parse()
                .map_err(|_| format!("nvidia-smi line {}: bad {what} `{}`", n + 1, f[i]))
        };
        gpus.push(GpuStat {
            index: num(0, "index")? as u32,
            name: f[1].to_string(),
            util_pct: f[2].parse().ok(),
            mem_used_mib: num(3, "memory.used").unwrap_or(0),
            mem_total_mib: num(4, "memory.total").unwrap_or(0),
        });
    }
    Ok(gpus)
}

impl GpuStat {
    /// `GPU0 H200 87% 12.3/140.4 GiB`: short enough for a header.
    pub fn describe(&self) -> String {
        let name = self.name.trim_start_matches("NVIDIA ");
        let util = self.util_pct.map_or(String::new(), |u| format!(" {u}%"));
        format!(
            "GPU{} {name}{util} {:.1}/{:.1} GiB",
            self.index,
            self.mem_used_mib as f64 / 1024.0,
            self.mem_total_mib as f64 / 1024.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_lines() {
        let text = "0, NVIDIA H200, 87, 12583, 143771\n1, NVIDIA H100 80GB HBM3, [N/A], 0, 81559\n";
        let gpus = parse(text).unwrap();
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].util_pct, Some(87));
        assert_eq!(gpus[0].describe(), "GPU0 H200 87% 12.3/140.4 GiB");
        assert_eq!(gpus[1].util_pct, None);
        assert_eq!(gpus[1].describe(), "GPU1 H100 80GB HBM3 0.0/79.6 GiB");
    }

    #[test]
    fn a_malformed_line_is_named() {
        let err = parse("0, NVIDIA H200, 87\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("5 fields"), "{err}");
        let err = parse("x, NVIDIA H200, 1, 2, 3\n").unwrap_err();
        assert!(err.contains("bad index `x`"), "{err}");
    }
}
