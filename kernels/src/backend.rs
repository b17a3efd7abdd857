//! Which implementation of each kernel runs: the scalar reference or the fast CPU kernels. This is
//! the single dispatch point fast kernels plug into; `KILN_KERNELS=reference` forces the oracle
//! (used by tests and by the kernel lab to compare versions).

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Scalar loops, the oracle.
    Reference,
    /// SIMD + rayon kernels where they exist, the reference elsewhere.
    Cpu,
}

const UNSET: u8 = 0;
static SELECTED: AtomicU8 = AtomicU8::new(UNSET);

fn encode(b: Backend) -> u8 {
    match b {
        Backend::Reference => 1,
        Backend::Cpu => 2,
    }
}

/// The active backend: set by [`set_backend`], else read once from `KILN_KERNELS`
/// (`reference` or `cpu`, default `cpu`).
///
/// Every kernel dispatch asks this, so it is also where a thread first applies the subnormal mode
/// ([`crate::denormals`]): whichever implementation runs, it runs with subnormals flushed (unless
/// the user opted out).
pub fn backend() -> Backend {
    crate::denormals::ensure_current_thread();
    match SELECTED.load(Ordering::Relaxed) {
        1 => Backend::Reference,
        2 => Backend::Cpu,
        _ => {
            let chosen = match std::env::var("KILN_KERNELS").as_deref() {
                Ok("reference") => Backend::Reference,
                _ => Backend::Cpu,
            };
            SELECTED.store(encode(chosen), Ordering::Relaxed);
            chosen
        }
    }
}

/// Selects the backend for the whole process.
pub fn set_backend(b: Backend) {
    SELECTED.store(encode(b), Ordering::Relaxed);
}
