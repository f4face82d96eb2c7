//! Safetensors checkpoints with PyTorch names: exact round trip, names and layouts, errors.

use std::collections::BTreeMap;
use std::path::Path;

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::store::ModuleSnapshot;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};
use histoboard::model::effnet::EfficientNetLite0;
use histoboard::model::weights::{load_safetensors, load_safetensors_partial, save_safetensors};
use safetensors::SafeTensors;

type Cpu = Flex;
type Ad = Autodiff<Flex>;

#[derive(Module, Debug)]
struct Small<B: Backend> {
    conv: Conv2d<B>,
    bn: BatchNorm<B>,
    fc: Linear<B>,
}

impl<B: Backend> Small<B> {
    fn new(device: &B::Device, fc_out: usize) -> Self {
        Self {
            conv: Conv2dConfig::new([3, 4], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            bn: BatchNormConfig::new(4).init(device),
            fc: LinearConfig::new(4, fc_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 2> {
        let h = self.bn.forward(self.conv.forward(x));
        let [n, c, hh, w] = h.dims();
        self.fc
            .forward(h.reshape([n, c, hh * w]).mean_dim(2).reshape([n, c]))
    }
}

fn tensors<B: Backend, M: Module<B>>(m: &M) -> BTreeMap<String, Vec<u8>> {
    m.collect(None, None, false)
        .into_iter()
        .map(|s| {
            (
                s.full_path(),
                s.to_data().expect("tensor data").bytes.to_vec(),
            )
        })
        .collect()
}

/// A module whose running statistics moved away from their initial values, as after training.
fn trained_small() -> Small<Cpu> {
    let device = Default::default();
    let model = Small::<Ad>::new(&device, 2);
    let x = Tensor::<Ad, 4>::random([4, 3, 8, 8], Distribution::Normal(1.0, 2.0), &device);
    let _ = model.forward(x); // training-mode BatchNorm updates running_mean / running_var
    model.valid()
}

#[test]
fn round_trip_is_exact_and_pytorch_named() {
    let _serial = crate::support::serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/small.safetensors");
    let device = Default::default();
    let model = trained_small();
    save_safetensors(&model, &path).expect("save");

    // PyTorch conventions in the file.
    let bytes = std::fs::read(&path).expect("checkpoint written");
    let file = SafeTensors::deserialize(&bytes).expect("valid safetensors");
    let mut names = file.names();
    names.sort();
    assert_eq!(
        names,
        [
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.weight",
            "conv.bias",
            "conv.weight",
            "fc.bias",
            "fc.weight"
        ]
    );
    assert_eq!(
        file.tensor("fc.weight").unwrap().shape(),
        [2, 4],
        "[out, in]"
    );
    assert_eq!(file.tensor("conv.weight").unwrap().shape(), [4, 3, 3, 3]);
    // No temporary file left next to the checkpoint.
    let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["small.safetensors"]);

    let fresh = Small::<Cpu>::new(&device, 2);
    assert_ne!(tensors(&fresh), tensors(&model), "fresh init differs");
    let loaded = load_safetensors(fresh, &path).expect("load");
    assert_eq!(tensors(&loaded), tensors(&model), "bit-exact round trip");
    let x = Tensor::<Cpu, 4>::random([2, 3, 8, 8], Distribution::Default, &device);
    assert_eq!(
        loaded.forward(x.clone()).into_data(),
        model.forward(x).into_data()
    );

    // Saving again replaces the file.
    save_safetensors(&loaded, &path).expect("overwrite");
}

#[test]
fn mismatches_are_errors_naming_file_and_tensor() {
    let _serial = crate::support::serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("small.safetensors");
    let device = Default::default();
    save_safetensors(&trained_small(), &path).expect("save");

    let err = format!(
        "{:#}",
        load_safetensors(Small::<Cpu>::new(&device, 3), &path).unwrap_err()
    );
    assert!(err.contains("small.safetensors"), "{err}");
    assert!(
        err.contains("fc.weight") && err.contains("fc.bias"),
        "{err}"
    );

    let err = format!(
        "{:#}",
        load_safetensors(
            Small::<Cpu>::new(&device, 2),
            &dir.path().join("absent.safetensors")
        )
        .unwrap_err()
    );
    assert!(
        err.contains("absent.safetensors") && err.contains("not found"),
        "{err}"
    );

    std::fs::write(dir.path().join("garbage.safetensors"), b"not a checkpoint").unwrap();
    let err = format!(
        "{:#}",
        load_safetensors(
            Small::<Cpu>::new(&device, 2),
            &dir.path().join("garbage.safetensors")
        )
        .unwrap_err()
    );
    assert!(err.contains("garbage.safetensors"), "{err}");

    // A different module: strict load lists what is missing (PyTorch names) and what is extra.
    #[derive(Module, Debug)]
    struct Other<B: Backend> {
        bn: BatchNorm<B>,
        extra: BatchNorm<B>,
    }
    let other = Other::<Cpu> {
        bn: BatchNormConfig::new(4).init(&device),
        extra: BatchNormConfig::new(4).init(&device),
    };
    let err = format!("{:#}", load_safetensors(other.clone(), &path).unwrap_err());
    assert!(
        err.contains("extra.weight") && err.contains("extra.running_var"),
        "{err}"
    );
    assert!(
        err.contains("conv.weight") && err.contains("fc.bias"),
        "{err}"
    );
    let (_, report) = load_safetensors_partial(other, &path).expect("partial load");
    assert_eq!(report.applied, 4);
    assert_eq!(
        report.missing,
        [
            "extra.bias",
            "extra.running_mean",
            "extra.running_var",
            "extra.weight"
        ]
    );
    assert_eq!(
        report.unused,
        ["conv.bias", "conv.weight", "fc.bias", "fc.weight"]
    );
}

#[test]
fn effnet_checkpoint_round_trip() {
    let _serial = crate::support::serial();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("effnet.safetensors");
    let device = Default::default();
    let weights = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/weights/efficientnet_lite0-imagenet.safetensors");
    let model = EfficientNetLite0::<Cpu>::new(&device, 0.2, false)
        .unwrap()
        .load_imagenet(&weights)
        .unwrap();
    save_safetensors(&model, &path).expect("save");
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    // Same names as the PyTorch definition: backbone as in the ImageNet file, plus the head.
    assert_eq!(file.len(), 245 + 2);
    assert_eq!(file.tensor("head.weight").unwrap().shape(), [1, 1280]);
    assert_eq!(
        file.tensor("_blocks.15._bn2.running_var").unwrap().shape(),
        [320]
    );

    let loaded = load_safetensors(
        EfficientNetLite0::<Cpu>::new(&device, 0.2, false).unwrap(),
        &path,
    )
    .expect("load");
    assert_eq!(tensors(&loaded), tensors(&model));
}
