//! Measures a core's peak f32 FMA throughput: a loop of independent register-only FMAs (no memory
//! traffic), the ceiling any GEMM micro-kernel on that back end can reach.
//!
//! How: 12 accumulator vectors, each updated `acc = acc * m + a` every iteration. Twelve chains
//! cover the FMA latency (4 cycles on Zen 4) times its throughput (two 256-bit or one 512-bit FMA
//! per cycle) with room to spare, so the loop is throughput-bound. FLOPs = iters x 12 x LANES x 2.
//! The best of several timed runs is reported (the machine is shared; the best run is the least
//! disturbed one). [`peak_gflops`] measures one core; [`peak_gflops_on`] runs the same loop on
//! several threads at once and measures their sum (what a multi-threaded GEMM can reach: on cores
//! that lower their clock under wide vector load it is less than cores x one core's peak).

use super::Isa;
use crate::simd_dispatch;
use std::sync::Barrier;
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
    peak_gflops_on(isa, seconds, 1)
}

/// Peak GFLOP/s of `threads` cores running the loop at the same time (all of them together),
/// measured for about `seconds` in total. Each timed round starts the threads together behind a
/// barrier and ends when the last one finishes, so a slow core counts against the sum.
pub fn peak_gflops_on(isa: Isa, seconds: f64, threads: usize) -> f64 {
    let isa = isa.usable();
    let flops_per_iter = (CHAINS * isa.lanes() * 2) as f64;
    measure_on(threads, seconds, flops_per_iter, &|iters| {
        std::hint::black_box(fma_loop(isa, std::hint::black_box(iters)));
    })
}

/// The harness behind every peak: `run(iters)` executes a register-only loop of `iters` iterations
/// of `ops_per_iter` operations each; the result is the best of six rounds, in G-operations per
/// second summed over `threads` threads running it at once (also the int8 peak, `qgemm::peak`).
pub fn measure_on(threads: usize, seconds: f64, ops_per_iter: f64, run: &(dyn Fn(usize) + Sync)) -> f64 {
    let threads = threads.max(1);
    // Calibrate on one thread: grow the iteration count until one run takes ~1/8 of the budget.
    let mut iters = 1 << 14;
    loop {
        let t = Instant::now();
        run(iters);
        if t.elapsed().as_secs_f64() > seconds / 8.0 || iters > 1 << 34 {
            break;
        }
        iters *= 2;
    }
    let mut best = 0.0f64;
    for _ in 0..6 {
        // Each thread reads the clock itself: the spawning thread may be descheduled right after
        // the barrier (it shares the cores), so its own clock would start late.
        let start = Barrier::new(threads);
        let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        let t = Instant::now();
                        run(iters);
                        (t, Instant::now())
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("the peak loop does not panic")).collect()
        });
        let first = spans.iter().map(|s| s.0).min().expect("at least one thread");
        let last = spans.iter().map(|s| s.1).max().expect("at least one thread");
        let elapsed = last - first;
        best = best.max(threads as f64 * iters as f64 * ops_per_iter / elapsed.as_secs_f64() / 1e9);
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

    #[test]
    fn two_threads_measure_a_finite_sum() {
        // Not a timing assertion (the machine is shared): the harness must return a real rate for
        // several threads, which a broken barrier or span computation would not.
        let two = peak_gflops_on(Isa::Scalar, 0.02, 2);
        assert!(two.is_finite() && two > 0.0, "two threads: {two}");
    }
}
