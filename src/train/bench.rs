//! `histoboard bench train|infer`: images/s and peak memory for one model, printed with a
//! `RESULT {json}` line shaped like `shared/bench/torch_reference.py`'s, for side-by-side runs.

use std::time::Instant;

use anyhow::{Result, bail};
use burn::module::AutodiffModule;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, ElementConversion};

use super::device::{self, DeviceChoice};
use super::loss::bce_with_logits;
use crate::experiment::{Arch, ModelConfig};
use crate::kernels::Kernels;
use crate::model::Net;

/// What [`run`] times: a training step (forward, backward, Adam), or a forward pass alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Infer,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Train => "train",
            Mode::Infer => "infer",
        }
    }
}

/// The models `histoboard bench` builds by name (`--model`).
// No doc comments on the variants: clap would print them as a second help layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelName {
    #[value(name = "seed-cnn-3")]
    SeedCnn3,
    #[value(name = "seed-cnn-5")]
    SeedCnn5,
    #[value(name = "efficientnet-lite0")]
    EfficientnetLite0,
}

impl ModelName {
    pub fn name(self) -> &'static str {
        match self {
            ModelName::SeedCnn3 => "seed-cnn-3",
            ModelName::SeedCnn5 => "seed-cnn-5",
            ModelName::EfficientnetLite0 => "efficientnet-lite0",
        }
    }
}

pub fn model_config(model: ModelName) -> ModelConfig {
    let mut cfg = ModelConfig::default();
    match model {
        ModelName::SeedCnn3 => cfg.filters = vec![32, 64, 128],
        ModelName::SeedCnn5 => cfg.filters = vec![32, 64, 128, 256, 512],
        ModelName::EfficientnetLite0 => {
            cfg.arch = Arch::EfficientnetLite0;
            cfg.dropout = 0.2;
        }
    }
    cfg
}

/// Peak resident memory of this process in MiB (VmHWM), where the OS reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn run(
    mode: Mode,
    model: ModelName,
    batch: Option<usize>,
    steps: usize,
    warmup: usize,
    device: &str,
) -> Result<()> {
    let batch = batch.unwrap_or(match mode {
        Mode::Train => 64,
        Mode::Infer => 256,
    });
    if batch == 0 || steps == 0 {
        bail!("--batch and --steps must be at least 1");
    }
    let cfg = model_config(model);
    let resolved = device::resolve(device)?;
    if let Some(note) = &resolved.note {
        eprintln!("{note}");
    }
    let times = match resolved.choice {
        DeviceChoice::Cpu => measure::<burn::backend::Autodiff<burn::backend::Flex>>(
            mode,
            &cfg,
            batch,
            steps,
            warmup,
            Default::default(),
        )?,
        DeviceChoice::Cuda(i) => measure::<burn::backend::Autodiff<burn::backend::Cuda>>(
            mode,
            &cfg,
            batch,
            steps,
            warmup,
            burn::backend::cuda::CudaDevice::new(i),
        )?,
    };
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let result = serde_json::json!({
        "engine": "histoboard burn-0.21",
        "mode": mode.name(),
        "model": model.name(),
        "device": resolved.description,
        "threads": device::cpu_threads(),
        "batch": batch,
        "steps": steps,
        "median_step_s": median,
        "img_per_s": batch as f64 / median,
        "peak_rss_mib": peak_rss_mib(),
        "gemm": crate::kernels::gemm::choice().to_string(),
    });
    println!("RESULT {result}");
    Ok(())
}

fn measure<B: AutodiffBackend + Kernels>(
    mode: Mode,
    cfg: &ModelConfig,
    batch: usize,
    steps: usize,
    warmup: usize,
    device: B::Device,
) -> Result<Vec<f64>>
where
    B::InnerBackend: Kernels,
{
    B::seed(&device, 0);
    let mut model: Net<B> = Net::build(cfg, 96, &device, std::path::Path::new("."))?;
    let xs: Vec<Tensor<B, 4>> = (0..2)
        .map(|_| Tensor::random([batch, 3, 96, 96], Distribution::Normal(0.0, 1.0), &device))
        .collect();
    let y_data: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();
    let y = Tensor::<B, 2>::from_data(TensorData::new(y_data, [batch, 1]), &device);
    let mut times = Vec::new();
    if mode == Mode::Train {
        let mut opt = AdamConfig::new().init::<B, Net<B>>();
        for i in 0..warmup + steps {
            let t0 = Instant::now();
            let loss = bce_with_logits(model.forward(xs[i % 2].clone()), y.clone(), 1.0).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(1e-3, model, grads);
            // Reading the loss waits for the device, so the step is fully timed.
            let l: f64 = loss.into_scalar().elem();
            let dt = t0.elapsed().as_secs_f64();
            eprintln!("step {i} loss {l:.4} {:.1} img/s", batch as f64 / dt);
            if i >= warmup {
                times.push(dt);
            }
        }
    } else {
        let m = model.valid();
        let xs: Vec<_> = xs.into_iter().map(|x| x.inner()).collect();
        for i in 0..warmup + steps {
            let t0 = Instant::now();
            let out = m.forward(xs[i % 2].clone());
            let _ = out.into_data();
            let dt = t0.elapsed().as_secs_f64();
            eprintln!("iter {i} {:.1} img/s", batch as f64 / dt);
            if i >= warmup {
                times.push(dt);
            }
        }
    }
    Ok(times)
}
