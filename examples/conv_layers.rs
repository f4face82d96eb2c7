//! Milliseconds of the CPU convolution kernels on seed-cnn-5's four 3x3 layers at batch N
//! (default 64), best of 5: `cargo run --release --example conv_layers [N]`, and with
//! `HISTOBOARD_WINOGRAD=off` for the im2col path (BENCHMARKS.md, issue 16: Winograd).
use histoboard::kernels::conv::{Geometry, forward, input_grad, weight_grad};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    for (c, side, o) in [(32, 48, 64), (64, 24, 128), (128, 12, 256), (256, 6, 512)] {
        let g = Geometry {
            n,
            c,
            h: side,
            w: side,
            o,
            kh: 3,
            kw: 3,
            stride: [1, 1],
            pad: [1, 1],
            dilation: [1, 1],
        };
        // Deterministic values in [-0.5, 0.5): the timing does not depend on them.
        let fill = |len: usize, k: usize| -> Vec<f32> {
            (0..len)
                .map(|i| ((i * k) % 1000) as f32 / 1000.0 - 0.5)
                .collect()
        };
        let x = fill(n * c * side * side, 7919);
        let w = fill(o * c * 9, 104_729);
        let dy = fill(n * o * side * side, 31);
        let best = |f: &dyn Fn() -> Vec<f32>| {
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(f());
                    t.elapsed().as_secs_f64() * 1e3
                })
                .fold(f64::MAX, f64::min)
        };
        println!(
            "C {c}, {side}x{side}, O {o}: forward {:.1} ms, input gradient {:.1} ms, weight gradient {:.1} ms",
            best(&|| forward(&g, &x, &w, None)),
            best(&|| input_grad(&g, &w, &dy)),
            best(&|| weight_grad(&g, &x, &dy)),
        );
    }
}
