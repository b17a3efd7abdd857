//! Backward rules of elementwise ops: unary maps, broadcasting binary ops, where and masked_fill. Broadcast inputs get their gradient summed back to their own shape (`sum_to`).
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::elementwise::{self as ew, BinaryOp, UnaryOp};
use kiln_kernels::reduce::sum_to;
use kiln_tensor::{Result, Tensor};

/// dx = grad * f'(x), the derivative read from x or from the saved output y (`UnaryOp::derivative`).
pub(super) fn unary(op: UnaryOp, x: &Var, y: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || ew::unary_backward(op, x.tensor(), y, grad))?])
}

/// da = sum_to(grad * d(a op b)/da, shape a), db likewise (`BinaryOp::partials`). One kernel pass
/// gives both; an input that needs no gradient just skips the fold.
pub(super) fn binary(op: BinaryOp, a: &Var, b: &Var, grad: &Tensor) -> Result<Grads> {
    let (ga, gb) = ew::binary_backward(op, a.tensor(), b.tensor(), grad)?;
    Ok(vec![when_needed(a, || sum_to(&ga, a.shape()))?, when_needed(b, || sum_to(&gb, b.shape()))?])
}

/// out = cond ? a : b  =>  da = sum_to(cond ? grad : 0), db = sum_to(cond ? 0 : grad).
pub(super) fn where_cond(cond: &Tensor, a: &Var, b: &Var, grad: &Tensor) -> Result<Grads> {
    let zero = grad.scalar_like(0.0)?;
    Ok(vec![
        when_needed(a, || sum_to(&ew::where_cond(cond, grad, &zero)?, a.shape()))?,
        when_needed(b, || sum_to(&ew::where_cond(cond, &zero, grad)?, b.shape()))?,
    ])
}

/// out = mask ? value : x  =>  dx = mask ? 0 : grad.
pub(super) fn masked_fill(x: &Var, mask: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || ew::masked_fill(grad, mask, 0.0))?])
}
