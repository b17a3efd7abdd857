//! The losses without a fused device kernel (BCE on probabilities, MSE), written as compositions
//! of the elementwise and reduction ops, for tensors on a CUDA device. Each is the formula of
//! `reference.rs` term by term; the CPU keeps its fused loops. No kernel code here.

use crate::elementwise::{binary, unary, BinaryOp, UnaryOp};
use crate::reduce::mean;
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
