//! EfficientNet-Lite0 against the reference vectors of `data/weights/`, gradients, freezing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, Flex};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::store::ModuleSnapshot;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use histoboard::model::effnet::{EfficientNetLite0, FEATURES, IMAGENET_CLASSES, is_backbone_param};
use safetensors::SafeTensors;

type Cpu = Flex;
type Ad = Autodiff<Flex>;

fn weights_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/weights")
}

fn imagenet_weights() -> PathBuf {
    weights_dir().join("efficientnet_lite0-imagenet.safetensors")
}

/// `(input, features, logits)` of one reference case, as (shape, values).
struct Case {
    input: (Vec<usize>, Vec<f32>),
    features: Vec<f32>,
    logits: Vec<f32>,
}

fn reference(name: &str) -> Case {
    let path = weights_dir().join("efficientnet_lite0-reference.safetensors");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = SafeTensors::deserialize(&bytes).expect("reference file parses");
    let get = |key: &str| {
        let view = file
            .tensor(&format!("{name}.{key}"))
            .unwrap_or_else(|e| panic!("{name}.{key}: {e}"));
        assert_eq!(view.dtype(), safetensors::Dtype::F32);
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (view.shape().to_vec(), values)
    };
    let features = get("features");
    let logits = get("logits");
    assert_eq!(features.0, vec![1, FEATURES]);
    assert_eq!(logits.0, vec![1, IMAGENET_CLASSES]);
    Case {
        input: get("input"),
        features: features.1,
        logits: logits.1,
    }
}

fn input_tensor<B: Backend>(case: &Case, device: &B::Device) -> Tensor<B, 4> {
    let (shape, values) = &case.input;
    Tensor::from_data(TensorData::new(values.clone(), shape.clone()), device)
}

/// `||out - reference|| / ||reference||`.
fn relative_error(out: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(out.len(), reference.len());
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (&o, &r) in out.iter().zip(reference) {
        diff += (f64::from(o) - f64::from(r)).powi(2);
        norm += f64::from(r).powi(2);
    }
    (diff / norm).sqrt()
}

fn rows(t: Tensor<Cpu, 2>) -> Vec<Vec<f32>> {
    let [_, width] = t.dims();
    let values = t.into_data().to_vec::<f32>().expect("float32 output");
    values.chunks(width).map(<[f32]>::to_vec).collect()
}

fn pretrained<B: Backend>(device: &B::Device, with_fc: bool) -> EfficientNetLite0<B> {
    EfficientNetLite0::new(device, 0.2, with_fc)
        .expect("valid config")
        .load_imagenet(&imagenet_weights())
        .expect("ImageNet weights load")
}

#[test]
fn matches_reference_at_96() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let model = pretrained::<Cpu>(&device, true);
    let cases = [
        ("tile", reference("tile")),
        ("chelsea_96", reference("chelsea_96")),
    ];
    // One batch of both inputs: also checks that samples do not leak into each other.
    let x = Tensor::cat(
        cases
            .iter()
            .map(|(_, c)| input_tensor(c, &device))
            .collect(),
        0,
    );
    let features = rows(model.forward_features(x.clone()));
    let logits = rows(model.forward_imagenet(x).expect("model has _fc"));
    for (i, (name, case)) in cases.iter().enumerate() {
        let ef = relative_error(&features[i], &case.features);
        let el = relative_error(&logits[i], &case.logits);
        assert!(ef <= 1e-4, "{name}: features relative error {ef:e}");
        assert!(el <= 1e-4, "{name}: logits relative error {el:e}");
    }
}

#[test]
fn matches_reference_at_224() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let model = pretrained::<Cpu>(&device, true);
    let case = reference("chelsea_224");
    let x = input_tensor::<Cpu>(&case, &device);
    let features = rows(model.forward_features(x.clone())).remove(0);
    let logits = rows(model.forward_imagenet(x).expect("model has _fc")).remove(0);
    let ef = relative_error(&features, &case.features);
    let el = relative_error(&logits, &case.logits);
    assert!(ef <= 1e-4, "features relative error {ef:e}");
    assert!(el <= 1e-4, "logits relative error {el:e}");
    let argmax = (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .expect("1000 logits");
    assert_eq!(argmax, 285, "Egyptian cat");
}

#[test]
fn without_imagenet_classifier() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let model = pretrained::<Cpu>(&device, false);
    let case = reference("tile");
    let x = input_tensor::<Cpu>(&case, &device);
    assert!(model.forward_imagenet(x.clone()).is_none());
    let features = rows(model.forward_features(x.clone())).remove(0);
    assert!(relative_error(&features, &case.features) <= 1e-4);
    assert_eq!(model.forward(x).dims(), [1, 1]);
}

#[test]
fn rejects_bad_config_and_weights() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let err = EfficientNetLite0::<Cpu>::new(&device, 1.0, false).unwrap_err();
    assert!(err.to_string().contains("dropout"), "{err}");

    let model = EfficientNetLite0::<Cpu>::new(&device, 0.2, false).expect("valid config");
    let missing = weights_dir().join("no-such-file.safetensors");
    let err = model.clone().load_imagenet(&missing).unwrap_err();
    assert!(err.to_string().contains("no-such-file"), "{err}");

    // The reference vectors are a valid safetensors file without any model tensor.
    let wrong = weights_dir().join("efficientnet_lite0-reference.safetensors");
    let err = format!("{:#}", model.load_imagenet(&wrong).unwrap_err());
    assert!(err.contains("missing: _blocks.0._bn1.bias"), "{err}");
    assert!(err.contains("chelsea_224.input"), "{err}");
}

/// A batch of 4 real 96x96 inputs: the two reference images and their mirror images.
fn batch96<B: Backend>(device: &B::Device) -> Tensor<B, 4> {
    let a = input_tensor::<B>(&reference("tile"), device);
    let b = input_tensor::<B>(&reference("chelsea_96"), device);
    Tensor::cat(vec![a.clone(), b.clone(), a.flip([3]), b.flip([3])], 0)
}

fn loss(model: &EfficientNetLite0<Ad>, x: Tensor<Ad, 4>) -> Tensor<Ad, 1> {
    let device = x.device();
    let target = Tensor::<Ad, 2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0], [4, 1]),
        &device,
    );
    (model.forward(x) - target).powi_scalar(2).mean()
}

/// Collects, per parameter path, whether a gradient exists and whether it is finite.
struct GradCheck<'a> {
    grads: &'a <Ad as AutodiffBackend>::Gradients,
    path: Vec<String>,
    found: BTreeMap<String, (bool, f64)>,
}

impl ModuleVisitor<Ad> for GradCheck<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Ad, D>>) {
        let entry = match param.val().grad(self.grads) {
            Some(g) => {
                let values = g.into_data().to_vec::<f32>().expect("float32 gradient");
                let finite = values.iter().all(|v| v.is_finite());
                let norm = values.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
                (finite, norm.sqrt())
            }
            None => (false, -1.0),
        };
        self.found.insert(self.path.join("."), entry);
    }
}

#[test]
fn forward_backward_gives_finite_gradients() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let model = pretrained::<Ad>(&device, false);
    let grads = loss(&model, batch96(&device)).backward();
    let mut check = GradCheck {
        grads: &grads,
        path: Vec::new(),
        found: BTreeMap::new(),
    };
    model.visit(&mut check);
    // Running statistics are state, not trained.
    let trainable: Vec<_> = check
        .found
        .iter()
        .filter(|(path, _)| !path.ends_with("running_mean") && !path.ends_with("running_var"))
        .collect();
    // Stem, 16 blocks (block 0 has no expansion), head conv + BN, transfer head.
    assert_eq!(trainable.len(), 3 + 15 * 9 + 6 + 3 + 2);
    for (path, (finite, norm)) in trainable {
        assert!(*finite, "{path}: missing or non-finite gradient");
        assert!(*norm > 0.0, "{path}: zero gradient");
    }
}

fn values<M: Module<Ad>>(model: &M) -> BTreeMap<String, Vec<f32>> {
    model
        .collect(None, None, false)
        .into_iter()
        .map(|s| {
            let data = s.to_data().expect("tensor data");
            (s.full_path(), data.to_vec::<f32>().expect("float32"))
        })
        .collect()
}

#[test]
fn frozen_backbone_stays_unchanged() {
    let _serial = crate::support::serial();
    let device = Default::default();
    let model = pretrained::<Ad>(&device, false).freeze_backbone();
    assert!(model.is_backbone_frozen());
    let before = values(&model);
    let mut optim = SgdConfig::new().init::<Ad, EfficientNetLite0<Ad>>();

    let grads = GradientsParams::from_grads(loss(&model, batch96(&device)).backward(), &model);
    assert_eq!(
        grads.len(),
        model.head_param_ids().len(),
        "only the head has gradients"
    );
    let model = optim.step(0.1, model, grads);
    let after = values(&model);
    for (path, old) in &before {
        let changed = after[path] != *old;
        if path.starts_with("head.") {
            assert!(changed, "{path}: head did not train");
        } else {
            // Includes the BatchNorm running statistics, which a frozen backbone must not update.
            assert!(!changed, "{path}: frozen backbone changed");
        }
        assert_eq!(is_backbone_param(path), !path.starts_with("head."));
    }

    // Unfrozen, everything trains; the id sets split the gradients into two groups.
    let model = model.unfreeze_backbone();
    assert!(!model.is_backbone_frozen());
    let mut raw = loss(&model, batch96(&device)).backward();
    let backbone_ids = model.backbone_param_ids();
    let head_ids = model.head_param_ids();
    let backbone = GradientsParams::from_params(&mut raw, &model, &backbone_ids);
    let head = GradientsParams::from_params(&mut raw, &model, &head_ids);
    assert_eq!(backbone.len(), backbone_ids.len());
    assert_eq!(head.len(), 2);
    let model = optim.step(0.01, model, backbone);
    let model = optim.step(0.1, model, head);
    let trained = values(&model);
    let stem = "_conv_stem.weight";
    assert_ne!(trained[stem], after[stem], "unfrozen stem did not train");
}
