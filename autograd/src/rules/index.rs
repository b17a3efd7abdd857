//! Backward rules of indexing and joining: index_select and gather (add the gradient back at the
//! indices read), cat and stack (each input's slice of the gradient, as narrow views).
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::embedding::{embedding_backward, index_add, scatter_add};
use kiln_tensor::{Result, Tensor};

/// y = x.index_select(axis, idx)  =>  dx = zeros, then dx[idx[i]] += dy[i] along axis (repeats add).
pub(super) fn index_select(x: &Var, axis: usize, indices: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || index_add(x.shape(), axis as isize, indices, grad))?])
}

/// y = weight[ids]  =>  dweight = index_add of dy at ids, the padding row left zero.
pub(super) fn embedding(weight: &Var, ids: &Tensor, padding_idx: Option<usize>, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(weight, || embedding_backward(weight.shape(), ids, grad, padding_idx))?])
}

/// y = x.gather(axis, idx)  =>  dx = zeros, then dx[.., idx[..], ..] += dy (scatter_add).
pub(super) fn gather(x: &Var, axis: usize, index: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || scatter_add(x.shape(), axis as isize, index, grad))?])
}

/// y = cat(xs, axis)  =>  dxs[i] = dy narrowed to the rows xs[i] filled.
pub(super) fn cat(xs: &[Var], axis: usize, grad: &Tensor) -> Result<Grads> {
    let mut start = 0;
    xs.iter()
        .map(|x| {
            let len = x.dims()[axis];
            let g = when_needed(x, || grad.narrow(axis as isize, start, len));
            start += len;
            g
        })
        .collect()
}

/// y = stack(xs, axis)  =>  dxs[i] = dy at index i of the new axis (narrow + squeeze, a view).
pub(super) fn stack(xs: &[Var], axis: usize, grad: &Tensor) -> Result<Grads> {
    xs.iter()
        .enumerate()
        .map(|(i, x)| when_needed(x, || grad.narrow(axis as isize, i, 1)?.squeeze(axis as isize)))
        .collect()
}
