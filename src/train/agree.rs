//! `histoboard bench agree`: the same weights, the same real tiles, one forward and backward
//! pass on the CPU and on another device; prints how far the logits, the loss and every
//! gradient drift apart. A wrong kernel shows as an error near 1; float32 reordering as 1e-6
//! to 1e-4.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use burn::backend::flex::FlexDevice;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::AutodiffBackend;

use super::bench::{ModelName, model_config};
use super::device::{self, DeviceChoice};
use super::loss::bce_with_logits;
use super::trainer::to_tensors;
use crate::data::{self, Dataset, LoaderOptions};
use crate::experiment::DataConfig;
use crate::kernels::Kernels;
use crate::model::Net;

type Cpu = burn::backend::Autodiff<burn::backend::Flex>;
type Gpu = burn::backend::Autodiff<burn::backend::Cuda>;
type Bytes = BinBytesRecorder<FullPrecisionSettings>;

/// One pass's results, flattened to host vectors for comparison.
struct Pass {
    logits: Vec<f32>,
    loss: f32,
    /// (parameter path, gradient) in visiting order, which is the same for one architecture.
    grads: Vec<(String, Vec<f32>)>,
}

/// ‖a − b‖ / ‖b‖ (with ‖b‖ = 0 read as absolute error).
fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let (mut d, mut n) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        d += (*x as f64 - *y as f64).powi(2);
        n += (*y as f64).powi(2);
    }
    if n > 0.0 { (d / n).sqrt() } else { d.sqrt() }
}

pub fn run(model: ModelName, device: &str, batch: usize, tolerance: f64) -> Result<()> {
    let resolved = device::resolve(device)?;
    if let Some(note) = &resolved.note {
        eprintln!("{note}");
    }
    let mut cfg = model_config(model);
    // Dropout masks come from each backend's own RNG; without it both passes see one net.
    cfg.dropout = 0.0;
    cfg.dense_dropout = 0.0;

    let data_cfg = DataConfig::default();
    let ds = Arc::new(Dataset::open(&data_cfg).context("opening the bundled sample")?);
    if ds.len() < batch {
        bail!(
            "the sample has {} tiles, fewer than --batch {batch}",
            ds.len()
        );
    }
    let opts = LoaderOptions {
        batch_size: batch,
        mean: [127.0; 3],
        std: [128.0; 3],
        ..LoaderOptions::default()
    };
    let tiles = data::loader(ds, (0..batch).collect(), opts)
        .next()
        .context("the loader gave no batch")??;

    let cpu_dev = FlexDevice;
    <Cpu as Backend>::seed(&cpu_dev, 7);
    let net: Net<Cpu> = Net::build(&cfg, 96, &cpu_dev, std::path::Path::new("."))?;
    // Both passes load the serialised weights: burn initialises parameters lazily, so a
    // clone of a fresh net would draw its own.
    let bytes = Bytes::new()
        .record(net.into_record(), ())
        .context("serialising the weights")?;
    let cpu = replay::<Cpu>(&cfg, bytes.clone(), tiles.clone(), cpu_dev)?;

    // `--device cpu` compares the CPU with itself: a check of this command, not of a backend.
    let gpu = match resolved.choice {
        DeviceChoice::Cuda(i) => {
            replay::<Gpu>(&cfg, bytes, tiles, burn::backend::cuda::CudaDevice::new(i))?
        }
        DeviceChoice::Cpu => replay::<Cpu>(&cfg, bytes, tiles, FlexDevice)?,
    };

    if cpu.grads.len() != gpu.grads.len() {
        bail!(
            "{} gradients on the CPU, {} on the device",
            cpu.grads.len(),
            gpu.grads.len()
        );
    }
    let logits = rel_err(&gpu.logits, &cpu.logits);
    let loss = ((gpu.loss - cpu.loss) as f64).abs() / (cpu.loss as f64).abs().max(1e-12);
    let mut worst = (String::new(), 0f64);
    if gpu.logits.len() != cpu.logits.len() || gpu.logits.is_empty() {
        bail!(
            "{} logits on the CPU, {} on the device",
            cpu.logits.len(),
            gpu.logits.len()
        );
    }
    for ((name, g), (_, c)) in gpu.grads.iter().zip(&cpu.grads) {
        if g.len() != c.len() {
            bail!(
                "gradient {name}: {} values on the CPU, {} on the device",
                c.len(),
                g.len()
            );
        }
        let e = rel_err(g, c);
        eprintln!("grad {name:<48} rel err {e:.2e}");
        if e > worst.1 || e.is_nan() {
            worst = (name.clone(), e);
        }
    }
    let ok = logits <= tolerance && loss <= tolerance && worst.1 <= tolerance;
    let result = serde_json::json!({
        "engine": "histoboard burn-0.21",
        "mode": "agree",
        "model": model.name(),
        "device": resolved.description,
        "batch": batch,
        "loss_cpu": cpu.loss,
        "loss_device": gpu.loss,
        "rel_err_logits": logits,
        "rel_err_loss": loss,
        "gradients": cpu.grads.len(),
        "rel_err_grad_max": worst.1,
        "worst_grad": worst.0,
        "tolerance": tolerance,
        "agree": ok,
    });
    println!("RESULT {result}");
    if !ok {
        bail!(
            "CPU and {} disagree beyond {tolerance:e}",
            resolved.description
        );
    }
    Ok(())
}

/// The pass again on another backend, from the serialised weights.
fn replay<B: AutodiffBackend + Kernels>(
    cfg: &crate::experiment::ModelConfig,
    bytes: Vec<u8>,
    tiles: data::Batch,
    dev: B::Device,
) -> Result<Pass> {
    let record = Bytes::new()
        .load(bytes, &dev)
        .context("loading the weights on the device")?;
    let net: Net<B> = Net::build(cfg, 96, &dev, std::path::Path::new("."))?.load_record(record);
    pass(net, tiles, &dev)
}

fn pass<B: AutodiffBackend + Kernels>(
    net: Net<B>,
    tiles: data::Batch,
    dev: &B::Device,
) -> Result<Pass> {
    let (x, y) = to_tensors::<B>(tiles, dev);
    let logits = net.forward(x);
    let loss = bce_with_logits(logits.clone(), y, 1.0).mean();
    let grads = loss.backward();
    let mut collect = Collect {
        grads: &grads,
        path: Vec::new(),
        out: Vec::new(),
        error: None,
    };
    net.visit(&mut collect);
    if let Some(e) = collect.error {
        bail!("reading a gradient: {e}");
    }
    Ok(Pass {
        logits: logits
            .into_data()
            .to_vec()
            .map_err(|e| anyhow::anyhow!("reading the logits: {e}"))?,
        loss: loss.into_scalar().elem(),
        grads: collect.out,
    })
}

struct Collect<'a, B: AutodiffBackend> {
    grads: &'a B::Gradients,
    path: Vec<String>,
    out: Vec<(String, Vec<f32>)>,
    error: Option<String>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Collect<'_, B> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        // BatchNorm's running statistics are parameters without gradients.
        if let Some(g) = param.val().grad(self.grads) {
            // Numbered, since a weight and its bias share the module path.
            let name = format!("{}#{}", self.path.join("."), self.out.len());
            match g.into_data().to_vec() {
                Ok(v) => self.out.push((name, v)),
                Err(e) => self.error = Some(format!("{name}: {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::rel_err;

    #[test]
    fn relative_error_is_scaled_by_the_reference() {
        assert_eq!(rel_err(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        let e = rel_err(&[3.0, 4.0], &[0.0, 0.0]);
        assert!((e - 5.0).abs() < 1e-12);
        let e = rel_err(&[1.1, 0.0], &[1.0, 0.0]);
        assert!((e - 0.1).abs() < 1e-6, "{e}");
    }
}
