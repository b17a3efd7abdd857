//! Scalar reference matrix product: the naive triple loop every GEMM in kiln is tested against.
//! Layouts arrive broadcast to `[batch.., m, k]` and `[batch.., k, n]`; elements are addressed
//! through their strides directly. Keep it obvious; speed is not its job.

use super::batch_offsets;
use kiln_tensor::{Float, Layout};

pub fn matmul<T: Float>(a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Vec<T> {
    let r = al.rank();
    let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
    let (ars, acs, brs, bcs) = (al.strides()[r - 2], al.strides()[r - 1], bl.strides()[r - 2], bl.strides()[r - 1]);
    let batch: usize = al.dims()[..r - 2].iter().product();
    let mut out = Vec::with_capacity(batch * m * n);
    for (oa, ob) in batch_offsets(al).zip(batch_offsets(bl)) {
        for i in 0..m {
            for j in 0..n {
                let mut acc = T::ZERO;
                for p in 0..k {
                    acc += a[oa + i * ars + p * acs] * b[ob + p * brs + j * bcs];
                }
                out.push(acc);
            }
        }
    }
    out
}
