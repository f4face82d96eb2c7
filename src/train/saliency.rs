//! Input-gradient saliency (Simonyan et al., 2014): for each tile, |d prob / d input| at every
//! pixel, the largest of the three colour channels, smoothed by a 5x5 box and scaled to 0..=1
//! by the tile's own maximum. The gradient is taken through the model in inference mode
//! (running BatchNorm statistics, no dropout), the mode that produced its predictions. Maps are
//! in the 96x96 tile's own pixels: a crop or resize of the run's inputs is undone, and pixels
//! the model never saw are 0.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::backend::Autodiff;
use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;

use super::checkpoint::{self, Which};
use super::device::{self, DeviceChoice};
use super::trainer::to_tensors;
use crate::data::{self, Dataset, LoaderOptions, SIDE};
use crate::experiment::{BadTilePolicy, DataConfig, Experiment};
use crate::kernels::Kernels;
use crate::model::Net;

/// Tiles a backward pass.
const BATCH: usize = 32;

/// Saliency maps (`SIDE * SIDE` values, row-major) of the tiles `ids` of the labelled set
/// `data`, by the run's `which` checkpoint.
pub fn maps(
    run_dir: &Path,
    which: Which,
    device: Option<&str>,
    data: &DataConfig,
    ids: &[&str],
) -> Result<HashMap<String, Vec<f32>>> {
    let exp = super::load_run_config(run_dir)?;
    let resolved = device::resolve(device.unwrap_or(&exp.train.device))?;
    match resolved.choice {
        DeviceChoice::Cpu => {
            on::<Autodiff<burn::backend::Flex>>(run_dir, which, &exp, data, ids, Default::default())
        }
        DeviceChoice::Cuda(i) => on::<Autodiff<burn::backend::Cuda>>(
            run_dir,
            which,
            &exp,
            data,
            ids,
            burn::backend::cuda::CudaDevice::new(i),
        ),
    }
    .with_context(|| format!("saliency with {}", run_dir.display()))
}

fn on<B: AutodiffBackend + Kernels>(
    run_dir: &Path,
    which: Which,
    exp: &Experiment,
    data: &DataConfig,
    ids: &[&str],
    device: B::Device,
) -> Result<HashMap<String, Vec<f32>>> {
    let ckpt_dir = crate::runs::RunPaths::new(run_dir).checkpoints();
    let ptr = checkpoint::read_pointer(&ckpt_dir, which)?;
    let mut model_cfg = exp.model.clone();
    model_cfg.pretrained.clear();
    let model: Net<B> = Net::build(&model_cfg, ptr.state.side, &device, run_dir)?;
    let model = model.load_record(checkpoint::load_record::<B, _>(
        &ckpt_dir.join(&ptr.model),
        &device,
    )?);
    let cfg = DataConfig {
        cache: false,
        limit: 0,
        bad_tiles: BadTilePolicy::Skip,
        ..data.clone()
    };
    let ds = Arc::new(Dataset::open(&cfg).with_context(|| format!("opening {}", cfg.source))?);
    let index = ds.index_by_id();
    let indices = ids
        .iter()
        .map(|id| {
            index
                .get(id)
                .copied()
                .with_context(|| format!("tile {id} is not in {}", cfg.source))
        })
        .collect::<Result<Vec<usize>>>()?;
    let opts = LoaderOptions {
        batch_size: BATCH,
        shuffle: false,
        augment: None,
        seed: exp.train.seed,
        epoch: 0,
        workers: 1,
        prefetch: 1,
        crop: exp.data.crop,
        resize: exp.data.resize,
        mean: ptr.state.mean,
        std: ptr.state.std,
        drop_last: false,
        transform: None,
    };
    let crop = if exp.data.crop == 0 {
        SIDE
    } else {
        exp.data.crop as usize
    };
    let mut out = HashMap::new();
    for batch in data::loader(ds.clone(), indices, opts) {
        let batch = batch?;
        let (side, tiles) = (batch.side, batch.indices.clone());
        let (x, _) = to_tensors::<B>(batch, &device);
        let x = x.require_grad();
        let probs = burn::tensor::activation::sigmoid(model.forward_inference(x.clone()));
        let grads = probs.sum().backward();
        let g = x
            .grad(&grads)
            .context("the input got no gradient")?
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("reading gradients: {e}"))?;
        for (k, &i) in tiles.iter().enumerate() {
            let one = &g[k * 3 * side * side..(k + 1) * 3 * side * side];
            out.insert(ds.ids()[i].clone(), tile_map(one, side, crop));
        }
    }
    Ok(out)
}

/// One tile's `[3, side, side]` input gradient as a smoothed 0..=1 map over the whole tile.
fn tile_map(grad: &[f32], side: usize, crop: usize) -> Vec<f32> {
    let plane = side * side;
    let model: Vec<f32> = (0..plane)
        .map(|p| {
            (0..3)
                .map(|c| grad[c * plane + p].abs())
                .fold(0.0, f32::max)
        })
        .collect();
    // Back to tile pixels: the centre crop, resized to `side`, is what the model saw.
    let offset = (SIDE - crop) / 2;
    let mut map = vec![0f32; SIDE * SIDE];
    for ty in offset..offset + crop {
        for tx in offset..offset + crop {
            let my = ((ty - offset) * side / crop).min(side - 1);
            let mx = ((tx - offset) * side / crop).min(side - 1);
            map[ty * SIDE + tx] = model[my * side + mx];
        }
    }
    let map = box_blur(&map, 2);
    let max = map.iter().copied().fold(0.0, f32::max);
    if max > 0.0 && max.is_finite() {
        map.into_iter().map(|v| v / max).collect()
    } else {
        map
    }
}

/// Mean over a `(2r+1)^2` square, clipped at the tile's edges.
fn box_blur(map: &[f32], r: usize) -> Vec<f32> {
    let mut out = vec![0f32; map.len()];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (y0, y1) = (y.saturating_sub(r), (y + r).min(SIDE - 1));
            let (x0, x1) = (x.saturating_sub(r), (x + r).min(SIDE - 1));
            let mut s = 0.0;
            for yy in y0..=y1 {
                for xx in x0..=x1 {
                    s += map[yy * SIDE + xx];
                }
            }
            out[y * SIDE + x] = s / ((y1 - y0 + 1) * (x1 - x0 + 1)) as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cropped_input_maps_back_to_the_tile_centre() {
        // A 32 px crop seen at 32 px: one hot gradient pixel at the crop's corner.
        let mut g = vec![0f32; 3 * 32 * 32];
        g[32 * 32] = -2.0; // channel 1, pixel (0, 0)
        let m = tile_map(&g, 32, 32);
        assert_eq!(m.len(), SIDE * SIDE);
        assert_eq!(m[32 * SIDE + 32], 1.0, "the peak, scaled to 1");
        assert_eq!(m[0], 0.0, "outside the crop the model saw nothing");
        assert!(m.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
    }
}
