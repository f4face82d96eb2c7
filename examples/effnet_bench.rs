//! EfficientNet-Lite0 forward+backward on the CPU, full fine-tune against a frozen backbone
//! (linear probe), for sizing `model.freeze` experiments.
//!
//! `cargo run --release --example effnet_bench -- [batch] [steps]` (default 32 tiles of 96x96,
//! 5 timed steps after one warm-up). Inference alone and a full training step with Adam are
//! `histoboard bench infer|train --model efficientnet-lite0 --batch 32`; the CLI has no frozen
//! variant, hence this program. Weights are random: the time does not depend on their values.

use std::time::Instant;

use anyhow::Context;
use burn::backend::{Autodiff, Flex};
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Tensor};
use histoboard::model::effnet::EfficientNetLite0;

type Ad = Autodiff<Flex>;

fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        std::env::args().nth(i).map_or(Ok(default), |a| {
            a.parse()
                .map_err(|e| anyhow::anyhow!("argument {i} ({a:?}): {e}"))
        })
    };
    let (batch, steps) = (arg(1, 32)?, arg(2, 5)?);
    if batch == 0 || steps == 0 {
        anyhow::bail!("batch and steps must be at least 1");
    }
    let device = Default::default();
    let x = Tensor::<Ad, 4>::random([batch, 3, 96, 96], Distribution::Normal(0.0, 1.0), &device);
    let target = Tensor::<Ad, 2>::zeros([batch, 1], &device);
    let step = |model: &EfficientNetLite0<Ad>| {
        let grads = (model.forward(x.clone()) - target.clone())
            .powi_scalar(2)
            .mean()
            .backward();
        GradientsParams::from_grads(grads, model).len()
    };
    // The mean of `steps` steps after one warm-up, which pays for first-use allocations.
    let time = |model: &EfficientNetLite0<Ad>| {
        step(model);
        let start = Instant::now();
        for _ in 0..steps {
            step(model);
        }
        start.elapsed().as_secs_f64() / steps as f64
    };

    let model =
        EfficientNetLite0::<Ad>::new(&device, 0.2, false).context("building EfficientNet-Lite0")?;
    let full = time(&model);
    println!(
        "EfficientNet-Lite0 forward+backward (full fine-tune), batch {batch} at 96x96: {:.1} ms/batch",
        full * 1e3
    );
    let frozen = time(&model.freeze_backbone());
    println!(
        "EfficientNet-Lite0 forward+backward (frozen backbone), batch {batch} at 96x96: {:.1} ms/batch",
        frozen * 1e3
    );
    Ok(())
}
