//! The GEMM call behind `matmul`: one matrix product per batch entry, handed the operands' real
//! row and column strides, so that transposed, narrowed and broadcast views are read in place,
//! never copied. The product itself is `crate::gemm::product` (f32 through the GEMM selector:
//! kiln's packed GEMM by default, `KILN_GEMM=matrixmultiply|reference` for the baseline or the
//! oracle; f64 through `matrixmultiply::dgemm`).

use super::batch_offsets;
use crate::gemm::{product, view_at, Gemm};
use kiln_tensor::{Layout, Result};

/// Batched `a @ b` with both layouts already broadcast to `[batch.., m, k]` and `[batch.., k, n]`:
/// one GEMM per batch entry, written into a fresh row-major `[batch.., m, n]` buffer.
pub fn matmul<T: Gemm>(a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Result<Vec<T>> {
    let r = al.rank();
    let (m, k, n) = (al.dims()[r - 2], al.dims()[r - 1], bl.dims()[r - 1]);
    let (ars, acs, brs, bcs) = (al.strides()[r - 2], al.strides()[r - 1], bl.strides()[r - 2], bl.strides()[r - 1]);
    let batch: usize = al.dims()[..r - 2].iter().product();
    let mut out = vec![T::ZERO; batch * m * n];
    if m * n == 0 {
        return Ok(out);
    }
    for ((oa, ob), c) in batch_offsets(al).zip(batch_offsets(bl)).zip(out.chunks_mut(m * n)) {
        product(m, k, n, view_at(a, oa, ars, acs), view_at(b, ob, brs, bcs), c, false)?;
    }
    Ok(out)
}
