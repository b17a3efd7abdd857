//! Splitting one GEMM over rayon's threads: C is cut into whole-tile column blocks (or row blocks
//! when it has more tile rows than tile columns) and each thread runs the single-threaded packed GEMM
//! on its block, packing its own panels (no sharing, no synchronisation inside).
//!
//! Small problems stay on the calling thread: handing work to another thread costs microseconds
//! (tens if it has to be woken), more than a whole small GEMM. Each thread must get at least
//! [`MIN_FLOPS_PER_THREAD`] of work (2·m·n·k). How the hand-off is kept cheap: [`run_parts`].

use super::{driver, microkernel, Problem};
use crate::simd::Isa;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
pub(crate) unsafe fn gemm(isa: Isa, threads: usize, p: Problem) {
    let t = threads_for(threads, p.m, p.k, p.n);
    if t <= 1 {
        return driver::gemm(isa, p);
    }
    let kern = microkernel::select(isa, p.m);
    let split_n = p.n.div_ceil(kern.nr) >= p.m.div_ceil(kern.mr);
    let parts = if split_n { ranges(p.n, kern.nr, t) } else { ranges(p.m, kern.mr, t) };
    let run = move |(lo, len): (usize, usize)| {
        let part = if split_n { p.cols(lo, len) } else { p.rows(lo, len) };
        driver::gemm(isa, part)
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
///
/// Under load (another process on the core a helper needs) a spawned part may not start for
/// milliseconds. So every part is claimed before it runs, and the caller, once its own part is
/// done, claims and runs whatever no helper has started: it then waits only for parts already
/// running, never for a helper still to be scheduled.
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
    let shared = Arc::new(Handoff::new(parts.len() - 1));
    for (i, &p) in parts[1..].iter().enumerate() {
        let shared = Arc::clone(&shared);
        rayon::spawn(move || {
            shared.run_if_unclaimed(i, || f(p));
            linger();
        });
    }
    // Runs even if `f` unwinds: the helpers write through pointers into the caller's C, so the
    // caller must not return while one is running.
    struct Finish<'a, F: Fn((usize, usize))>(&'a Handoff, &'a [(usize, usize)], F);
    impl<F: Fn((usize, usize))> Drop for Finish<'_, F> {
        fn drop(&mut self) {
            let (shared, parts, f) = (self.0, self.1, &self.2);
            let unwinding = std::thread::panicking();
            for (i, &p) in parts[1..].iter().enumerate() {
                // While unwinding, only keep helpers from starting: running more of C is pointless.
                shared.run_if_unclaimed(i, || {
                    if !unwinding {
                        f(p)
                    }
                });
            }
            shared.wait_for_running();
        }
    }
    let _finish = Finish(&shared, parts, f);
    f(parts[0]);
}

/// The hand-off state of one parallel GEMM: which helper parts have been claimed, and how many
/// threads are inside a claim attempt or a part.
struct Handoff {
    claimed: Vec<AtomicBool>,
    running: AtomicUsize,
}

impl Handoff {
    fn new(parts: usize) -> Handoff {
        Handoff { claimed: (0..parts).map(|_| AtomicBool::new(false)).collect(), running: AtomicUsize::new(0) }
    }

    /// Runs `part` unless someone claimed part `i` first. `running` is raised before the claim
    /// (both SeqCst): a caller that claimed everything and then sees `running == 0` knows that no
    /// thread can still start a part.
    fn run_if_unclaimed(&self, i: usize, part: impl FnOnce()) {
        self.running.fetch_add(1, Ordering::SeqCst);
        if !self.claimed[i].swap(true, Ordering::SeqCst) {
            part();
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// Spins (then yields) until no other thread is in a part or a claim attempt.
    fn wait_for_running(&self) {
        let mut spins = 0u32;
        while self.running.load(Ordering::SeqCst) != 0 {
            if spins < 1 << 16 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
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

    /// Every rayon worker is kept busy, so no spawned part can start: the caller must run them all
    /// itself, each exactly once, instead of waiting (the old hand-off waited here for good).
    #[test]
    fn a_helper_that_never_starts_does_not_stall_the_caller() {
        use std::sync::atomic::AtomicBool;
        static HITS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
        let workers = rayon::current_num_threads();
        let (started, release) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        for _ in 0..workers {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            rayon::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
        }
        while started.load(Ordering::SeqCst) < workers {
            std::thread::sleep(Duration::from_millis(1));
        }
        run_parts(&[(0, 1), (1, 1), (2, 1)], |(i, _)| {
            HITS[i].fetch_add(1, Ordering::SeqCst);
        });
        release.store(true, Ordering::SeqCst);
        let hits: Vec<usize> = HITS.iter().map(|h| h.load(Ordering::SeqCst)).collect();
        assert_eq!(hits, [1, 1, 1]);
    }

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
