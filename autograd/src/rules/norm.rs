//! Backward rules of the fused norms: one kernel call gives `dx`, `dweight` and `dbias` together
//! (two passes over `x` and the gradient); inputs that need no gradient are dropped afterwards.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{needs_grad, Grads};
use crate::var::Var;
use kiln_kernels::norm;
use kiln_tensor::{Result, Tensor};

fn keep(vars: (&Var, &Var, &Var), grads: (Tensor, Tensor, Tensor)) -> Grads {
    vec![
        needs_grad(vars.0).then_some(grads.0),
        needs_grad(vars.1).then_some(grads.1),
        needs_grad(vars.2).then_some(grads.2),
    ]
}

/// y = (x - mean) invstd w + b per channel (then relu(y) with `relu`); in training the batch
/// statistics depend on x.
pub(super) fn batch_norm(
    vars: (&Var, &Var, &Var),
    stats: (&Tensor, &Tensor),
    (batch, relu): (bool, bool),
    grad: &Tensor,
) -> Result<Grads> {
    let (x, w, b) = vars;
    Ok(keep(vars, norm::batch_norm_backward(x.tensor(), stats, (w.tensor(), b.tensor()), grad, (batch, relu))?))
}

/// y = (x - mean) invstd w + b per row, the row statistics depending on x.
pub(super) fn layer_norm(vars: (&Var, &Var, &Var), stats: (&Tensor, &Tensor), grad: &Tensor) -> Result<Grads> {
    let (x, w, _) = vars;
    Ok(keep(vars, norm::layer_norm_backward(x.tensor(), stats, w.tensor(), grad)?))
}
