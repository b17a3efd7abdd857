//! The GEMM oracle: `C = alpha A B + beta C` as the obvious triple loop over strided views, in the
//! element type. Every faster GEMM is tested against this (run in f64 on widened inputs).

use kiln_tensor::Float;

/// Naive strided GEMM. `a[i*rsa + p*csa]` is `A[i, p]`, and so on; `beta == 0` overwrites `C`
/// without reading it (BLAS semantics: NaNs already in `C` do not survive).
#[allow(clippy::too_many_arguments)]
pub fn gemm<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: (&[T], usize, usize),
    b: (&[T], usize, usize),
    beta: T,
    c: (&mut [T], usize, usize),
) {
    let ((a, rsa, csa), (b, rsb, csb), (c, rsc, csc)) = (a, b, c);
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::ZERO;
            for p in 0..k {
                acc += a[i * rsa + p * csa] * b[p * rsb + j * csb];
            }
            let out = &mut c[i * rsc + j * csc];
            *out = if beta == T::ZERO { alpha * acc } else { alpha * acc + beta * *out };
        }
    }
}
