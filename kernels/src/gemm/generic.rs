//! The checked GEMM entry points, generic over the float type: [`gemm`] / [`gemm_with`] validate
//! the views (`view.rs`) and hand them to the type's [`Gemm`] implementation (f32: the
//! implementation [`GemmOptions`] selects, through `sgemm_unchecked`; f64: `matrixmultiply`'s
//! kernels, or the reference). [`product`] is the form the op families call: `A B` into a
//! row-major buffer, with a GEMM failure as a kiln error. Must not: add a second view type, or
//! reach a kernel without `check`.

use super::{check, reference_raw, sgemm_unchecked, GemmError, GemmImpl, GemmOptions, MatMut, MatRef};
use kiln_tensor::{Error, Float, Result};

/// A float type with a GEMM.
pub trait Gemm: Float {
    /// `C = alpha A B + beta C` on views.
    ///
    /// # Safety
    /// The views must have passed `check` for this `m`, `k`, `n` (every element inside its slice,
    /// C not overlapping itself); [`gemm_with`] is the checked way in.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_checked(
        opts: GemmOptions,
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: MatRef<Self>,
        b: MatRef<Self>,
        beta: Self,
        c: MatMut<Self>,
    );
}

impl Gemm for f32 {
    unsafe fn gemm_checked(
        opts: GemmOptions,
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: MatRef<f32>,
        b: MatRef<f32>,
        beta: f32,
        c: MatMut<f32>,
    ) {
        let (ap, bp, cp) = (a.data.as_ptr(), b.data.as_ptr(), c.data.as_mut_ptr());
        sgemm_unchecked(opts, m, k, n, alpha, ap, a.rs, a.cs, bp, b.rs, b.cs, beta, cp, c.rs, c.cs)
    }
}

impl Gemm for f64 {
    /// `matrixmultiply`'s f64 kernels under both `Kiln` and `MatrixMultiply` (f64 is for gradient
    /// checks, where accuracy matters more than speed); `Reference` is the naive loop.
    unsafe fn gemm_checked(
        opts: GemmOptions,
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: MatRef<f64>,
        b: MatRef<f64>,
        beta: f64,
        c: MatMut<f64>,
    ) {
        crate::denormals::ensure_current_thread();
        if m == 0 || n == 0 {
            return;
        }
        let (ap, bp, cp) = (a.data.as_ptr(), b.data.as_ptr(), c.data.as_mut_ptr());
        let (sa, sb, sc) = ((a.rs, a.cs), (b.rs, b.cs), (c.rs, c.cs));
        match opts.imp {
            GemmImpl::Kiln | GemmImpl::MatrixMultiply => {
                let s = |x: usize| x as isize;
                matrixmultiply::dgemm(
                    m,
                    k,
                    n,
                    alpha,
                    ap,
                    s(sa.0),
                    s(sa.1),
                    bp,
                    s(sb.0),
                    s(sb.1),
                    beta,
                    cp,
                    s(sc.0),
                    s(sc.1),
                );
            }
            GemmImpl::Reference => reference_raw(m, k, n, alpha, ap, sa, bp, sb, beta, cp, sc),
        }
    }
}

/// `C = alpha A B + beta C` with `A: m x k`, `B: k x n`, `C: m x n`, under
/// [`GemmOptions::default`]. `beta == 0` overwrites C without reading it.
///
/// ```
/// use kiln_kernels::gemm::{gemm, MatMut, MatRef};
/// let a = [1.0f32, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let mut c = [0.0; 4];
/// // C = A Aᵀ
/// gemm(2, 2, 2, 1.0, MatRef::row_major(&a, 2), MatRef::row_major(&a, 2).t(), 0.0, MatMut::row_major(&mut c, 2)).unwrap();
/// assert_eq!(c, [5.0, 11.0, 11.0, 25.0]);
/// ```
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Gemm>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: MatMut<T>,
) -> std::result::Result<(), GemmError> {
    gemm_with(GemmOptions::default(), m, k, n, alpha, a, b, beta, c)
}

/// [`gemm`] with explicit options (implementation, SIMD back end, threads; only `imp` matters
/// for f64).
#[allow(clippy::too_many_arguments)]
pub fn gemm_with<T: Gemm>(
    opts: GemmOptions,
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: MatRef<T>,
    b: MatRef<T>,
    beta: T,
    c: MatMut<T>,
) -> std::result::Result<(), GemmError> {
    check(m, k, n, &a, &b, &c)?;
    // SAFETY: `check` proved every view fits its slice and C does not overlap itself; C is a `&mut`
    // so it cannot alias A or B.
    unsafe { T::gemm_checked(opts, m, k, n, alpha, a, b, beta, c) };
    Ok(())
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
    gemm(m, k, n, T::ONE, a, b, beta, MatMut::row_major(c, n))
        .map_err(|e| Error::kernel_does_not_fit("gemm", e.to_string()))
}

/// The matrix of a strided view whose first element is `data[offset]`: the slice from there on
/// (empty when the offset is at or past the end, which only an empty matrix has).
pub fn view_at<T>(data: &[T], offset: usize, rs: usize, cs: usize) -> MatRef<'_, T> {
    MatRef::new(data.get(offset..).unwrap_or(&[]), rs, cs)
}
