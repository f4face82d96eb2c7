//! Where a run trains: `auto`, `cpu`, `cuda` or `cuda:N`.
//!
//! Touching burn's CUDA backend on a machine without the driver panics inside cudarc, so we
//! probe for the driver library first and fall back to the CPU with a clear message.

use anyhow::{Result, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda(usize),
}

/// A resolved device plus a note for the user when `auto` fell back to the CPU.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub choice: DeviceChoice,
    pub description: String,
    pub note: Option<String>,
}

/// Parses a device string from the experiment or the command line.
pub fn parse(spec: &str) -> Result<Option<DeviceChoice>> {
    let s = spec.trim().to_ascii_lowercase();
    Ok(match s.as_str() {
        "auto" => None,
        "cpu" => Some(DeviceChoice::Cpu),
        "cuda" | "gpu" => Some(DeviceChoice::Cuda(0)),
        _ => match s.strip_prefix("cuda:") {
            Some(n) => match n.parse() {
                Ok(i) => Some(DeviceChoice::Cuda(i)),
                Err(_) => bail!("device `{spec}`: expected auto, cpu, cuda or cuda:N"),
            },
            None => bail!("device `{spec}`: expected auto, cpu, cuda or cuda:N"),
        },
    })
}

/// Number of CUDA devices, or the reason there are none usable.
pub fn cuda_devices() -> Result<usize, String> {
    // SAFETY: only tries to dlopen the driver library; no CUDA call is made when absent.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err("no CUDA driver library (libcuda.so) found".into());
    }
    match cudarc::driver::CudaContext::device_count() {
        Ok(n) if n > 0 => Ok(n as usize),
        Ok(_) => Err("the CUDA driver reports no GPU".into()),
        Err(e) => Err(format!("the CUDA driver failed to start: {e}")),
    }
}

/// GPU name and memory (used, total) in bytes, for the device line.
pub fn cuda_info(ordinal: usize) -> Option<(String, usize, usize)> {
    cuda_devices().ok()?;
    let ctx = cudarc::driver::CudaContext::new(ordinal).ok()?;
    let name = ctx.name().ok()?;
    let (free, total) = ctx.mem_get_info().ok()?;
    Some((name, total - free, total))
}

pub fn cpu_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

fn cpu(note: Option<String>) -> Resolved {
    let threads = cpu_threads();
    Resolved {
        choice: DeviceChoice::Cpu,
        description: format!(
            "CPU ({threads} thread{})",
            if threads == 1 { "" } else { "s" }
        ),
        note,
    }
}

/// Resolves a device string, checking that a requested GPU really exists.
pub fn resolve(spec: &str) -> Result<Resolved> {
    match parse(spec)? {
        Some(DeviceChoice::Cpu) => Ok(cpu(None)),
        Some(DeviceChoice::Cuda(i)) => match cuda_devices() {
            Ok(n) if i < n => Ok(cuda(i)),
            Ok(n) => bail!("device cuda:{i} requested but only {n} GPU(s) found"),
            Err(why) => bail!("device `{spec}` requested but {why}; use --device cpu"),
        },
        None => match cuda_devices() {
            Ok(_) => Ok(cuda(0)),
            Err(why) => Ok(cpu(Some(format!("auto: {why}; training on the CPU")))),
        },
    }
}

fn cuda(i: usize) -> Resolved {
    let description = match cuda_info(i) {
        Some((name, _, total)) => format!(
            "CUDA:{i} {name} ({:.0} GiB)",
            total as f64 / (1u64 << 30) as f64
        ),
        None => format!("CUDA:{i}"),
    };
    Resolved {
        choice: DeviceChoice::Cuda(i),
        description,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_strings() {
        assert_eq!(parse("auto").unwrap(), None);
        assert_eq!(parse("CPU").unwrap(), Some(DeviceChoice::Cpu));
        assert_eq!(parse("cuda").unwrap(), Some(DeviceChoice::Cuda(0)));
        assert_eq!(parse("cuda:3").unwrap(), Some(DeviceChoice::Cuda(3)));
        let err = parse("cuda:x").unwrap_err().to_string();
        assert!(err.contains("cuda:x"), "{err}");
        assert!(parse("tpu").is_err());
    }

    #[test]
    fn auto_never_fails() {
        // On a machine without a GPU this must fall back, never panic.
        let r = resolve("auto").unwrap();
        if r.choice == DeviceChoice::Cpu {
            assert!(r.description.starts_with("CPU"));
        }
    }
}
