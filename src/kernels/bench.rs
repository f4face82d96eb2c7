//! `histoboard bench conv`: the project's convolution gradients against burn's.

use super::*;

/// `histoboard bench conv`: the convolution gradients of seed-cnn-3's three blocks at batch
/// `batch`, burn's default against [`conv`], as `RESULT {json}` lines (median of `reps`).
pub fn bench(batch: usize, reps: usize) -> anyhow::Result<()> {
    use std::time::Instant;
    let reps = reps.max(1);
    let median = |mut f: Box<dyn FnMut()>| -> f64 {
        let mut t: Vec<f64> = (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let device = Default::default();
    for (c, o, side, k) in [(3, 32, 96, 5), (32, 64, 48, 3), (64, 128, 24, 3)] {
        let rand = |shape: [usize; 4]| {
            Tensor::<Flex, 4>::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), &device)
                .into_primitive()
                .tensor()
        };
        let x = rand([batch, c, side, side]);
        let w = rand([o, c, k, k]);
        let dy = rand([batch, o, side, side]);
        let opts = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let burn_dw = median(Box::new(move || {
            Flex::conv2d_weight_backward(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let ours_dw = median(Box::new(move || {
            Flex::conv2d_weight_grad(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let burn_dx = median(Box::new(move || {
            Flex::conv2d_x_backward(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, dy1, o1) = (x.clone(), w.clone(), dy.clone(), opts.clone());
        let ours_dx = median(Box::new(move || {
            Flex::conv2d_x_grad(x1.clone(), w1.clone(), dy1.clone(), o1.clone());
        }));
        let (x1, w1, o1) = (x.clone(), w.clone(), opts.clone());
        let burn_fwd = median(Box::new(move || {
            Flex::conv2d(x1.clone(), w1.clone(), None, o1.clone());
        }));
        let (x1, w1, o1) = (x.clone(), w.clone(), opts.clone());
        let ours_fwd = median(Box::new(move || {
            Flex::conv2d_op(x1.clone(), w1.clone(), None, o1.clone());
        }));
        let result = serde_json::json!({
            "forward_s": {"burn": burn_fwd, "histoboard": ours_fwd},
            "mode": "conv-grad",
            "shape": format!("{batch}x{c}x{side}x{side} -> {o}, k{k}"),
            "threads": rayon::current_num_threads(),
            "weight_grad_s": {"burn": burn_dw, "histoboard": ours_dw},
            "input_grad_s": {"burn": burn_dx, "histoboard": ours_dx},
        });
        println!("RESULT {result}");
    }
    Ok(())
}
