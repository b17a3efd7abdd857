//! Which implementation of each kernel runs: the scalar reference or the fast CPU kernels. This is
//! the single dispatch point fast kernels plug into, and the one way to choose: process-wide by
//! `KILN_KERNELS=reference` or [`set_backend`], or for one call on this thread by [`with_backend`]
//! (how tests and the kernel lab compare versions of any family, or run a whole model on the
//! oracle, without touching what other threads run). Every family asks [`backend`] (through
//! [`try_fast`]) once per call, on the calling thread, before it splits work over rayon.

use std::cell::Cell;
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
    if let Some(b) = SCOPED.with(Cell::get) {
        return b;
    }
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

thread_local! {
    /// The backend [`with_backend`] chose for this thread, if any.
    static SCOPED: Cell<Option<Backend>> = const { Cell::new(None) };
}

/// Runs `f` with `b` as this thread's backend, whatever the process-wide one is, and restores the
/// previous choice afterwards (also when `f` panics). Nests. Kernels dispatched from inside `f` on
/// this thread see `b`; rayon workers they split into do not dispatch again.
///
/// ```
/// use kiln_kernels::{softmax::softmax, with_backend, Backend};
/// use kiln_tensor::Tensor;
/// let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [1, 3]).unwrap();
/// let oracle = with_backend(Backend::Reference, || softmax(&x, 1)).unwrap();
/// let fast = with_backend(Backend::Cpu, || softmax(&x, 1)).unwrap();
/// assert_eq!(oracle.dims(), fast.dims());
/// ```
pub fn with_backend<R>(b: Backend, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Backend>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|s| s.replace(Some(b))));
    f()
}

/// Selects the backend for the whole process (a [`with_backend`] scope still wins on its thread).
pub fn set_backend(b: Backend) {
    SELECTED.store(encode(b), Ordering::Relaxed);
}

/// `f()` when the fast CPU kernels are selected (`Backend::Cpu`), else `None` (run the reference).
pub(crate) fn try_fast<R>(f: impl FnOnce() -> Option<R>) -> Option<R> {
    if backend() == Backend::Cpu {
        f()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elementwise::{cpu, reference, unary, UnaryOp};
    use kiln_tensor::{Rng, Tensor};

    /// tanh in f32 is where the fast kernel and the oracle differ in the last bits, so a scope that
    /// did not reach the family's dispatch would be seen here.
    #[test]
    fn a_scope_picks_the_version_of_a_family_without_a_with_variant() {
        let mut rng = Rng::new(3);
        let v: Vec<f32> = (0..4099).map(|_| (rng.next_f64() * 8.0 - 4.0) as f32).collect();
        let x = Tensor::from_vec(v.clone(), [4099]).unwrap();
        let oracle = reference::unary(UnaryOp::Tanh, &v, x.layout());
        let fast = cpu::unary(UnaryOp::Tanh, &v, x.layout()).expect("contiguous f32 has a fast path");
        assert_ne!(oracle, fast, "the test needs versions that differ");
        let got = |b| with_backend(b, || unary(UnaryOp::Tanh, &x)).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(got(Backend::Reference), oracle);
        assert_eq!(got(Backend::Cpu), fast);
    }

    #[test]
    fn scopes_nest_and_restore_even_after_a_panic() {
        let outer = backend();
        with_backend(Backend::Reference, || {
            assert_eq!(backend(), Backend::Reference);
            with_backend(Backend::Cpu, || assert_eq!(backend(), Backend::Cpu));
            assert_eq!(backend(), Backend::Reference);
            let caught = std::panic::catch_unwind(|| with_backend(Backend::Cpu, || panic!("inside")));
            assert!(caught.is_err());
            assert_eq!(backend(), Backend::Reference);
        });
        assert_eq!(backend(), outer);
    }
}
