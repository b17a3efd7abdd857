//! Fast CPU reductions of a contiguous input: over its trailing axes (each output reads one
//! contiguous row: `sum(x, [-1])`, a full sum), over its leading axes (rows are accumulated into
//! the output vector: `sum([B, N], [0])`, the bias-gradient `sum_to`) and over both at once (the
//! conv bias gradient `sum([N, O, H, W], [0, 2, 3])`), over one run of middle axes (what a
//! transposed view's reduction becomes in storage order), plus argmax/argmin over the trailing axis.
//! Loops run inside `vectorized` and split over rayon above a measured size; other layouts return
//! `None` and the caller runs `reference.rs`.
//!
//! Exactness: leading- and middle-axis reductions, max/min and arg reductions equal the reference bit for bit
//! (same order of operations). Row sums (also those of the leading-and-trailing case) keep 16
//! partial sums (so they vectorise) and differ from the reference's one-by-one sum by rounding
//! only, well within `n * eps * sum|x|`. Must not: read a
//! layout other than the ones checked here, or change which element an arg reduction picks.

use super::ReduceOp;
use crate::cpu_common::{assume_init, build, PAR_MIN_CHEAP};
use crate::simd::vectorized;
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// Partial results kept side by side in row reductions (a multiple of every vector width).
const LANES: usize = 16;

/// `v` replaces the running max `a` if larger or NaN (NaN propagates, as in the reference).
#[inline(always)]
pub(super) fn pick_max<T: Float>(a: T, v: T) -> T {
    if v > a || v.is_nan() {
        v
    } else {
        a
    }
}

#[inline(always)]
pub(super) fn pick_min<T: Float>(a: T, v: T) -> T {
    if v < a || v.is_nan() {
        v
    } else {
        a
    }
}

/// Folds `x` with `f` from `init` in [`LANES`] interleaved partial results, combined pairwise,
/// then the tail in order. With fewer than `LANES` elements this is exactly the sequential fold.
#[inline(always)]
fn fold_lanes<T: Float>(x: &[T], init: T, f: impl Fn(T, T) -> T) -> T {
    let mut acc = [init; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = f(*a, v);
        }
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for j in 0..w {
            acc[j] = f(acc[j], acc[j + w]);
        }
    }
    tail.iter().fold(acc[0], |a, &v| f(a, v))
}

/// Sum of `x` in [`LANES`] partial sums (shared by softmax and the losses).
#[inline(always)]
pub(crate) fn sum<T: Float>(x: &[T]) -> T {
    fold_lanes(x, T::ZERO, |a, v| a + v)
}

/// The largest element of `x`, ignoring NaNs as `Float::max` does (the softmax / log-sum-exp shift).
#[inline(always)]
pub(crate) fn max_ignoring_nan<T: Float>(x: &[T]) -> T {
    fold_lanes(x, T::NEG_INFINITY, |a, v| a.max(v))
}

/// `sum x[i] y[i]` in [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn dot<T: Float>(x: &[T], y: &[T]) -> T {
    assert_eq!(x.len(), y.len());
    let mut acc = [T::ZERO; LANES];
    let (xc, yc) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let (xt, yt) = (xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for j in 0..LANES {
            acc[j] += a[j] * b[j];
        }
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for j in 0..w {
            acc[j] += acc[j + w];
        }
    }
    xt.iter().zip(yt).fold(acc[0], |a, (&p, &q)| a + p * q)
}

#[inline(always)]
pub(super) fn reduce_row<T: Float>(op: ReduceOp, row: &[T]) -> T {
    match op {
        ReduceOp::Sum => sum(row),
        ReduceOp::Mean => sum(row) / T::from_usize(row.len()),
        ReduceOp::Max => fold_lanes(row, T::NEG_INFINITY, pick_max),
        ReduceOp::Min => fold_lanes(row, T::INFINITY, pick_min),
    }
}

/// `outputs` reductions of `group` elements, when `grouped` (reduced axes last) is contiguous, i.e.
/// the reduced axes are the trailing ones of a contiguous input; else `None`.
pub fn reduce<T: Float>(op: ReduceOp, x: &[T], grouped: &Layout, outputs: usize, group: usize) -> Option<Vec<T>> {
    let x = &x[grouped.contiguous_range()?];
    let parallel = outputs * group >= PAR_MIN_CHEAP;
    Some(build(outputs, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, o) in out.iter_mut().enumerate() {
                    o.write(reduce_row(op, &x[(s + k) * group..][..group]));
                }
            },
        )
    }))
}

/// Reduction over the leading `axes` (`0..k`, sorted, `k < rank`) of a contiguous `x`: the output
/// has the trailing dims' `inner` elements and each input row of `inner` is folded into it, in the
/// reference's order. `None` for other axes or layouts.
pub fn reduce_leading<T: Float>(op: ReduceOp, x: &[T], xl: &Layout, axes: &[usize]) -> Option<Vec<T>> {
    let k = axes.len();
    if k == 0 || k >= xl.rank() || axes.iter().enumerate().any(|(i, &a)| i != a) {
        return None;
    }
    let x = &x[xl.contiguous_range()?];
    let (group, inner): (usize, usize) = (xl.dims()[..k].iter().product(), xl.dims()[k..].iter().product());
    let init = match op {
        ReduceOp::Sum | ReduceOp::Mean => T::ZERO,
        ReduceOp::Max => T::NEG_INFINITY,
        ReduceOp::Min => T::INFINITY,
    };
    let count = T::from_usize(group);
    // Split over columns: each chunk folds every row's slice of its columns.
    Some(build(inner, 64, group * inner >= PAR_MIN_CHEAP, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                out.fill(MaybeUninit::new(init));
                // SAFETY: every element was just written.
                let out = unsafe { assume_init(out) };
                let len = out.len();
                let rows = (0..group).map(|i| &x[i * inner + s..][..len]);
                match op {
                    ReduceOp::Sum | ReduceOp::Mean => {
                        rows.for_each(|r| out.iter_mut().zip(r).for_each(|(o, &v)| *o += v))
                    }
                    ReduceOp::Max => rows.for_each(|r| out.iter_mut().zip(r).for_each(|(o, &v)| *o = pick_max(*o, v))),
                    ReduceOp::Min => rows.for_each(|r| out.iter_mut().zip(r).for_each(|(o, &v)| *o = pick_min(*o, v))),
                }
                if op == ReduceOp::Mean {
                    out.iter_mut().for_each(|o| *o = *o / count);
                }
            },
        )
    }))
}

/// Reduction of a contiguous `x` over one run of middle axes `i..j` (`0 < i < j < rank`), seen as
/// `[outer, group, inner]`: each output column folds its `group` values one after the other, as
/// the reference does, so every result equals it. Columns go [`MIDDLE_LANES`] at a time with their
/// partial results held in registers over the whole group (a narrow `inner`, such as a transposed
/// view's 32, would otherwise reload and store the outputs once per row). `None` for other axis
/// sets or layouts.
pub fn reduce_middle<T: Float>(op: ReduceOp, x: &[T], xl: &Layout, axes: &[usize]) -> Option<Vec<T>> {
    let (dims, r) = (xl.dims(), xl.rank());
    let i = *axes.first()?;
    let j = i + axes.len();
    if i == 0 || j >= r || axes.iter().enumerate().any(|(k, &a)| a != i + k) {
        return None;
    }
    let x = &x[xl.contiguous_range()?];
    let (group, inner): (usize, usize) = (dims[i..j].iter().product(), dims[j..].iter().product());
    let outputs = dims[..i].iter().product::<usize>().checked_mul(inner)?;
    match op {
        ReduceOp::Sum => Some(fold_middle(x, outputs, group, inner, T::ZERO, |a, v| a + v)),
        ReduceOp::Mean => {
            let count = T::from_usize(group);
            let mut out = fold_middle(x, outputs, group, inner, T::ZERO, |a, v| a + v);
            out.iter_mut().for_each(|o| *o = *o / count);
            Some(out)
        }
        ReduceOp::Max => Some(fold_middle(x, outputs, group, inner, T::NEG_INFINITY, pick_max)),
        ReduceOp::Min => Some(fold_middle(x, outputs, group, inner, T::INFINITY, pick_min)),
    }
}

/// Output columns [`reduce_middle`] folds at once (four AVX-512 registers of f32).
const MIDDLE_LANES: usize = 64;

/// `out[a * inner + c] = fold over g of x[(a * group + g) * inner + c]`, in order of `g`.
#[inline(always)]
fn fold_middle<T: Float>(
    x: &[T],
    outputs: usize,
    group: usize,
    inner: usize,
    init: T,
    f: impl Fn(T, T) -> T + Sync,
) -> Vec<T> {
    let parallel = outputs * group >= PAR_MIN_CHEAP;
    build(outputs, inner, parallel, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, column) in out.chunks_mut(inner).enumerate() {
                    let block = &x[(s / inner + k) * group * inner..][..group * inner];
                    for c0 in (0..inner).step_by(MIDDLE_LANES) {
                        let w = MIDDLE_LANES.min(inner - c0);
                        let mut acc = [init; MIDDLE_LANES];
                        // Fixed widths keep the partial results in registers; others go by slice.
                        match w {
                            64 => fold_columns::<T, 64>(block, inner, c0, &mut acc, &f),
                            32 => fold_columns::<T, 32>(block, inner, c0, &mut acc, &f),
                            16 => fold_columns::<T, 16>(block, inner, c0, &mut acc, &f),
                            _ => {
                                for row in block[c0..].chunks(inner) {
                                    for (a, &v) in acc[..w].iter_mut().zip(&row[..w]) {
                                        *a = f(*a, v);
                                    }
                                }
                            }
                        }
                        for (o, &a) in column[c0..c0 + w].iter_mut().zip(&acc) {
                            o.write(a);
                        }
                    }
                }
            },
        )
    })
}

/// `acc[..W]` folds columns `c0..c0 + W` of every `inner`-long row of `block`, row after row.
#[inline(always)]
fn fold_columns<T: Float, const W: usize>(block: &[T], inner: usize, c0: usize, acc: &mut [T], f: &impl Fn(T, T) -> T) {
    let acc: &mut [T; W] = (&mut acc[..W]).try_into().expect("W partial results");
    for row in block[c0..].chunks(inner) {
        let row: &[T; W] = row[..W].try_into().expect("W columns");
        for (a, &v) in acc.iter_mut().zip(row) {
            *a = f(*a, v);
        }
    }
}

/// Index of the max (or min) within each contiguous group, as [`reduce`] lays them out; ties go to
/// the first, a NaN wins (and the first NaN stays). `None` unless `grouped` is contiguous.
pub fn arg_reduce<T: Float>(x: &[T], grouped: &Layout, outputs: usize, group: usize, max: bool) -> Option<Vec<i64>> {
    let x = &x[grouped.contiguous_range()?];
    let better = |v: T, best: T| if max { v > best } else { v < best };
    let parallel = outputs * group >= PAR_MIN_CHEAP;
    Some(build(outputs, 1, parallel, |s, out: &mut [MaybeUninit<i64>]| {
        for (k, o) in out.iter_mut().enumerate() {
            let row = &x[(s + k) * group..][..group];
            let (mut best, mut best_v) = (0usize, row[0]);
            for (j, &v) in row.iter().enumerate().skip(1) {
                if !best_v.is_nan() && (v.is_nan() || better(v, best_v)) {
                    best = j;
                    best_v = v;
                }
            }
            o.write(best as i64);
        }
    }))
}

/// Reduction of a contiguous `x` over its leading axes `0..a` and its trailing axes `b..rank` at
/// once (`1 <= a < b < rank`), keeping the middle ones: the conv bias gradient
/// `sum(grad [N, O, H, W], [0, 2, 3])`. Output `k` folds the contiguous rows `x[i, k, ..]` one after
/// the other, each in `LANES` partial results, so sums differ from the reference by rounding only
/// and max/min are exact. `None` for other axis sets or layouts.
pub fn reduce_outer_inner<T: Float>(op: ReduceOp, x: &[T], xl: &Layout, axes: &[usize]) -> Option<Vec<T>> {
    let (dims, r) = (xl.dims(), xl.rank());
    let a = (0..r).take_while(|d| axes.contains(d)).count();
    let b = r - (0..r).rev().take_while(|d| axes.contains(d)).count();
    if a == 0 || b <= a || b == r || a + (r - b) != axes.len() {
        return None;
    }
    let x = &x[xl.contiguous_range()?];
    let (outer, mid, inner): (usize, usize, usize) =
        (dims[..a].iter().product(), dims[a..b].iter().product(), dims[b..].iter().product());
    let row_op = if op == ReduceOp::Mean { ReduceOp::Sum } else { op };
    let init = match row_op {
        ReduceOp::Max => T::NEG_INFINITY,
        ReduceOp::Min => T::INFINITY,
        _ => T::ZERO,
    };
    let count = T::from_usize(outer * inner);
    Some(build(mid, 1, x.len() >= PAR_MIN_CHEAP, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, o) in out.iter_mut().enumerate() {
                    // A plain loop (not an iterator fold) so that it inlines into the AVX code.
                    let mut v = init;
                    for i in 0..outer {
                        let r = reduce_row(row_op, &x[(i * mid + s + k) * inner..][..inner]);
                        v = match row_op {
                            ReduceOp::Max => pick_max(v, r),
                            ReduceOp::Min => pick_min(v, r),
                            _ => v + r,
                        };
                    }
                    o.write(if op == ReduceOp::Mean { v / count } else { v });
                }
            },
        )
    }))
}
