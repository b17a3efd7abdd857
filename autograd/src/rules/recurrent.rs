//! Backward of the fused LSTM recurrence: back-propagation through time is the kernel's
//! (`kiln_kernels::lstm::backward`), fed the op's output (the states) and the saved gates.

use super::Grads;
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
    if !proj.requires_grad() && !w_hh.requires_grad() {
        return Ok(vec![None, None]);
    }
    let fwd = Forward { states: out.clone(), gates: gates.clone() };
    let back = lstm::backward(grad, &fwd, w_hh.tensor(), steps)?;
    Ok(vec![proj.requires_grad().then_some(back.proj), w_hh.requires_grad().then_some(back.w_hh)])
}
