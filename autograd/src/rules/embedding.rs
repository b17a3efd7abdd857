//! Backward rules of the embedding family: index_select, embedding and gather add the gradient
//! back at the indices read (repeats add; an embedding's padding row gets none).
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
