//! The kernels' single-threaded f32 matrix product, with its micro-kernels chosen per host.
//!
//! gemm 0.19 picks micro-kernels from the CPU's features alone: built with `x86-v4`, every
//! AVX-512 host gets the 512-bit ones. Those are not faster everywhere. On an Intel Xeon with
//! AVX-512 (this project's CI-class VM) they ran convolution-shaped products at 1.9x the
//! GFLOP/s of the AVX2 ones (BENCHMARKS.md, issue 16); on AMD Zen 4, which splits each 512-bit
//! operation in two, seed-cnn-3 training went from 152 to 140 img/s with them. So histoboard
//! measures: at first use, both run a product of a convolution's shape, alternately, and the
//! faster stays for the life of the process. `HISTOBOARD_GEMM=avx512|avx2|auto` fixes the
//! choice (to reproduce a figure, or to compare the two in a benchmark).
//!
//! The per-ISA entry points of gemm are private, so this calls gemm-common's generic driver with
//! gemm-f32's public micro-kernel tables, exactly as gemm's own per-ISA functions do (versions
//! pinned together in Cargo.toml).

use std::sync::OnceLock;
use std::time::Instant;

/// Micro-kernels a product runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// 512-bit AVX-512F kernels.
    Avx512,
    /// 256-bit AVX2 + FMA kernels.
    Avx2,
    /// Whatever gemm picks itself (hosts with neither, other architectures).
    Portable,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }
}

/// How the choice was made, for benchmark output and run logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub isa: Isa,
    /// GFLOP/s measured for (AVX-512, AVX2) when both were timed.
    pub measured: Option<(f64, f64)>,
    /// Set by `HISTOBOARD_GEMM`.
    pub forced: bool,
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.isa.name())?;
        if self.forced {
            write!(f, " (HISTOBOARD_GEMM)")?;
        } else if let Some((wide, narrow)) = self.measured {
            write!(f, " (measured avx512 {wide:.0}, avx2 {narrow:.0} GFLOP/s)")?;
        }
        Ok(())
    }
}

/// The micro-kernels this process uses; measured once.
pub fn choice() -> Choice {
    static CHOICE: OnceLock<Choice> = OnceLock::new();
    *CHOICE.get_or_init(choose)
}

fn choose() -> Choice {
    let available = available();
    let forced = match std::env::var("HISTOBOARD_GEMM").as_deref() {
        Ok("avx512") => Some(Isa::Avx512),
        Ok("avx2") => Some(Isa::Avx2),
        Ok("portable") => Some(Isa::Portable),
        _ => None,
    };
    if let Some(isa) = forced.filter(|isa| available.contains(isa)) {
        return Choice {
            isa,
            measured: None,
            forced: true,
        };
    }
    if !available.contains(&Isa::Avx512) {
        let isa = if available.contains(&Isa::Avx2) {
            Isa::Avx2
        } else {
            Isa::Portable
        };
        return Choice {
            isa,
            measured: None,
            forced: false,
        };
    }
    let (wide, narrow) = race();
    Choice {
        // AVX-512 must win clearly: on a tie the narrower kernels also run cooler.
        isa: if wide > 1.05 * narrow {
            Isa::Avx512
        } else {
            Isa::Avx2
        },
        measured: Some((wide, narrow)),
        forced: false,
    }
}

/// The kernels this CPU can run.
fn available() -> Vec<Isa> {
    let mut isas = vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if super::has_avx2_fma() {
            isas.push(Isa::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            isas.push(Isa::Avx512);
        }
    }
    isas
}

/// Best GFLOP/s of (AVX-512, AVX2) on a 128x576x576 product (seed-cnn-3's middle block, whose
/// shape sits in the middle of the models' range), each timed alternately so a burst of load
/// from elsewhere hits both. About 20 ms in all.
fn race() -> (f64, f64) {
    let (m, n, k) = (128, 576, 576);
    let lhs: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.01).collect();
    let rhs: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.01).collect();
    let mut dst = vec![0f32; m * n];
    let flop = 2.0 * (m * n * k) as f64;
    let mut best = [f64::MAX; 2];
    for _ in 0..6 {
        for (slot, isa) in [Isa::Avx512, Isa::Avx2].into_iter().enumerate() {
            let t = Instant::now();
            product(isa, (m, n, k), &mut dst, false, &lhs, (k, 1), &rhs, (n, 1));
            best[slot] = best[slot].min(t.elapsed().as_secs_f64());
        }
    }
    (flop / best[0] / 1e9, flop / best[1] / 1e9)
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, each given by its row and column strides; one thread.
pub fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
) {
    product(
        choice().isa,
        (m, n, k),
        dst,
        accumulate,
        lhs,
        lhs_strides,
        rhs,
        rhs_strides,
    );
}

#[allow(clippy::too_many_arguments)]
fn product(
    isa: Isa,
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n, "gemm: destination too short");
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(
        lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs,
        "gemm: left operand too short"
    );
    assert!(
        rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs,
        "gemm: right operand too short"
    );
    let (dst, lhs, rhs) = (dst.as_mut_ptr(), lhs.as_ptr(), rhs.as_ptr());
    let (ls, rs) = (
        (lhs_cs as isize, lhs_rs as isize),
        (rhs_cs as isize, rhs_rs as isize),
    );
    // gemm's arguments: destination, then each operand as (pointer, column stride, row
    // stride); alpha scales the destination's old values, beta the product.
    macro_rules! driver {
        ($simd:ty, $ukr:path, $lanes:expr) => {{
            use $ukr as u;
            // SAFETY: the asserts above bound every index gemm reads or writes (dst is
            // row-major m×n); the caller picked an ISA from `available()`, so try_new succeeds.
            unsafe {
                gemm_common::gemm::gemm_basic_generic::<
                    $simd,
                    f32,
                    $lanes,
                    { u::MR_DIV_N * $lanes },
                    { u::NR },
                    { u::MR_DIV_N },
                    { u::H_M },
                    { u::H_N },
                >(
                    <$simd as gemm_common::simd::MixedSimd<f32, f32, f32, f32>>::try_new()
                        .expect("gemm: the chosen micro-kernels need a CPU feature"),
                    m,
                    n,
                    k,
                    dst,
                    1,
                    n as isize,
                    accumulate,
                    lhs,
                    ls.0,
                    ls.1,
                    rhs,
                    rs.0,
                    rs.1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    |a, b, c| a * b + c,
                    &u::UKR,
                    &u::H_UKR,
                    false,
                    gemm_common::Parallelism::None,
                )
            }
        }};
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => driver!(
            gemm_common::simd::V4,
            gemm_f32::microkernel::avx512f::f32,
            16
        ),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => driver!(gemm_common::simd::V3, gemm_f32::microkernel::fma::f32, 8),
        // SAFETY: as above; gemm dispatches on the CPU's features itself.
        _ => unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst,
                1,
                n as isize,
                accumulate,
                lhs,
                ls.0,
                ls.1,
                rhs,
                rs.0,
                rs.1,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU has gives the product of the definition, with strides that
    /// transpose an operand, and accumulates when asked.
    #[test]
    fn every_available_kernel_multiplies() {
        let (m, n, k) = (37, 29, 41);
        let a = crate::kernels::test_values(m * k, 1, -1.0, 1.0);
        let b = crate::kernels::test_values(k * n, 2, -1.0, 1.0);
        let mut want = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                // a is read transposed below: a[i, p] at p·m + i.
                want[i * n + j] = (0..k).map(|p| a[p * m + i] * b[p * n + j]).sum();
            }
        }
        for isa in available() {
            let mut got = vec![1f32; m * n];
            product(isa, (m, n, k), &mut got, false, &a, (1, m), &b, (n, 1));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{isa:?}: {g} vs {w}");
            }
            product(isa, (m, n, k), &mut got, true, &a, (1, m), &b, (n, 1));
            for (g, w) in got.iter().zip(&want) {
                assert!((g - 2.0 * w).abs() < 2e-4, "{isa:?} accumulating");
            }
        }
    }

    #[test]
    fn the_choice_is_one_this_cpu_runs() {
        assert!(available().contains(&choice().isa));
    }
}
