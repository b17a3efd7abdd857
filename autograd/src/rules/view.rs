//! Backward rules of views: each is the inverse view of the gradient (no copy), except narrow
//! (the gradient is placed into zeros with index_add) and broadcast_to (summed back, `sum_to`).
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::embedding::index_add;
use kiln_kernels::reduce::sum_to;
use kiln_tensor::{Result, Tensor};

/// y = x.transpose(d0, d1)  =>  dx = dy.transpose(d0, d1).
pub(super) fn transpose(x: &Var, d0: usize, d1: usize, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || grad.transpose(d0 as isize, d1 as isize))?])
}

/// y = x.permute(p)  =>  dx = dy.permute(p^-1), where p^-1[p[i]] = i.
pub(super) fn permute(x: &Var, perm: &[usize], grad: &Tensor) -> Result<Grads> {
    let mut inverse = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[p] = i;
    }
    Ok(vec![when_needed(x, || grad.permute(&inverse))?])
}

/// y = x.narrow(axis, start, len)  =>  dx = zeros with dx[start..start + len] = dy along axis.
/// Trade-off: index_add with the index range is one kernel call and a fresh buffer; a pad kernel
/// would save the index vector, which is tiny next to the data.
pub(super) fn narrow(x: &Var, axis: usize, start: usize, len: usize, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || {
        let rows: Vec<i64> = (start as i64..(start + len) as i64).collect();
        index_add(x.shape(), axis as isize, &Tensor::from_vec(rows, [len])?.to_device(grad.device())?, grad)
    })?])
}

/// y = x.reshape(s)  =>  dx = dy.reshape(shape of x).
pub(super) fn reshape(x: &Var, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || kiln_kernels::elementwise::reshape(grad, x.shape()))?])
}

/// y = x broadcast to s  =>  dx = dy summed over the broadcast axes.
pub(super) fn broadcast_to(x: &Var, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || sum_to(grad, x.shape()))?])
}

/// y = x.squeeze(axis)  =>  dx = dy.unsqueeze(axis).
pub(super) fn squeeze(x: &Var, axis: usize, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || grad.unsqueeze(axis as isize))?])
}

/// y = x.unsqueeze(axis)  =>  dx = dy.squeeze(axis).
pub(super) fn unsqueeze(x: &Var, axis: usize, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || grad.squeeze(axis as isize))?])
}

/// y = x.contiguous()  =>  dx = dy.
pub(super) fn contiguous(x: &Var, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || Ok(grad.clone()))?])
}
