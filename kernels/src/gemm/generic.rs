//! GEMM over either float type, for the op families that are generic over f32 and f64 (matmul,
//! conv's im2col path): the [`Gemm`] trait picks [`sgemm_with`] or [`dgemm_with`], and [`product`]
//! writes `A B` into a row-major buffer. Both take the same checked [`MatRef`] / [`MatMut`] views
//! as the rest of this module, so a view that does not fit its slice is an error value here too.
//! Must not: add a second view type or call a GEMM through raw pointers.

use super::{dgemm_with, sgemm_with, GemmError, GemmOptions, MatMut, MatRef};
use kiln_tensor::{Error, Float, Result};

/// A float type with a GEMM: f32 runs the implementation [`GemmOptions`] selects, f64 runs
/// `matrixmultiply`'s (or the reference) as [`dgemm_with`] documents.
pub trait Gemm: Float {
    /// `C = alpha A B + beta C`, checked as [`sgemm_with`].
    #[allow(clippy::too_many_arguments)]
    fn gemm_with(
        opts: GemmOptions,
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: MatRef<Self>,
        b: MatRef<Self>,
        beta: Self,
        c: MatMut<Self>,
    ) -> std::result::Result<(), GemmError>;
}

impl Gemm for f32 {
    fn gemm_with(
        opts: GemmOptions,
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: MatRef<f32>,
        b: MatRef<f32>,
        beta: f32,
        c: MatMut<f32>,
    ) -> std::result::Result<(), GemmError> {
        sgemm_with(opts, m, k, n, alpha, a, b, beta, c)
    }
}

impl Gemm for f64 {
    fn gemm_with(
        opts: GemmOptions,
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: MatRef<f64>,
        b: MatRef<f64>,
        beta: f64,
        c: MatMut<f64>,
    ) -> std::result::Result<(), GemmError> {
        dgemm_with(opts, m, k, n, alpha, a, b, beta, c)
    }
}

/// `c = a b`, or `c += a b` when `accumulate`, with `a` m x k, `b` k x n and `c` an m x n
/// row-major buffer, under the process-wide [`GemmOptions`]. The callers build their views from
/// layouts already checked against their storage, so an error here names a bug in kiln's layout
/// arithmetic; it is reported as [`Error::KernelDoesNotFit`] rather than a panic.
pub fn product<T: Gemm>(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<T>,
    b: MatRef<T>,
    c: &mut [T],
    accumulate: bool,
) -> Result<()> {
    let beta = if accumulate { T::ONE } else { T::ZERO };
    T::gemm_with(GemmOptions::default(), m, k, n, T::ONE, a, b, beta, MatMut::row_major(c, n))
        .map_err(|e| Error::kernel_does_not_fit("gemm", e.to_string()))
}

/// The matrix of a strided view whose first element is `data[offset]`: the slice from there on
/// (empty when the offset is at or past the end, which only an empty matrix has).
pub fn view_at<T>(data: &[T], offset: usize, rs: usize, cs: usize) -> MatRef<'_, T> {
    MatRef::new(data.get(offset..).unwrap_or(&[]), rs, cs)
}
