//! The int8 multiply-add peak of a core, per integer GEMM version: a loop of independent
//! register-only dot products (`vpdpbusd`, or AVX2's `vpmaddwd` + `vpaddd`, or
//! `vpmaddubsw` + `vpmaddwd` + `vpaddd` for `avx2-u7`), the ceiling a
//! micro-kernel on that version can reach. Operations are counted as the lab counts them for a
//! GEMM: a multiply-add is 2 ops, so one 512-bit `vpdpbusd` is 128. Timed by the same harness as the
//! f32 FMA peak ([`crate::simd::peak::measure_on`]). Must not: touch memory inside the timed loop.

use super::QIsa;

/// Independent accumulator chains: covers a 5-cycle latency at two issues per cycle.
const CHAINS: usize = 12;

/// G-ops per second (2 per u8 x s8 multiply-add) of `threads` cores running `isa`'s dot-product
/// loop at once, measured for about `seconds`; an unsupported `isa` falls back ([`QIsa::usable`]).
pub fn peak_gops_on(isa: QIsa, seconds: f64, threads: usize) -> f64 {
    let isa = isa.usable();
    let macs_per_instruction = match isa {
        QIsa::Avx512Vnni => 64,
        QIsa::AvxVnni => 32,
        QIsa::Avx2 => 16,
        QIsa::Avx2U7 => 32,
        QIsa::Scalar => 1,
    };
    let ops_per_iter = (CHAINS * macs_per_instruction * 2) as f64;
    crate::simd::peak::measure_on(threads, seconds, ops_per_iter, &|iters| {
        std::hint::black_box(dot_loop(isa, std::hint::black_box(iters)));
    })
}

fn dot_loop(isa: QIsa, iters: usize) -> i32 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `isa` is usable, so the CPU has the instructions each loop is compiled for.
    unsafe {
        match isa {
            QIsa::Avx512Vnni => return x86::avx512_vnni(iters),
            QIsa::AvxVnni => return x86::avx_vnni(iters),
            QIsa::Avx2 => return x86::avx2(iters),
            QIsa::Avx2U7 => return x86::avx2_u7(iters),
            QIsa::Scalar => {}
        }
    }
    let mut acc = [1i32; CHAINS];
    for _ in 0..iters {
        for (c, a) in acc.iter_mut().enumerate() {
            *a = a.wrapping_add(std::hint::black_box(3) * (c as i32 + 1));
        }
    }
    acc.iter().fold(0, |s, &a| s.wrapping_add(a))
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn avx512_vnni(iters: usize) -> i32 {
        let (a, b) = (_mm512_set1_epi8(1), _mm512_set1_epi8(-1));
        let mut acc = [_mm512_setzero_si512(); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, a, b);
            }
        }
        let sum = acc.iter().fold(_mm512_setzero_si512(), |s, &v| _mm512_add_epi32(s, v));
        _mm512_reduce_add_epi32(sum)
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn avx_vnni(iters: usize) -> i32 {
        let (a, b) = (_mm256_set1_epi8(1), _mm256_set1_epi8(-1));
        let mut acc = [_mm256_setzero_si256(); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_dpbusd_avx_epi32(*v, a, b);
            }
        }
        lane0(&acc)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2(iters: usize) -> i32 {
        // The product reads the accumulator: with two constant operands the compiler would hoist
        // `vpmaddwd` out of the loop and time the adds alone.
        let b = _mm256_set1_epi16(-1);
        let mut acc = [_mm256_set1_epi32(1); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(*v, b));
            }
        }
        lane0(&acc)
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2_u7(iters: usize) -> i32 {
        // As above: the byte products read the accumulator.
        let (b, ones) = (_mm256_set1_epi8(-1), _mm256_set1_epi16(1));
        let mut acc = [_mm256_set1_epi32(1); CHAINS];
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = _mm256_add_epi32(*v, _mm256_madd_epi16(_mm256_maddubs_epi16(*v, b), ones));
            }
        }
        lane0(&acc)
    }

    #[target_feature(enable = "avx2")]
    unsafe fn lane0(acc: &[__m256i; CHAINS]) -> i32 {
        let sum = acc.iter().fold(_mm256_setzero_si256(), |s, &v| _mm256_add_epi32(s, v));
        _mm256_extract_epi32::<0>(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_measures_a_finite_rate() {
        for isa in QIsa::ALL {
            let g = peak_gops_on(isa, 0.02, 1);
            println!("{isa} (runs as {}): {g:.1} GOP/s", isa.usable());
            assert!(g.is_finite() && g > 0.0);
        }
    }

    #[test]
    fn the_loops_compute_what_they_count() {
        // 12 chains x iters x (4 products of 1 x -1 per lane): the sum proves every chain ran.
        for (isa, lanes_summed) in [(QIsa::Avx512Vnni, 16), (QIsa::AvxVnni, 1)] {
            if isa.is_supported() {
                assert_eq!(dot_loop(isa, 10), 12 * 10 * -4 * lanes_summed, "{isa}");
            }
        }
    }
}
