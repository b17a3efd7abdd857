//! Backward rule of dropout: the gradient through the saved mask.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::elementwise::{binary, BinaryOp};
use kiln_tensor::{Result, Tensor};

/// out = x * mask  =>  dx = grad * mask.
pub(super) fn dropout(x: &Var, mask: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || binary(BinaryOp::Mul, grad, mask))?])
}
