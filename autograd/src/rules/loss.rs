//! Backward rules of the fused losses. The kernels give the gradient w.r.t. the prediction; the
//! gradient w.r.t. a BCE target (rarely wanted, but `y` is a Var) is written out here from its
//! formula with elementwise kernels.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{needs_grad, when_needed, Grads};
use crate::var::Var;
use kiln_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln_kernels::loss;
use kiln_tensor::{Result, Tensor};

/// L = mean_i -log_softmax(z_i)[t_i]  =>  dz = (softmax(z) - onehot(t)) * dL / n.
pub(super) fn cross_entropy(logits: &Var, targets: &Tensor, grad: &Tensor) -> Result<Grads> {
    Ok(vec![when_needed(logits, || loss::cross_entropy_backward(logits.tensor(), targets, grad))?])
}

/// `grad * scale * t`, grad being the loss's scalar gradient.
fn scaled(t: &Tensor, scale: f64, grad: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Mul, &unary(UnaryOp::Affine { mul: scale, add: 0.0 }, t)?, grad)
}

/// L = mean -(y ln p + (1-y) ln(1-p))  =>  dp = (p - y) / (p (1 - p)) * dL / N,
/// dy = (ln(1-p) - ln p) * dL / N, each log clamped at -100 as the forward clamps it.
pub(super) fn bce(p: &Var, y: &Var, grad: &Tensor) -> Result<Grads> {
    let n = p.elem_count().max(1) as f64;
    Ok(vec![
        when_needed(p, || loss::bce_backward(p.tensor(), y.tensor(), grad))?,
        when_needed(y, || {
            let log_p = clamped_log(p.tensor())?;
            let log_1mp = clamped_log(&unary(UnaryOp::Affine { mul: -1.0, add: 1.0 }, p.tensor())?)?;
            scaled(&binary(BinaryOp::Sub, &log_1mp, &log_p)?, 1.0 / n, grad)
        })?,
    ])
}

/// `max(ln t, -100)`, PyTorch's floor for the logs of BCE.
fn clamped_log(t: &Tensor) -> Result<Tensor> {
    binary(BinaryOp::Maximum, &unary(UnaryOp::Log, t)?, &t.scalar_like(-100.0)?)
}

/// L = mean max(x,0) - x y + ln(1 + e^-|x|)  =>  dx = (sigmoid(x) - y) * dL / N,  dy = -x * dL / N.
pub(super) fn bce_with_logits(x: &Var, y: &Var, grad: &Tensor) -> Result<Grads> {
    let n = x.elem_count().max(1) as f64;
    Ok(vec![
        when_needed(x, || loss::bce_with_logits_backward(x.tensor(), y.tensor(), grad))?,
        when_needed(y, || scaled(x.tensor(), -1.0 / n, grad))?,
    ])
}

/// L = mean (a - b)^2  =>  da = 2 (a - b) * dL / N,  db = -da.
pub(super) fn mse(a: &Var, b: &Var, grad: &Tensor) -> Result<Grads> {
    let (ga, gb) = loss::mse_backward(a.tensor(), b.tensor(), grad)?;
    Ok(vec![needs_grad(a).then_some(ga), needs_grad(b).then_some(gb)])
}

/// Student and teacher gradients of distillation's KL (one fused kernel computes both).
pub(crate) fn distill_kl(student: &Var, teacher: &Var, temperature: f64, grad: &Tensor) -> Result<Grads> {
    let (gs, gt) = loss::distill_kl_backward(student.tensor(), teacher.tensor(), temperature, grad)?;
    Ok(vec![needs_grad(student).then_some(gs), needs_grad(teacher).then_some(gt)])
}
