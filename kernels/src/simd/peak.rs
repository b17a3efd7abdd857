//! Measures a core's peak f32 FMA throughput: a loop of independent register-only FMAs (no memory
//! traffic), the ceiling any GEMM micro-kernel on that back end can reach.
//!
//! How: 12 accumulator vectors, each updated `acc = acc * m + a` every iteration. Twelve chains
//! cover the FMA latency (4 cycles on Zen 4) times its throughput (two 256-bit or one 512-bit FMA
//! per cycle) with room to spare, so the loop is throughput-bound. FLOPs = iters x 12 x LANES x 2.
//! The best of several timed runs is reported (the machine is shared; the best run is the least
//! disturbed one). Run it on one thread: it measures one core.

use super::Isa;
use crate::simd_dispatch;
use std::time::Instant;

const CHAINS: usize = 12;

simd_dispatch! {
    fn fma_loop<S>(iters: usize) -> f32 {
        let mut acc = [S::splat(1.0); CHAINS];
        let (m, a) = (S::splat(0.999_999), S::splat(1e-7));
        for _ in 0..iters {
            for v in acc.iter_mut() {
                *v = S::fma(*v, m, a);
            }
        }
        let mut s = S::zero();
        for v in acc {
            s = S::add(s, v);
        }
        S::hsum(s)
    }
}

/// Peak GFLOP/s of one core on `isa` (falling back as [`Isa::usable`] does), measured for about
/// `seconds` in total.
pub fn peak_gflops(isa: Isa, seconds: f64) -> f64 {
    let isa = isa.usable();
    let flops_per_iter = (CHAINS * isa.lanes() * 2) as f64;
    // Calibrate: grow the iteration count until one run takes ~1/8 of the budget.
    let mut iters = 1 << 14;
    loop {
        let t = Instant::now();
        std::hint::black_box(fma_loop(isa, std::hint::black_box(iters)));
        if t.elapsed().as_secs_f64() > seconds / 8.0 || iters > 1 << 34 {
            break;
        }
        iters *= 2;
    }
    let mut best = 0.0f64;
    for _ in 0..6 {
        let t = Instant::now();
        std::hint::black_box(fma_loop(isa, std::hint::black_box(iters)));
        best = best.max(iters as f64 * flops_per_iter / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_positive_on_every_path() {
        for isa in Isa::ALL {
            let g = peak_gflops(isa, 0.02);
            println!("{:?} (runs as {:?}): {g:.1} GFLOP/s", isa, isa.usable());
            assert!(g > 0.0);
        }
    }
}
