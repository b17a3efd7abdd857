//! Scalar reference reductions. The input layout arrives permuted so that the reduced axes are
//! last: its logical order is then a run of `group` elements per output element.

use kiln_tensor::{Float, Layout};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
}

/// `outputs` results of `group` elements each (an empty group gives sum 0, mean NaN).
pub fn reduce<T: Float>(op: ReduceOp, x: &[T], grouped: &Layout, outputs: usize, group: usize) -> Vec<T> {
    let mut idx = grouped.strided_index();
    (0..outputs)
        .map(|_| {
            let vals = (0..group).map(|_| x[idx.next().expect("group fits the layout")]);
            match op {
                ReduceOp::Sum => vals.fold(T::ZERO, |a, v| a + v),
                ReduceOp::Mean => vals.fold(T::ZERO, |a, v| a + v) / T::from_usize(group),
                // NaN propagates, as in PyTorch.
                ReduceOp::Max => vals.fold(T::NEG_INFINITY, |a, v| if v > a || v.is_nan() { v } else { a }),
                ReduceOp::Min => vals.fold(T::INFINITY, |a, v| if v < a || v.is_nan() { v } else { a }),
            }
        })
        .collect()
}

/// Index (within the group) of the largest (`max = true`) or smallest element; ties go to the
/// first occurrence.
pub fn arg_reduce<T: Float>(x: &[T], grouped: &Layout, outputs: usize, group: usize, max: bool) -> Vec<i64> {
    let mut idx = grouped.strided_index();
    (0..outputs)
        .map(|_| {
            let mut best = 0usize;
            let mut best_v = x[idx.next().expect("group fits the layout")];
            for k in 1..group {
                let v = x[idx.next().expect("group fits the layout")];
                if !best_v.is_nan() && (v.is_nan() || if max { v > best_v } else { v < best_v }) {
                    best = k;
                    best_v = v;
                }
            }
            best as i64
        })
        .collect()
}
