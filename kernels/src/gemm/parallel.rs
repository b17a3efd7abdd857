//! Splitting one GEMM over rayon's threads: C is cut into whole-tile column blocks (or row blocks
//! when it has more tile rows than tile columns) and each thread runs the single-threaded packed GEMM
//! on its block, packing its own panels (no sharing, no synchronisation inside).
//!
//! Small problems stay on the calling thread: handing work to another thread costs microseconds
//! (tens if it has to be woken), more than a whole small GEMM. Each thread must get at least
//! [`MIN_FLOPS_PER_THREAD`] of work (2·m·n·k). How the hand-off is kept cheap: [`run_parts`].

use super::{driver, microkernel, RawMat, RawMatMut};
use crate::simd::Isa;
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Minimum work per thread, in FLOPs: ~10 µs at 100 GFLOP/s. Below that, the hand-off (a few µs
/// with a lingering helper) and the duplicated packing of the shared operand eat most of the gain.
pub(crate) const MIN_FLOPS_PER_THREAD: usize = 1 << 20;

/// How many threads a problem of this size gets, `threads == 0` meaning rayon's pool size.
pub(crate) fn threads_for(threads: usize, m: usize, k: usize, n: usize) -> usize {
    let pool = if threads == 0 { rayon::current_num_threads() } else { threads };
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    pool.min(flops / MIN_FLOPS_PER_THREAD).max(1)
}

/// `parts` near-equal ranges covering `0..len` in whole units of `unit` (the last may be partial).
fn ranges(len: usize, unit: usize, parts: usize) -> Vec<(usize, usize)> {
    let units = len.div_ceil(unit);
    let parts = parts.min(units).max(1);
    (0..parts)
        .map(|p| {
            let lo = (units * p / parts * unit).min(len);
            let hi = (units * (p + 1) / parts * unit).min(len);
            (lo, hi - lo)
        })
        .filter(|&(_, w)| w > 0)
        .collect()
}

/// `C = alpha A B + beta C` over up to `threads` threads (0 = rayon's pool), `m, k, n >= 1`.
///
/// # Safety
/// As for [`driver::gemm`].
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    isa: Isa,
    threads: usize,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: RawMat,
    b: RawMat,
    beta: f32,
    c: RawMatMut,
) {
    let t = threads_for(threads, m, k, n);
    if t <= 1 {
        return driver::gemm(isa, m, k, n, alpha, a, b, beta, c);
    }
    let kern = microkernel::select(isa, m);
    let split_n = n.div_ceil(kern.nr) >= m.div_ceil(kern.mr);
    let parts = if split_n { ranges(n, kern.nr, t) } else { ranges(m, kern.mr, t) };
    let run = move |(lo, len): (usize, usize)| {
        if split_n {
            driver::gemm(isa, m, k, len, alpha, a, b.at(0, lo), beta, c.at(0, lo))
        } else {
            driver::gemm(isa, len, k, n, alpha, a.at(lo, 0), b, beta, c.at(lo, 0))
        }
    };
    run_parts(&parts, run);
}

/// Runs `f` on every part, the first on the calling thread, and returns when all are done.
///
/// From inside a rayon pool this is a plain `in_place_scope` (its wait steals work, so a part that
/// no other thread picks up is run here). From any other thread (the usual case: the training loop's
/// main thread) the other parts are `rayon::spawn`ed and the caller spins on a counter rather than
/// sleeping on a lock, and each helper lingers (see [`linger`]). Measured on W1's 64x100x256 with
/// 2 threads and 100 µs of other work between calls: median 17 µs per call this way, 45–54 µs with
/// `in_place_scope` (futex wake-ups both ways), 31.6 µs on one thread. A helper that has gone to
/// sleep (more than `LINGER` since the last GEMM) still costs a wake-up: ~35–60 µs for that call.
fn run_parts<F>(parts: &[(usize, usize)], f: F)
where
    F: Fn((usize, usize)) + Copy + Send + 'static,
{
    if rayon::current_thread_index().is_some() {
        rayon::in_place_scope(|s| {
            for &p in &parts[1..] {
                s.spawn(move |_| f(p));
            }
            f(parts[0]);
        });
        return;
    }
    let pending = Arc::new(AtomicUsize::new(parts.len() - 1));
    for &p in &parts[1..] {
        let pending = Arc::clone(&pending);
        rayon::spawn(move || {
            f(p);
            pending.fetch_sub(1, Ordering::Release);
            linger();
        });
    }
    // Wait even if `f` unwinds: the spawned parts write through pointers into the caller's C.
    struct Wait(Arc<AtomicUsize>);
    impl Drop for Wait {
        fn drop(&mut self) {
            let mut spins = 0u32;
            while self.0.load(Ordering::Acquire) != 0 {
                if spins < 1 << 16 {
                    std::hint::spin_loop();
                    spins += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        }
    }
    let _wait = Wait(pending);
    f(parts[0]);
}

/// How long a helper thread keeps polling for rayon work after finishing a GEMM part.
const LINGER: Duration = Duration::from_micros(200);

/// Keeps this rayon worker busy-polling the pool for [`LINGER`] after its part, running whatever
/// arrives (typically the next GEMM's part a few µs later), instead of going to sleep and needing a
/// futex wake-up for the next call. The same trade as OpenMP's spin-wait (`KMP_BLOCKTIME`,
/// `GOMP_SPINCOUNT`): up to 200 µs of an otherwise idle core per GEMM for latency. Nested calls (a
/// part run from inside the polling loop) do not linger again; the outer loop restarts its clock.
fn linger() {
    thread_local!(static LINGERING: Cell<bool> = const { Cell::new(false) });
    if LINGERING.with(|l| l.replace(true)) {
        return;
    }
    let mut since = Instant::now();
    while since.elapsed() < LINGER {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => since = Instant::now(),
            _ => std::hint::spin_loop(),
        }
    }
    LINGERING.with(|l| l.set(false));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_in_whole_tiles() {
        assert_eq!(ranges(784, 32, 2), vec![(0, 384), (384, 400)]);
        assert_eq!(ranges(64, 8, 2), vec![(0, 32), (32, 32)]);
        assert_eq!(ranges(5, 8, 4), vec![(0, 5)]);
        assert_eq!(ranges(100, 32, 3), vec![(0, 32), (32, 32), (64, 36)]);
        assert_eq!(threads_for(2, 64, 256, 1), 1);
        assert_eq!(threads_for(2, 512, 512, 512), 2);
        assert_eq!(threads_for(1, 512, 512, 512), 1);
    }
}
