//! Backward rules of reductions: sum and mean (spread the gradient back over the reduced axes),
//! max and min (the gradient goes to the one saved argmax/argmin).
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::elementwise::{unary, UnaryOp};
use kiln_kernels::embedding::scatter_add;
use kiln_tensor::{Result, Shape, Tensor};

/// `x`'s shape with the reduced axes set to 1: the shape a keepdim reduction returns.
fn kept_shape(x: &Var, axes: &[usize]) -> Shape {
    x.dims().iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect::<Vec<_>>().into()
}

/// out = sum over axes of x  =>  dx = grad broadcast back over those axes (a stride-0 view).
pub(super) fn sum(x: &Var, axes: &[usize], _keepdim: bool, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || grad.reshape(kept_shape(x, axes))?.broadcast_to(x.shape()))?])
}

/// out = sum(x) / n  =>  dx = broadcast(grad / n), n the number of elements reduced together.
pub(super) fn mean(x: &Var, axes: &[usize], _keepdim: bool, grad: &Tensor) -> Result<Grads> {
    let n: usize = axes.iter().map(|&a| x.dims()[a]).product();
    Ok(vec![when_needed(x, || {
        let scaled = unary(UnaryOp::Affine { mul: 1.0 / n.max(1) as f64, add: 0.0 }, grad)?;
        scaled.reshape(kept_shape(x, axes))?.broadcast_to(x.shape())
    })?])
}

/// out = x[.., argmax, ..]  =>  dx is zero except dx[.., argmax, ..] = grad. Ties: the index saved
/// in forward is the first occurrence (like `torch.max(x, dim)`), so exactly one element of each
/// group receives the gradient; `maximum`/`minimum` instead split ties evenly.
pub(super) fn arg_extreme(x: &Var, axis: usize, _keepdim: bool, indices: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || {
        let g = grad.reshape(indices.shape())?;
        scatter_add(x.shape(), axis as isize, indices, &g)
    })?])
}
