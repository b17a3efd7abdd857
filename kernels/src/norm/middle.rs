//! LayerNorm over a middle axis of a contiguous input seen as `[outer, d, inner]`: what a
//! transposed view's LayerNorm (over its logical last dim, strided in memory) becomes in storage
//! order, so the view is read in place instead of copied twice (statistics, then apply). The
//! statistics of output `(a, c)` run down column `c` of block `a`, all `inner` columns side by
//! side: sums of `x - shift` and their squares with the shift each column's first value (as the
//! row kernels shift by a row's first element), `T` partial sums over [`ROWS_PER_FLUSH`] rows
//! then added in f64. Results differ from the reference by rounding only. Must not: read a
//! layout other than contiguous `[outer, d, inner]`.

use super::cpu::{finish, PAR_MIN_NORM};
use super::reference::Stats;
use crate::cpu_common::build;
use crate::simd::vectorized;
use kiln_tensor::Float;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Rows summed in `T` before the column sums move into f64 (the row kernels' 16 partial sums
/// play the same part): bounds the f32 rounding error while the inner loop stays in `T`.
const ROWS_PER_FLUSH: usize = 64;

/// Statistics over the middle axis: `outer * inner` groups of `d`, in `[outer, inner]` order.
pub fn layer_stats_middle<T: Float>(x: &[T], (outer, d, inner): (usize, usize, usize), eps: f64) -> Stats<T> {
    assert_eq!(x.len(), outer * d * inner, "layer_stats_middle: x is not [outer, d, inner]");
    assert!(d > 0 && inner > 0, "layer_stats_middle: empty groups");
    let block_sums = |a: usize| -> Vec<(f64, f64, f64)> {
        let xb = &x[a * d * inner..][..d * inner];
        let shift = &xb[..inner];
        let (mut s1, mut s2) = (vec![0.0f64; inner], vec![0.0f64; inner]);
        let (mut p1, mut p2) = (vec![T::ZERO; inner], vec![T::ZERO; inner]);
        vectorized(
            #[inline(always)]
            || {
                for rows in xb.chunks(ROWS_PER_FLUSH * inner) {
                    p1.fill(T::ZERO);
                    p2.fill(T::ZERO);
                    for r in rows.chunks(inner) {
                        for (((a1, a2), &v), &s) in p1.iter_mut().zip(p2.iter_mut()).zip(r).zip(shift) {
                            let u = v - s;
                            *a1 += u;
                            *a2 += u * u;
                        }
                    }
                    for (t, &p) in s1.iter_mut().zip(&p1) {
                        *t += p.to_f64();
                    }
                    for (t, &p) in s2.iter_mut().zip(&p2) {
                        *t += p.to_f64();
                    }
                }
            },
        );
        (0..inner).map(|c| (shift[c].to_f64(), s1[c], s2[c])).collect()
    };
    let sums: Vec<(f64, f64, f64)> = if x.len() >= PAR_MIN_NORM {
        (0..outer).into_par_iter().flat_map_iter(block_sums).collect()
    } else {
        (0..outer).flat_map(block_sums).collect()
    };
    finish(sums, d, eps)
}

/// `(x[a, j, c] - mean[a, c]) * invstd[a, c] * w[j] + b[j]`, the output in x's layout.
pub fn layer_apply_middle<T: Float>(
    x: &[T],
    (outer, d, inner): (usize, usize, usize),
    mean: &[T],
    invstd: &[T],
    w: &[T],
    b: &[T],
) -> Vec<T> {
    let block = d * inner;
    assert_eq!(x.len(), outer * block, "layer_apply_middle: x is not [outer, d, inner]");
    assert!(d > 0 && inner > 0, "layer_apply_middle: empty groups");
    build(x.len(), block, x.len() >= PAR_MIN_NORM, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, o) in out.chunks_mut(block).enumerate() {
                    let a = s / block + k;
                    let (mu, is) = (&mean[a * inner..][..inner], &invstd[a * inner..][..inner]);
                    let xb = &x[a * block..][..block];
                    for (j, (o, r)) in o.chunks_mut(inner).zip(xb.chunks(inner)).enumerate() {
                        let (wj, bj) = (w[j], b[j]);
                        for (((o, &v), &m), &i) in o.iter_mut().zip(r).zip(mu).zip(is) {
                            o.write((v - m) * i * wj + bj);
                        }
                    }
                }
            },
        )
    })
}
