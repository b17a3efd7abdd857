//! Backward of the fused LSTM recurrence: back-propagation through time is the kernel's
//! (`kiln_kernels::lstm::backward`), fed the op's output (the states) and the saved gates.

use super::{needs_grad, Grads};
use crate::var::Var;
use kiln_kernels::lstm::{self, Forward, Steps};
use kiln_tensor::{Result, Tensor};

pub(crate) fn lstm_sequence(
    proj: &Var,
    w_hh: &Var,
    steps: &Steps,
    gates: &Tensor,
    out: &Tensor,
    grad: &Tensor,
) -> Result<Grads> {
    if !needs_grad(proj) && !needs_grad(w_hh) {
        return Ok(vec![None, None]);
    }
    let fwd = Forward { states: out.clone(), gates: gates.clone() };
    let back = lstm::backward(grad, &fwd, w_hh.tensor(), steps)?;
    Ok(vec![needs_grad(proj).then_some(back.proj), needs_grad(w_hh).then_some(back.w_hh)])
}
