//! Backward rules of softmax and log-softmax, from the saved output.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::softmax::softmax_backward;
use kiln_tensor::{Result, Tensor};

/// y = softmax(x)      =>  dx = y * (grad - sum(grad * y));
/// y = log_softmax(x)  =>  dx = grad - exp(y) * sum(grad), sums along `axis`.
pub(super) fn softmax(x: &Var, axis: usize, y: &Tensor, grad: &Tensor, log: bool) -> Result<Grads> {
    Ok(vec![when_needed(x, || softmax_backward(y, grad, axis as isize, log))?])
}
