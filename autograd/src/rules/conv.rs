//! Backward rule of conv2d: the input, weight and bias gradients.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::conv::{conv2d_backward_input, conv2d_backward_weight};
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
