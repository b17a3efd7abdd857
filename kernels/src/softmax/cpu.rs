//! Fast CPU softmax / log-softmax and their backward maps over the last axis of contiguous tensors
//! (each row contiguous, output rows in the same place), rows split over rayon above a measured
//! size. f32 rows use the SIMD layer's exp (relative error ~1.5e-7) and vectorised partial sums;
//! f64 rows keep the reference's exp and sequential sum, so f64 softmax matches it exactly. A
//! middle axis of a contiguous input goes column-wise (`softmax_middle`: what a transposed view's
//! softmax becomes in storage order); other layouts return `None` and the caller runs
//! `reference.rs`. Must not: change the max-subtraction that keeps large logits safe.

use crate::cpu_common::{as_f32, as_f32_out, assume_init, build, PAR_MIN_CHEAP, PAR_MIN_COSTLY};
use crate::reduce::cpu::{dot, max_ignoring_nan, sum};
use crate::simd::{self, MapFn};
use crate::simd::{map_uninit, vectorized};
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

crate::simd_dispatch! {
    /// `y[i] = exp(x[i] - m)`, returning the sum of the `y[i]`.
    pub(crate) fn exp_shift_sum<S>(x: &[f32], m: f32, y: &mut [MaybeUninit<f32>]) -> f32 {
        assert_eq!(x.len(), y.len(), "exp_shift_sum: lengths differ");
        let (n, l) = (x.len(), S::LANES);
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr() as *mut f32);
        let (mv, mut acc) = (S::splat(m), S::zero());
        let mut i = 0;
        while i + l <= n {
            let e = S::exp(S::sub(S::loadu(xp.add(i)), mv));
            S::storeu(yp.add(i), e);
            acc = S::add(acc, e);
            i += l;
        }
        let mut total = S::hsum(acc);
        if i < n {
            S::store_tail(yp.add(i), S::exp(S::sub(S::load_tail(xp.add(i), n - i), mv)), n - i);
            // The unused lanes hold exp(-m): sum the stored tail instead.
            total += (i..n).map(|k| *yp.add(k)).sum::<f32>();
        }
        total
    }
}

/// One row of softmax (`log = false`) or log-softmax.
#[inline(always)]
fn row<T: Float>(x: &[T], out: &mut [MaybeUninit<T>], log: bool) {
    let m = max_ignoring_nan(x);
    let sum = match (as_f32(x), as_f32_out(out)) {
        (Some(xf), Some(of)) => T::from_f64(exp_shift_sum(simd::isa(), xf, m.to_f64() as f32, of) as f64),
        _ => {
            let mut sum = T::ZERO;
            for (o, &v) in out.iter_mut().zip(x) {
                let e = (v - m).exp();
                o.write(e);
                sum += e;
            }
            sum
        }
    };
    // SAFETY: both branches wrote every element of `out`.
    let out = unsafe { assume_init(out) };
    if log {
        let lse = sum.ln();
        out.iter_mut().zip(x).for_each(|(o, &v)| *o = v - m - lse);
    } else {
        out.iter_mut().for_each(|o| *o = *o / sum);
    }
}

/// Softmax / log-softmax rows of `n` when `xl` and `ol` (softmax axis permuted last) are both
/// contiguous, i.e. the axis is the last one of a contiguous input; else `None`.
pub fn softmax<T: Float>(x: &[T], xl: &Layout, ol: &Layout, n: usize, log: bool) -> Option<Vec<T>> {
    let x = &x[xl.contiguous_range()?];
    if !ol.is_contiguous() {
        return None;
    }
    let total = x.len();
    if total == 0 {
        return Some(Vec::new());
    }
    Some(build(total, n, total >= PAR_MIN_COSTLY, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, o) in out.chunks_mut(n).enumerate() {
                    row(&x[s + k * n..][..n], o, log);
                }
            },
        )
    }))
}

/// Softmax / log-softmax along the middle axis of a contiguous `x` seen as `[outer, n, inner]`
/// (softmax over dim 1 of `[N, C, L]`, or a transposed view's softmax in storage order), the
/// output in the same layout. Each `[n, inner]` block goes in passes over its rows of `inner`:
/// the column maxima, `x - max`, one exp over the whole block, the column sums, then the division
/// (log-softmax: `x - max - ln sum`). Maxima and sums run down each column in the reference's order, so f64 results
/// equal it; f32 takes the SIMD layer's exp.
pub fn softmax_middle<T: Float>(x: &[T], outer: usize, n: usize, inner: usize, log: bool) -> Vec<T> {
    let block = n * inner;
    let total = outer * block;
    assert_eq!(x.len(), total, "softmax_middle: x is not [outer, n, inner]");
    if total == 0 {
        return Vec::new();
    }
    build(total, block, total >= PAR_MIN_COSTLY, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                // One exp call per block (rows of a narrow `inner` would pay the call per row).
                let (mut max, mut sum, mut shifted) =
                    (vec![T::ZERO; inner], vec![T::ZERO; inner], vec![T::ZERO; block]);
                for (k, o) in out.chunks_mut(block).enumerate() {
                    let xb = &x[s + k * block..][..block];
                    max.fill(T::NEG_INFINITY);
                    for r in xb.chunks(inner) {
                        max.iter_mut().zip(r).for_each(|(m, &v)| *m = m.max(v));
                    }
                    for (d, r) in shifted.chunks_mut(inner).zip(xb.chunks(inner)) {
                        d.iter_mut().zip(r.iter().zip(&max)).for_each(|(d, (&v, &m))| *d = v - m);
                    }
                    match (as_f32(&shifted), as_f32_out(o)) {
                        (Some(d), Some(of)) => map_uninit(simd::isa(), MapFn::Exp, d, of),
                        _ => o.iter_mut().zip(&shifted).for_each(|(o, &d)| {
                            o.write(d.exp());
                        }),
                    }
                    // SAFETY: both branches wrote every element of the block.
                    let o = unsafe { assume_init(o) };
                    sum.fill(T::ZERO);
                    for r in o.chunks(inner) {
                        sum.iter_mut().zip(r).for_each(|(a, &e)| *a += e);
                    }
                    if log {
                        sum.iter_mut().for_each(|a| *a = a.ln());
                        for (r, o) in xb.chunks(inner).zip(o.chunks_mut(inner)) {
                            o.iter_mut()
                                .zip(r.iter().zip(max.iter().zip(&sum)))
                                .for_each(|(o, (&v, (&m, &l)))| *o = v - m - l);
                        }
                    } else {
                        for o in o.chunks_mut(inner) {
                            o.iter_mut().zip(&sum).for_each(|(o, &a)| *o = *o / a);
                        }
                    }
                }
            },
        )
    })
}

/// Softmax: `y * (g - sum(g y))`; log-softmax: `g - exp(y) sum(g)`, rows of `n` of contiguous
/// `y`, `g` with the axis last; else `None`. The row sums are vectorised partial sums, so results
/// differ from the reference by rounding only.
pub fn softmax_backward<T: Float>(
    y: (&[T], &Layout),
    g: (&[T], &Layout),
    ol: &Layout,
    n: usize,
    log: bool,
) -> Option<Vec<T>> {
    let (y, g) = (&y.0[y.1.contiguous_range()?], &g.0[g.1.contiguous_range()?]);
    if !ol.is_contiguous() {
        return None;
    }
    let total = y.len();
    assert_eq!(g.len(), total, "softmax_backward: y and grad differ in length");
    if total == 0 {
        return Some(Vec::new());
    }
    let parallel = total >= if log { PAR_MIN_COSTLY } else { PAR_MIN_CHEAP };
    Some(build(total, n, parallel, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, o) in out.chunks_mut(n).enumerate() {
                    let (yr, gr) = (&y[s + k * n..][..n], &g[s + k * n..][..n]);
                    if !log {
                        let d = dot(yr, gr);
                        o.iter_mut().zip(yr.iter().zip(gr)).for_each(|(o, (&yv, &gv))| {
                            o.write(yv * (gv - d));
                        });
                        continue;
                    }
                    let gsum = sum(gr);
                    match (as_f32(yr), as_f32_out(o)) {
                        (Some(yf), Some(of)) => map_uninit(simd::isa(), MapFn::Exp, yf, of),
                        _ => o.iter_mut().zip(yr).for_each(|(o, &yv)| {
                            o.write(yv.exp());
                        }),
                    }
                    // SAFETY: both branches wrote every element of `o`.
                    let o = unsafe { assume_init(o) };
                    o.iter_mut().zip(gr).for_each(|(o, &gv)| *o = gv - *o * gsum);
                }
            },
        )
    }))
}
