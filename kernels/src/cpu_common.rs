//! What the fast CPU kernels of every family share: fresh output vectors filled chunk by chunk,
//! split over rayon only above measured sizes (`build`, `build2`, `assume_init`), the sizes
//! themselves (`PAR_MIN_*`), and the f32 views the SIMD-layer kernels take (`as_f32`,
//! `as_f32_out`). Choosing between these kernels and the reference is `crate::backend`'s job;
//! vector instructions are `crate::simd`'s. Must not: hold a kernel, or read the backend setting.

use kiln_tensor::{DType, Element};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Elements below which a cheap op (add, mul, relu, a backward map, a sum) stays on one thread.
/// Measured (`cpu_tests::w1_op_timings`, release) on the 2-core dev box while a training run kept it
/// loaded (load 5–6): relu on one thread vs split in two on a 2-thread pool, in µs: 16k 1.8 / 1.6,
/// 64k 12 / 6.5, 256k 48 / 43, 1M 195 / 226, 4M 2549 / 2726 (two runs agree in trend, not in
/// digits). Waking the second worker costs 5–50 µs there and the op is memory bound, so no size
/// gained reliably: split only from 2M elements (8 MB of f32, past L2, where an idle second core
/// adds bandwidth). W1's tensors (16k–100k) never split.
pub(crate) const PAR_MIN_CHEAP: usize = 1 << 21;
/// The same for transcendental ops (exp, tanh, sigmoid, log, pow, softmax rows). tanh, same setup:
/// 16k 15 / 12, 64k 48 / 79, 256k 287 / 288, 1M 1184 / 1328, 4M 3866 / 3705 µs: even only from
/// about 1M elements on the loaded box, so split from there.
pub(crate) const PAR_MIN_COSTLY: usize = 1 << 20;

/// Chunk length (a multiple of `unit`) for splitting `n` elements over rayon, or `None` to stay on
/// this thread. About four chunks per thread, so a busy core does not hold up the others.
fn chunk_len(n: usize, unit: usize, parallel: bool) -> Option<usize> {
    let threads = rayon::current_num_threads();
    if !parallel || threads < 2 || n < 2 * unit {
        return None;
    }
    Some((n / unit).div_ceil(threads * 4) * unit)
}

/// A fresh `Vec` of `n` elements, filled by `fill(start, chunk)` over chunks whose lengths are
/// multiples of `unit` (in parallel when `parallel`). `fill` must write every element of its chunk.
pub(crate) fn build<T: Send>(
    n: usize,
    unit: usize,
    parallel: bool,
    fill: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    let mut out = Vec::with_capacity(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    match chunk_len(n, unit.max(1), parallel) {
        None => fill(0, spare),
        Some(c) => spare.par_chunks_mut(c).enumerate().for_each(|(i, s)| fill(i * c, s)),
    }
    // SAFETY: every caller's `fill` writes each element of each chunk, and the chunks cover 0..n.
    unsafe { out.set_len(n) };
    out
}

/// Two fresh `Vec`s of `n` elements each (of possibly different types) filled together chunk by
/// chunk, as [`build`].
pub(crate) fn build2<A: Send, B: Send>(
    n: usize,
    unit: usize,
    parallel: bool,
    fill: impl Fn(usize, &mut [MaybeUninit<A>], &mut [MaybeUninit<B>]) + Sync,
) -> (Vec<A>, Vec<B>) {
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (sa, sb) = (&mut a.spare_capacity_mut()[..n], &mut b.spare_capacity_mut()[..n]);
    match chunk_len(n, unit.max(1), parallel) {
        None => fill(0, sa, sb),
        Some(c) => sa.par_chunks_mut(c).zip(sb.par_chunks_mut(c)).enumerate().for_each(|(i, (x, y))| fill(i * c, x, y)),
    }
    // SAFETY: as in `build`.
    unsafe {
        a.set_len(n);
        b.set_len(n);
    }
    (a, b)
}

/// `out` viewed as initialised.
///
/// # Safety
/// Every element of `out` must have been written.
pub(crate) unsafe fn assume_init<T>(out: &mut [MaybeUninit<T>]) -> &mut [T] {
    &mut *(out as *mut [MaybeUninit<T>] as *mut [T])
}

/// `x` as `&[f32]` when `T` is f32 (for the SIMD-layer kernels, which are f32 only).
pub(crate) fn as_f32<T: Element>(x: &[T]) -> Option<&[f32]> {
    // SAFETY: `T::DTYPE == F32` only for `T = f32`, so this is the identity cast.
    (T::DTYPE == DType::F32).then(|| unsafe { &*(x as *const [T] as *const [f32]) })
}

/// `out` as `&mut [MaybeUninit<f32>]` when `T` is f32.
pub(crate) fn as_f32_out<T: Element>(out: &mut [MaybeUninit<T>]) -> Option<&mut [MaybeUninit<f32>]> {
    // SAFETY: as in `as_f32`.
    (T::DTYPE == DType::F32).then(|| unsafe { &mut *(out as *mut [MaybeUninit<T>] as *mut [MaybeUninit<f32>]) })
}
