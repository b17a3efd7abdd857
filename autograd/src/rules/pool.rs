//! Backward rule of max_pool2d: the gradient goes to each window's saved argmax.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::pool::max_pool2d_backward;
use kiln_tensor::{Result, Tensor};

/// y = max over each window of x  =>  dx[argmax of the window] += dy (overlapping windows add).
pub(super) fn max_pool2d(x: &Var, indices: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || max_pool2d_backward(grad, indices, x.shape()))?])
}
