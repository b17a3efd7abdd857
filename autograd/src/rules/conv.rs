//! Backward rules of conv2d (input, weight, bias) and max_pool2d (the gradient goes to each
//! window's saved argmax).
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::conv::{conv2d_backward_input, conv2d_backward_weight};
use kiln_kernels::pool::max_pool2d_backward;
use kiln_kernels::reduce::sum;
use kiln_tensor::{Result, Tensor};

/// y = conv2d(x, w) + b  =>  dx = conv_transpose(dy, w),  dw = correlate(x, dy),
/// db = sum of dy over batch and both spatial axes.
pub(super) fn conv2d(
    x: &Var,
    w: &Var,
    bias: Option<&Var>,
    stride: usize,
    padding: usize,
    grad: &Tensor,
) -> Result<Grads> {
    let mut grads = vec![
        when_needed(x, || conv2d_backward_input(grad, w.tensor(), x.shape(), stride, padding))?,
        when_needed(w, || conv2d_backward_weight(x.tensor(), grad, w.shape(), stride, padding))?,
    ];
    if let Some(b) = bias {
        grads.push(when_needed(b, || sum(grad, &[0, 2, 3], false))?);
    }
    Ok(grads)
}

/// y = max over each window of x  =>  dx[argmax of the window] += dy (overlapping windows add).
pub(super) fn max_pool2d(x: &Var, indices: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(x, || max_pool2d_backward(grad, indices, x.shape()))?])
}
