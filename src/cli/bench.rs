//! `histoboard bench train|infer|agree|conv`: speed, memory, and CPU/GPU agreement.

use anyhow::Result;

use histoboard::train::bench::{self, Mode};

use crate::{BenchArgs, BenchMode};

pub fn run(args: BenchArgs) -> Result<()> {
    let timed = |mode| {
        bench::run(
            mode,
            args.model,
            args.batch,
            args.steps,
            args.warmup,
            &args.device,
        )
    };
    match args.mode {
        BenchMode::Train => timed(Mode::Train),
        BenchMode::Infer => timed(Mode::Infer),
        BenchMode::Agree => histoboard::train::agree::run(
            args.model,
            &args.device,
            args.batch.unwrap_or(32),
            args.tolerance,
        ),
        BenchMode::Conv => histoboard::kernels::bench(args.batch.unwrap_or(64), args.steps),
    }
}
