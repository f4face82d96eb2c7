//! The kernels' single-threaded f32 matrix product, with its micro-kernels chosen per host.
//!
//! gemm 0.19 picks micro-kernels from the CPU's features alone: built with `x86-v4`, every
//! AVX-512 host gets the 512-bit ones. Those are not faster everywhere. On an Intel Xeon with
//! AVX-512 they ran convolution-shaped products at 1.9x the GFLOP/s of the AVX2 ones
//! (BENCHMARKS.md, issue 16); on AMD Zen 4, which splits each 512-bit operation in two,
//! seed-cnn-3 training went from 152 to 140 img/s with them. So AMD processors before Zen 5
//! (family 0x1A, full-width AVX-512) keep the AVX2 kernels and every other AVX-512 host gets the
//! 512-bit ones. The rule is fixed rather than timed at start-up: the two kernels round
//! differently, and a resumed run must compute exactly what the uninterrupted one would have,
//! which a race that a busy machine can tip either way would not guarantee.
//! `HISTOBOARD_GEMM=avx512|avx2|portable` overrides it (to compare the two, or on a host the rule
//! misjudges).
//!
//! The per-ISA entry points of gemm are private, so this calls gemm-common's generic driver with
//! gemm-f32's public micro-kernel tables, exactly as gemm's own per-ISA functions do (versions
//! pinned together in Cargo.toml).

use std::sync::OnceLock;

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

/// The kernels and why, for benchmark output and run logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub isa: Isa,
    pub why: &'static str,
}

impl std::fmt::Display for Choice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.isa.name(), self.why)
    }
}

/// The micro-kernels this process uses.
pub fn choice() -> Choice {
    static CHOICE: OnceLock<Choice> = OnceLock::new();
    *CHOICE.get_or_init(|| {
        choose(
            std::env::var("HISTOBOARD_GEMM").ok().as_deref(),
            &available(),
            amd_family(),
        )
    })
}

/// The rule: an override the CPU can run, else AVX-512 unless an AMD family before 0x1A.
fn choose(forced: Option<&str>, available: &[Isa], amd_family: Option<u32>) -> Choice {
    let forced = match forced {
        Some("avx512") => Some(Isa::Avx512),
        Some("avx2") => Some(Isa::Avx2),
        Some("portable") => Some(Isa::Portable),
        _ => None,
    };
    if let Some(isa) = forced.filter(|isa| available.contains(isa)) {
        return Choice {
            isa,
            why: "HISTOBOARD_GEMM",
        };
    }
    let (isa, why) = if !available.contains(&Isa::Avx512) {
        if available.contains(&Isa::Avx2) {
            (Isa::Avx2, "no AVX-512")
        } else {
            (Isa::Portable, "no AVX2")
        }
    } else if amd_family.is_some_and(|f| f < 0x1A) {
        (Isa::Avx2, "AMD before Zen 5 splits 512-bit operations")
    } else {
        (Isa::Avx512, "AVX-512 at full width")
    };
    Choice { isa, why }
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

/// The processor family of an AMD CPU (0x19 Zen 3/4, 0x1A Zen 5); None for other vendors.
fn amd_family() -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // SAFETY: cpuid exists on every x86_64 CPU; leaves 0 and 1 always do.
        #[allow(unused_unsafe)]
        let (vendor, signature) = unsafe { (__cpuid(0), __cpuid(1).eax) };
        let name: Vec<u8> = [vendor.ebx, vendor.edx, vendor.ecx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        if name != b"AuthenticAMD" {
            return None;
        }
        let base = (signature >> 8) & 0xf;
        Some(if base == 0xf {
            base + ((signature >> 20) & 0xff)
        } else {
            base
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
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
    fn the_choice_is_one_this_cpu_runs_and_the_rule_holds() {
        assert!(available().contains(&choice().isa));
        let all = [Isa::Portable, Isa::Avx2, Isa::Avx512];
        let pick = |forced, available: &[Isa], amd| choose(forced, available, amd).isa;
        assert_eq!(pick(None, &all, None), Isa::Avx512);
        assert_eq!(pick(None, &all, Some(0x19)), Isa::Avx2, "Zen 4");
        assert_eq!(pick(None, &all, Some(0x1A)), Isa::Avx512, "Zen 5");
        assert_eq!(pick(None, &all[..2], None), Isa::Avx2);
        assert_eq!(pick(None, &all[..1], None), Isa::Portable);
        assert_eq!(pick(Some("avx2"), &all, None), Isa::Avx2);
        assert_eq!(pick(Some("avx512"), &all, Some(0x19)), Isa::Avx512);
        // An override the CPU cannot run, or a misspelt one, falls back to the rule.
        assert_eq!(pick(Some("avx512"), &all[..2], None), Isa::Avx2);
        assert_eq!(pick(Some("fast"), &all, None), Isa::Avx512);
    }
}
