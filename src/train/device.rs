//! Where a run trains: `auto`, `cpu`, `cuda` or `cuda:N`.
//!
//! Touching burn's CUDA backend on a machine without the driver panics inside cudarc, so we
//! probe for the driver library first and fall back to the CPU with a clear message.
//!
//! The first use of a model on a GPU compiles its kernels (NVRTC) and times candidate kernels
//! for each shape: measured on an H200, about 0.5 s per kernel and well over two minutes for
//! one forward and backward pass of seed-cnn-3. Both results go to a cache on disk, so only
//! the first run on a machine pays.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
        // The GEMM kernels are chosen per host (kernels::gemm); a speed figure means little
        // without them.
        description: format!(
            "CPU ({threads} thread{}, {} GEMM)",
            if threads == 1 { "" } else { "s" },
            crate::kernels::gemm::choice().isa.name()
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

/// Where compiled GPU kernels and tuning results are kept: `$HISTOBOARD_CACHE/cubecl`,
/// else `$XDG_CACHE_HOME/histoboard/cubecl`, else `~/.cache/histoboard/cubecl`.
pub fn gpu_cache_dir() -> Option<PathBuf> {
    let var = |k| std::env::var_os(k).filter(|v: &OsString| !v.is_empty());
    gpu_cache_dir_from(var("HISTOBOARD_CACHE"), var("XDG_CACHE_HOME"), var("HOME"))
}

fn gpu_cache_dir_from(
    histoboard: Option<OsString>,
    xdg: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    if let Some(d) = histoboard {
        return Some(PathBuf::from(d).join("cubecl"));
    }
    if let Some(d) = xdg {
        return Some(PathBuf::from(d).join("histoboard").join("cubecl"));
    }
    home.map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("histoboard")
            .join("cubecl")
    })
}

/// The file cubecl would read its settings from (it searches the working folder and its
/// parents): a user who wrote one has chosen their own caches.
fn cubecl_config_file(start: &Path) -> Option<PathBuf> {
    const NAMES: [&str; 4] = ["cubecl.toml", "CubeCL.toml", "burn.toml", "Burn.toml"];
    start
        .ancestors()
        .flat_map(|d| NAMES.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// Points cubecl's kernel and autotune caches at [`gpu_cache_dir`] before the first GPU use;
/// returns a line for the run's log. Once per process: cubecl reads its settings once.
fn configure_gpu_cache() -> &'static str {
    static NOTE: OnceLock<String> = OnceLock::new();
    NOTE.get_or_init(|| {
        use burn::cubecl::config::cache::CacheConfig;
        use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        if let Some(file) = cubecl_config_file(&cwd) {
            return format!("GPU kernel settings from {}", file.display());
        }
        let Some(dir) = gpu_cache_dir() else {
            return "no home folder: GPU kernels are compiled and tuned afresh each run".into();
        };
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return format!(
                "cannot create {} ({e}): GPU kernels are compiled afresh",
                dir.display()
            );
        }
        if CubeClRuntimeConfig::storage().lock().is_some() {
            return "GPU kernel settings were already fixed in this process".into();
        }
        let mut config = CubeClRuntimeConfig::default().override_from_env();
        config.compilation.cache = Some(CacheConfig::File(dir.clone()));
        config.autotune.cache = CacheConfig::File(dir.clone());
        CubeClRuntimeConfig::set(config);
        format!(
            "compiled GPU kernels and their tuning are cached in {}; the first run of a model \
             on a machine spends minutes compiling them",
            dir.display()
        )
    })
}

fn cuda(i: usize) -> Resolved {
    let cache_note = configure_gpu_cache();
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
        note: Some(cache_note.to_string()),
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
    fn gpu_cache_dir_follows_the_environment() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(
            gpu_cache_dir_from(s("/scratch/hb"), s("/x"), s("/home/u")),
            Some(PathBuf::from("/scratch/hb/cubecl"))
        );
        assert_eq!(
            gpu_cache_dir_from(None, s("/x"), s("/home/u")),
            Some(PathBuf::from("/x/histoboard/cubecl"))
        );
        assert_eq!(
            gpu_cache_dir_from(None, None, s("/home/u")),
            Some(PathBuf::from("/home/u/.cache/histoboard/cubecl"))
        );
        assert_eq!(gpu_cache_dir_from(None, None, None), None);
    }

    #[test]
    fn a_cubecl_settings_file_is_found_above_the_working_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(cubecl_config_file(&deep), None);
        std::fs::write(dir.path().join("a/cubecl.toml"), "").unwrap();
        assert_eq!(
            cubecl_config_file(&deep),
            Some(dir.path().join("a/cubecl.toml"))
        );
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
