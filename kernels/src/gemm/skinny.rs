//! Degenerate shapes that the packed path handles badly, with their own loops (DESIGN §4: N = 1 and
//! K = 1 run at 2–20 GFLOP/s in every library measured here, and W1's output layer is exactly that):
//! - `n == 1` (and `m == 1`, transposed into it): a GEMV, as row dot products when A's rows are
//!   contiguous, or as a sum of scaled columns (axpy) when its columns are;
//! - `k == 1`: an outer product, one scaled copy of B's row per row of C.
//!
//! Packing would copy a whole operand to use each element once or twice, so these read in place.

use super::{RawMat, RawMatMut};
use crate::simd::{self, Isa};

/// A strided vector: element `i` at `ptr + i * stride`.
#[derive(Clone, Copy)]
pub(crate) struct RawVec {
    pub ptr: *const f32,
    pub stride: usize,
}

impl RawVec {
    /// The `len` elements as a slice, copied into `tmp` unless already contiguous.
    unsafe fn contiguous(self, len: usize, tmp: &mut Vec<f32>) -> &[f32] {
        if self.stride == 1 {
            return std::slice::from_raw_parts(self.ptr, len);
        }
        tmp.clear();
        tmp.extend((0..len).map(|i| *self.ptr.add(i * self.stride)));
        tmp
    }
}

/// `y = alpha * A x + beta * y` with A `m x k`; `y` has `m` elements at stride `y_stride`.
///
/// # Safety
/// The views must be valid for their extents and `y` must not overlap A or x.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemv(
    isa: Isa,
    m: usize,
    k: usize,
    alpha: f32,
    a: RawMat,
    x: RawVec,
    beta: f32,
    y: *mut f32,
    y_stride: usize,
) {
    let mut tmp = Vec::new();
    let store = |i: usize, v: f32| {
        let out = y.add(i * y_stride);
        *out = if beta == 0.0 { alpha * v } else { alpha * v + beta * *out };
    };
    if a.cs == 1 {
        // Rows contiguous: one dot product per row.
        let x = x.contiguous(k, &mut tmp);
        for i in 0..m {
            store(i, simd::dot_with(isa, std::slice::from_raw_parts(a.ptr.add(i * a.rs), k), x));
        }
    } else if a.rs == 1 {
        // Columns contiguous: acc = sum_p x[p] A[:, p], then scale into y.
        let mut acc = vec![0.0f32; m];
        for p in 0..k {
            let col = std::slice::from_raw_parts(a.ptr.add(p * a.cs), m);
            simd::axpy_with(isa, *x.ptr.add(p * x.stride), col, &mut acc);
        }
        for (i, v) in acc.into_iter().enumerate() {
            store(i, v);
        }
    } else {
        for i in 0..m {
            let mut s = 0.0;
            for p in 0..k {
                s += *a.ptr.add(i * a.rs + p * a.cs) * *x.ptr.add(p * x.stride);
            }
            store(i, s);
        }
    }
}

/// `C = alpha x yᵀ + beta C` with `x` of `m` and `y` of `n` elements (a GEMM with k = 1).
///
/// # Safety
/// The views must be valid for their extents and C must not overlap x or y.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn outer(isa: Isa, m: usize, n: usize, alpha: f32, x: RawVec, y: RawVec, beta: f32, c: RawMatMut) {
    if c.cs == 1 {
        let mut tmp = Vec::new();
        let y = y.contiguous(n, &mut tmp);
        for i in 0..m {
            let row = std::slice::from_raw_parts_mut(c.ptr.add(i * c.rs), n);
            simd::axpby_with(isa, alpha * *x.ptr.add(i * x.stride), y, beta, row);
        }
    } else {
        for i in 0..m {
            for j in 0..n {
                let out = c.ptr.add(i * c.rs + j * c.cs);
                let v = alpha * *x.ptr.add(i * x.stride) * *y.ptr.add(j * y.stride);
                *out = if beta == 0.0 { v } else { v + beta * *out };
            }
        }
    }
}
