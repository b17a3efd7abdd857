//! Matrix multiplication: `a [.., m, k] @ b [.., k, n]` with NumPy broadcasting of the batch dims.
//! Checks and dispatch live here; `reference.rs` is the naive oracle and `mm.rs` the GEMM call
//! (through `crate::gemm`, reading strided and broadcast views in place). No autograd here.

pub mod cuda;
mod mm;
pub mod reference;

use crate::{check, float_dispatch, Backend};
use kiln_tensor::{broadcast_shapes, Error, Layout, Result, Shape, StridedIndex, Tensor};

/// Storage offset of each matrix of a `[batch.., rows, cols]` layout, in batch row-major order
/// (one offset for a plain 2-D layout). Stride-0 batch dims simply repeat an offset.
pub(crate) fn batch_offsets(l: &Layout) -> StridedIndex {
    let r = l.rank();
    l.leading_dims(r - 2).strided_index()
}

/// The output shape and both operands' layouts broadcast to `[batch.., m, k]` / `[batch.., k, n]`.
fn plan(a: &Tensor, b: &Tensor) -> Result<(Shape, Layout, Layout)> {
    check::float_pair("matmul", a, b)?;
    let mismatch = || Error::ShapeMismatch { op: "matmul", lhs: a.shape().clone(), rhs: b.shape().clone() };
    if a.rank() < 2 || b.rank() < 2 {
        return Err(Error::invalid(
            "matmul",
            format!("both operands need rank >= 2, got {} and {}", a.shape(), b.shape()),
        ));
    }
    let (ad, bd) = (a.dims(), b.dims());
    let (m, k, k2, n) = (ad[ad.len() - 2], ad[ad.len() - 1], bd[bd.len() - 2], bd[bd.len() - 1]);
    if k != k2 {
        return Err(mismatch());
    }
    let batch = broadcast_shapes(&ad[..ad.len() - 2].into(), &bd[..bd.len() - 2].into(), "matmul")
        .map_err(|_| Error::BroadcastIncompatible { op: "matmul", lhs: a.shape().clone(), rhs: b.shape().clone() })?;
    let with = |x: usize, y: usize| -> Shape { batch.dims().iter().copied().chain([x, y]).collect::<Vec<_>>().into() };
    let al = a.layout().broadcast_as(&with(m, k))?;
    let bl = b.layout().broadcast_as(&with(k, n))?;
    Ok((with(m, n), al, bl))
}

/// `a @ b` on the active backend.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (shape, al, bl) = plan(a, b)?;
    if !a.device().is_cpu() {
        return crate::cuda::matmul::matmul_tensor(a, b, &shape, &al, &bl);
    }
    let backend = crate::backend();
    float_dispatch!(a.dtype(), "matmul", T => {
        let out = Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| match backend {
            Backend::Reference => Ok(reference::matmul(v[0].0, &al, v[1].0, &bl)),
            Backend::Cpu => mm::matmul(v[0].0, &al, v[1].0, &bl),
        })??;
        Tensor::from_vec(out, shape)
    })
}

#[cfg(test)]
mod tests;
