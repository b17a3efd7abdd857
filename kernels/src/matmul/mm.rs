//! The GEMM call behind `matmul` and `conv2d`: one matrix product handed the operands' real row
//! and column strides, so that transposed, narrowed and broadcast views are read in place, never
//! copied. f32 goes through `crate::gemm`'s selector (kiln's packed GEMM by default;
//! `KILN_GEMM=matrixmultiply|reference` picks the baseline or the oracle); f64 (gradient checks)
//! uses `matrixmultiply::dgemm`. No other file of the op families calls a GEMM directly.

use super::batch_offsets;
use kiln_tensor::{Float, Layout};

/// A float type `matrixmultiply` has a kernel for.
pub trait Gemm: Float {
    /// `C <- alpha A B + beta C`; see `matrixmultiply::sgemm` for the contract.
    ///
    /// # Safety
    /// Every element addressed through the pointers and strides must lie inside its buffer, and
    /// `c`'s strides must not alias.
    #[allow(clippy::too_many_arguments)]
    unsafe fn raw_gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

impl Gemm for f32 {
    unsafe fn raw_gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f32,
        a: *const f32,
        rsa: isize,
        csa: isize,
        b: *const f32,
        rsb: isize,
        csb: isize,
        beta: f32,
        c: *mut f32,
        rsc: isize,
        csc: isize,
    ) {
        // Layout strides are never negative, so the casts are exact.
        let opts = crate::gemm::GemmOptions::default();
        let (rsa, csa, rsb, csb) = (rsa as usize, csa as usize, rsb as usize, csb as usize);
        crate::gemm::sgemm_unchecked(
            opts,
            m,
            k,
            n,
            alpha,
            a,
            rsa,
            csa,
            b,
            rsb,
            csb,
            beta,
            c,
            rsc as usize,
            csc as usize,
        )
    }
}

impl Gemm for f64 {
    unsafe fn raw_gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: f64,
        a: *const f64,
        rsa: isize,
        csa: isize,
        b: *const f64,
        rsb: isize,
        csb: isize,
        beta: f64,
        c: *mut f64,
        rsc: isize,
        csc: isize,
    ) {
        matrixmultiply::dgemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc)
    }
}

/// A read-only strided matrix inside a flat buffer: element (i, j) is `data[offset + i*rs + j*cs]`.
/// Strides may be zero (broadcast rows or columns).
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<T> MatRef<'_, T> {
    /// Panics unless every element of a `rows x cols` matrix lies inside `data`. Callers build
    /// these from layouts already checked against their storage, so this guards the unsafe call
    /// against a bug in kiln, not against user input.
    fn assert_in_bounds(&self, rows: usize, cols: usize) {
        if rows == 0 || cols == 0 {
            return;
        }
        let last = self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs;
        assert!(last < self.data.len(), "gemm operand reaches index {last} of a buffer of {}", self.data.len());
    }
}

/// `c = a @ b` (or `c += a @ b` when `accumulate`), with `a` m x k, `b` k x n and `c` an m x n
/// row-major buffer.
pub fn gemm<T: Gemm>(m: usize, k: usize, n: usize, a: MatRef<T>, b: MatRef<T>, c: &mut [T], accumulate: bool) {
    a.assert_in_bounds(m, k);
    b.assert_in_bounds(k, n);
    assert!(c.len() >= m * n, "gemm output of {} elements for {m} x {n}", c.len());
    let beta = if accumulate { T::ONE } else { T::ZERO };
    // SAFETY: both operands were bounds-checked above for their full extent, `c` holds m*n
    // elements written row-major with strides (n, 1), which never alias.
    unsafe {
        T::raw_gemm(
            m,
            k,
            n,
            T::ONE,
            a.data.as_ptr().add(a.offset.min(a.data.len())),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr().add(b.offset.min(b.data.len())),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        )
    }
}

/// Batched `a @ b` with both layouts already broadcast to `[batch.., m, k]` and `[batch.., k, n]`:
/// one GEMM per batch entry, written into a fresh row-major `[batch.., m, n]` buffer.
pub fn matmul<T: Gemm>(a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Vec<T> {
    let r = al.rank();
    let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
    let (ars, acs, brs, bcs) = (al.strides()[r - 2], al.strides()[r - 1], bl.strides()[r - 2], bl.strides()[r - 1]);
    let batch: usize = al.dims()[..r - 2].iter().product();
    let mut out = vec![T::ZERO; batch * m * n];
    if m * n == 0 {
        return out;
    }
    for ((oa, ob), c) in batch_offsets(al).zip(batch_offsets(bl)).zip(out.chunks_mut(m * n)) {
        let am = MatRef { data: a, offset: oa, rs: ars, cs: acs };
        let bm = MatRef { data: b, offset: ob, rs: brs, cs: bcs };
        gemm(m, k, n, am, bm, c, false);
    }
    out
}
