//! Reductions of a strided input whose last dim is a contiguous run (a narrowed view: rows cut out
//! of wider ones, or a slice of a batch), over any axis set, read where the data lies instead of
//! gathered into a contiguous copy first (the copy cost a narrowed sum 2.7x a contiguous one).
//! Size-1 dims are dropped and neighbouring dims with the same role (kept or reduced) merged
//! where their strides allow, so a view whose rows span several dims still folds whole rows.
//!
//! Two shapes of work: the last dim reduced (each output folds its runs with the row kernel, 16
//! partial sums, so sums differ from the reference by rounding only), or the last dim kept (each
//! output run accumulates the matching input runs one after the other, the reference's order, so
//! every result equals it). Must not: take a layout whose last dim is not stride 1, or runs too
//! short to beat a gather (`MIN_RUN`); those return `None`.

use super::cpu::{pick_max, pick_min, reduce_row};
use super::ReduceOp;
use crate::cpu_common::{assume_init, build, PAR_MIN_CHEAP};
use crate::simd::vectorized;
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// Shortest last-dim run worth reading in place: below one AVX-512 vector of f32 the per-run
/// bookkeeping costs more than the contiguous copy it saves.
const MIN_RUN: usize = 16;

/// A dim after merging: its size and stride.
type Dim = (usize, usize);

/// The dims of `xl` in order with their role (reduced or kept), size-1 dims dropped and a dim
/// merged into its predecessor when both have the same role and the pair walks like one dim.
fn merged_dims(xl: &Layout, axes: &[usize]) -> Vec<(Dim, bool)> {
    let mut dims: Vec<(Dim, bool)> = Vec::with_capacity(xl.rank());
    for d in 0..xl.rank() {
        let (n, stride, reduced) = (xl.dims()[d], xl.strides()[d], axes.contains(&d));
        if n == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(((pn, ps), pr)) if *pr == reduced && *ps == stride * n => {
                *pn *= n;
                *ps = stride;
            }
            _ => dims.push(((n, stride), reduced)),
        }
    }
    dims
}

/// Offset of row-major index `flat` over `dims`.
fn offset_of(dims: &[Dim], mut flat: usize) -> usize {
    let mut at = 0;
    for &(n, stride) in dims.iter().rev() {
        at += flat % n * stride;
        flat /= n;
    }
    at
}

/// Reduction of `x` (layout `xl`, last dim stride 1 with at least `MIN_RUN` elements) over
/// `axes`; `None` for other layouts and for empty inputs.
pub fn reduce_runs<T: Float>(op: ReduceOp, x: &[T], xl: &Layout, axes: &[usize]) -> Option<Vec<T>> {
    if xl.elem_count() == 0 {
        return None;
    }
    let dims = merged_dims(xl, axes);
    let (&((run, 1), run_reduced), body) = dims.split_last()? else {
        return None;
    };
    if run < MIN_RUN {
        return None;
    }
    let kept: Vec<Dim> = body.iter().filter(|d| !d.1).map(|d| d.0).collect();
    let reduced: Vec<Dim> = body.iter().filter(|d| d.1).map(|d| d.0).collect();
    // Every reduced dim's combination of indices, in row-major order: at most one offset per run.
    let offsets: Vec<usize> = (0..reduced.iter().map(|d| d.0).product()).map(|i| offset_of(&reduced, i)).collect();
    let row_op = if op == ReduceOp::Mean { ReduceOp::Sum } else { op };
    let init = match row_op {
        ReduceOp::Max => T::NEG_INFINITY,
        ReduceOp::Min => T::INFINITY,
        _ => T::ZERO,
    };
    let count = T::from_usize(if run_reduced { offsets.len() * run } else { offsets.len() });
    let finish = |v: T| if op == ReduceOp::Mean { v / count } else { v };
    let kept_count: usize = kept.iter().map(|d| d.0).product();
    let parallel = xl.elem_count() >= PAR_MIN_CHEAP;
    let start = xl.offset();
    if run_reduced {
        return Some(build(kept_count, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
            vectorized(
                #[inline(always)]
                || {
                    for (k, o) in out.iter_mut().enumerate() {
                        let base = start + offset_of(&kept, s + k);
                        let mut v = init;
                        for &at in &offsets {
                            let r = reduce_row(row_op, &x[base + at..][..run]);
                            v = match row_op {
                                ReduceOp::Max => pick_max(v, r),
                                ReduceOp::Min => pick_min(v, r),
                                _ => v + r,
                            };
                        }
                        o.write(finish(v));
                    }
                },
            )
        }));
    }
    let outputs = kept_count.checked_mul(run)?;
    Some(build(outputs, run, parallel, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, row) in out.chunks_mut(run).enumerate() {
                    let base = start + offset_of(&kept, s / run + k);
                    row.fill(MaybeUninit::new(init));
                    // SAFETY: every element was just written.
                    let row = unsafe { assume_init(row) };
                    for &at in &offsets {
                        let src = &x[base + at..][..run];
                        match row_op {
                            ReduceOp::Max => row.iter_mut().zip(src).for_each(|(o, &v)| *o = pick_max(*o, v)),
                            ReduceOp::Min => row.iter_mut().zip(src).for_each(|(o, &v)| *o = pick_min(*o, v)),
                            _ => row.iter_mut().zip(src).for_each(|(o, &v)| *o += v),
                        }
                    }
                    row.iter_mut().for_each(|o| *o = finish(*o));
                }
            },
        )
    }))
}
