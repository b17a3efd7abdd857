//! Fast CPU optimizer steps over flat contiguous slices: Adam/AdamW and SGD (momentum, Nesterov,
//! weight decay), each one fused pass over parameter, gradient and state, vectorised (AVX-512 /
//! AVX2 via `vectorized`) and split over rayon above [`PAR_MIN_OPTIM`]. Every expression is the
//! reference's, term for term, so results equal `reference.rs` bit for bit (no FMA contraction, IEEE
//! `sqrt` and division). Must not: reorder the update's arithmetic or skip PyTorch's conventions.

use super::{AdamParams, SgdParams};
use crate::simd::vectorized;
use kiln_tensor::Float;
use rayon::prelude::*;

/// Parameters below which a step stays on one thread. The step is memory bound (7 streams of 4
/// bytes per f32 parameter). Measured (`w1_op_timings`, release, 2-core box under load 5–6), one
/// thread vs two, in µs: 16k 10.8 / 10.4, 64k 81 / 101, 256k 194 / 277, 1M 684 / 1541, 4M 5336 /
/// 7750: two threads never won, the cores share the memory bandwidth. So only a tensor past 4M
/// parameters splits (for an idle box); W1's (131k–401k per weight) never do.
pub const PAR_MIN_OPTIM: usize = 1 << 22;

/// The chunk length (a multiple of 64, about four per thread) for splitting `n` parameters over
/// rayon, or `None` to stay on this thread.
fn chunk(n: usize) -> Option<usize> {
    let threads = rayon::current_num_threads();
    (n >= PAR_MIN_OPTIM && threads > 1).then(|| n.div_ceil(threads * 4).next_multiple_of(64))
}

#[derive(Clone, Copy)]
struct AdamConsts<T> {
    b1: T,
    b2: T,
    bc1: T,
    bc2_sqrt: T,
    lr: T,
    eps: T,
    wd: T,
}

#[inline(always)]
fn adam_loop<T: Float, const DECOUPLED: bool>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], c: AdamConsts<T>) {
    let AdamConsts { b1, b2, bc1, bc2_sqrt, lr, eps, wd } = c;
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let mut gi = g;
        if DECOUPLED {
            *p -= lr * wd * *p;
        } else {
            gi += wd * *p;
        }
        *m = b1 * *m + (T::ONE - b1) * gi;
        *v = b2 * *v + (T::ONE - b2) * gi * gi;
        *p -= lr / bc1 * *m / (v.sqrt() / bc2_sqrt + eps);
    }
}

/// One Adam/AdamW step (`step` counts from 1), as [`super::reference::adam_step`].
pub fn adam_step<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], hp: AdamParams, step: u64) {
    let n = p.len();
    assert!(g.len() == n && m.len() == n && v.len() == n, "adam_step: slices differ in length");
    let (b1, b2) = (T::from_f64(hp.beta1), T::from_f64(hp.beta2));
    let (bc1, bc2_sqrt) = hp.bias_corrections(step);
    let (bc1, bc2_sqrt) = (T::from_f64(bc1), T::from_f64(bc2_sqrt));
    let (lr, eps, wd) = (T::from_f64(hp.lr), T::from_f64(hp.eps), T::from_f64(hp.weight_decay));
    let c = AdamConsts { b1, b2, bc1, bc2_sqrt, lr, eps, wd };
    let kernel = |p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]| {
        // The branch on `decoupled` is taken once, outside the loop, so each loop vectorises.
        if hp.decoupled {
            vectorized(
                #[inline(always)]
                || adam_loop::<T, true>(p, g, m, v, c),
            )
        } else {
            vectorized(
                #[inline(always)]
                || adam_loop::<T, false>(p, g, m, v, c),
            )
        }
    };
    match chunk(n) {
        None => kernel(p, g, m, v),
        Some(c) => p
            .par_chunks_mut(c)
            .zip(g.par_chunks(c))
            .zip(m.par_chunks_mut(c))
            .zip(v.par_chunks_mut(c))
            .for_each(|(((p, g), m), v)| kernel(p, g, m, v)),
    }
}

#[inline(always)]
fn sgd_loop<T: Float, const MOMENTUM: bool, const FIRST: bool, const NESTEROV: bool>(
    p: &mut [T],
    g: &[T],
    vel: &mut [T],
    (lr, mu, damp, wd): (T, T, T, T),
) {
    for ((p, &g), vel) in p.iter_mut().zip(g).zip(vel.iter_mut()) {
        let mut d = g + wd * *p;
        if MOMENTUM {
            *vel = if FIRST { d } else { mu * *vel + (T::ONE - damp) * d };
            d = if NESTEROV { d + mu * *vel } else { *vel };
        }
        *p -= lr * d;
    }
}

/// One SGD step, as [`super::reference::sgd_step`]; `first` says `velocity` is not yet written.
pub fn sgd_step<T: Float>(p: &mut [T], g: &[T], velocity: &mut [T], hp: SgdParams, first: bool) {
    let n = p.len();
    assert!(g.len() == n && velocity.len() == n, "sgd_step: slices differ in length");
    let (lr, mu, damp, wd) =
        (T::from_f64(hp.lr), T::from_f64(hp.momentum), T::from_f64(hp.dampening), T::from_f64(hp.weight_decay));
    let c = (lr, mu, damp, wd);
    let kernel = |p: &mut [T], g: &[T], vel: &mut [T]| {
        // The three flags are matched once, outside the loop, so each loop vectorises.
        macro_rules! run {
            ($mom:literal, $first:literal, $nest:literal) => {
                vectorized(
                    #[inline(always)]
                    || sgd_loop::<T, $mom, $first, $nest>(p, g, vel, c),
                )
            };
        }
        match (hp.momentum != 0.0, first, hp.nesterov) {
            (false, _, _) => run!(false, false, false),
            (true, true, false) => run!(true, true, false),
            (true, true, true) => run!(true, true, true),
            (true, false, false) => run!(true, false, false),
            (true, false, true) => run!(true, false, true),
        }
    };
    match chunk(n) {
        None => kernel(p, g, velocity),
        Some(c) => p
            .par_chunks_mut(c)
            .zip(g.par_chunks(c))
            .zip(velocity.par_chunks_mut(c))
            .for_each(|((p, g), vel)| kernel(p, g, vel)),
    }
}
