//! The losses without a fused device kernel (BCE on probabilities, MSE, distillation's KL), written as compositions
//! of the elementwise and reduction ops, for tensors on a CUDA device. Each is the formula of
//! `reference.rs` term by term; the CPU keeps its fused loops. No kernel code here.

use crate::elementwise::{binary, unary, BinaryOp, UnaryOp};
use crate::reduce::{mean, sum};
use crate::softmax::log_softmax;
use kiln_tensor::{Result, Tensor};

fn affine(x: &Tensor, mul: f64, add: f64) -> Result<Tensor> {
    unary(UnaryOp::Affine { mul, add }, x)
}

/// `-mean(y max(ln p, -100) + (1 - y) max(ln(1 - p), -100))`.
pub fn bce(p: &Tensor, y: &Tensor) -> Result<Tensor> {
    let floor = p.scalar_like(-100.0)?;
    let log_p = binary(BinaryOp::Maximum, &unary(UnaryOp::Log, p)?, &floor)?;
    let log_q = binary(BinaryOp::Maximum, &unary(UnaryOp::Log, &affine(p, -1.0, 1.0)?)?, &floor)?;
    // y ln p + (1 - y) ln q = y (ln p - ln q) + ln q
    let per = binary(BinaryOp::Add, &binary(BinaryOp::Mul, y, &binary(BinaryOp::Sub, &log_p, &log_q)?)?, &log_q)?;
    affine(&mean(&per, &[], false)?, -1.0, 0.0)
}

/// `(p - y) / max(p (1 - p), 1e-12) * grad / N`.
pub fn bce_backward(p: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
    let var = binary(BinaryOp::Mul, p, &affine(p, -1.0, 1.0)?)?;
    let denom = binary(BinaryOp::Maximum, &var, &p.scalar_like(1e-12)?)?;
    let d = binary(BinaryOp::Div, &binary(BinaryOp::Sub, p, y)?, &denom)?;
    binary(BinaryOp::Mul, &affine(&d, 1.0 / p.elem_count().max(1) as f64, 0.0)?, grad)
}

/// `mean((a - b)^2)`.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let d = binary(BinaryOp::Sub, a, b)?;
    mean(&binary(BinaryOp::Mul, &d, &d)?, &[], false)
}

/// `(2 (a - b) grad / N, -2 (a - b) grad / N)`.
pub fn mse_backward(a: &Tensor, b: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    let d = affine(&binary(BinaryOp::Sub, a, b)?, 2.0 / a.elem_count().max(1) as f64, 0.0)?;
    let ga = binary(BinaryOp::Mul, &d, grad)?;
    Ok((ga.clone(), affine(&ga, -1.0, 0.0)?))
}

/// `(ln p_s, ln p_t)` of logits divided by the temperature, per row.
fn log_probs(s: &Tensor, t: &Tensor, temperature: f64) -> Result<(Tensor, Tensor)> {
    let inv = 1.0 / temperature;
    Ok((log_softmax(&affine(s, inv, 0.0)?, 1)?, log_softmax(&affine(t, inv, 0.0)?, 1)?))
}

/// `T^2 / N * sum(p_t (ln p_t - ln p_s))` (softmax never underflows to an exact 0 here except in
/// the far tail, where `p_t * finite` is 0 too).
pub fn distill_kl(s: &Tensor, t: &Tensor, temperature: f64) -> Result<Tensor> {
    let (ls, lt) = log_probs(s, t, temperature)?;
    let per = binary(BinaryOp::Mul, &unary(UnaryOp::Exp, &lt)?, &binary(BinaryOp::Sub, &lt, &ls)?)?;
    let n = s.dims()[0].max(1) as f64;
    affine(&sum(&per, &[], false)?, temperature * temperature / n, 0.0)
}

/// `(T / N (p_s - p_t) g, T / N p_t (a - rowsum(p_t a)) g)` with `a = ln p_t - ln p_s`.
pub fn distill_kl_backward(s: &Tensor, t: &Tensor, temperature: f64, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    let (ls, lt) = log_probs(s, t, temperature)?;
    let pt = unary(UnaryOp::Exp, &lt)?;
    let scale = |x: &Tensor| binary(BinaryOp::Mul, &affine(x, temperature / s.dims()[0].max(1) as f64, 0.0)?, grad);
    let gs = scale(&binary(BinaryOp::Sub, &unary(UnaryOp::Exp, &ls)?, &pt)?)?;
    let a = binary(BinaryOp::Sub, &lt, &ls)?;
    let kl = sum(&binary(BinaryOp::Mul, &pt, &a)?, &[1], true)?;
    let gt = scale(&binary(BinaryOp::Mul, &pt, &binary(BinaryOp::Sub, &a, &kl)?)?)?;
    Ok((gs, gt))
}
