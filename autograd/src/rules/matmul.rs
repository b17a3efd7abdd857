//! Backward rule of matmul, batched and broadcasting: the gradients are matmuls with transposed
//! operands, read as strided views (no transposed copies), summed over broadcast batch dims.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::matmul::matmul as mm;
use kiln_kernels::reduce::sum_to;
use kiln_tensor::{Result, Tensor};

/// C = A @ B  =>  dA = dC @ B^T,  dB = A^T @ dC.
pub(super) fn matmul(a: &Var, b: &Var, grad: &Tensor) -> Result<Grads> {
    Ok(vec![
        when_needed(a, || sum_to(&mm(grad, &b.tensor().t()?)?, a.shape()))?,
        when_needed(b, || sum_to(&mm(&a.tensor().t()?, grad)?, b.shape()))?,
    ])
}
