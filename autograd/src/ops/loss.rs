//! The fused, mean-reduced losses: cross-entropy over logits, binary cross-entropy on
//! probabilities or on logits, mean squared error, and distillation's KL. Each is one kernel forward and one kernel
//! backward, numerically stable, returning a scalar Var.
//! No backward math here: the rules are in `rules/loss.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::loss;
use kiln_tensor::{Result, Tensor};

/// Mean over rows of `-log_softmax(logits)[target]`; `logits [n, classes]`, `targets [n]` class
/// indices (i64 or u32).
pub fn cross_entropy(logits: &Var, targets: &Tensor) -> Result<Var> {
    let out = loss::cross_entropy(logits.tensor(), targets)?;
    Ok(Var::from_op(out, Op::CrossEntropy { logits: logits.clone(), targets: targets.clone() }))
}

/// Mean of `-(y ln p + (1 - y) ln(1 - p))` for probabilities `p` and targets `y` of one shape.
pub fn bce(p: &Var, y: &Var) -> Result<Var> {
    let out = loss::bce(p.tensor(), y.tensor())?;
    Ok(Var::from_op(out, Op::Bce { p: p.clone(), y: y.clone() }))
}

/// `bce(sigmoid(x), y)` computed from the logits `x` without forming the sigmoid (stable).
pub fn bce_with_logits(x: &Var, y: &Var) -> Result<Var> {
    let out = loss::bce_with_logits(x.tensor(), y.tensor())?;
    Ok(Var::from_op(out, Op::BceWithLogits { x: x.clone(), y: y.clone() }))
}

/// Mean of `(a - b)^2`.
pub fn mse(a: &Var, b: &Var) -> Result<Var> {
    let out = loss::mse(a.tensor(), b.tensor())?;
    Ok(Var::from_op(out, Op::Mse { a: a.clone(), b: b.clone() }))
}

/// Knowledge distillation's loss of student logits `s` against teacher logits `t` (`[N, C]`) at
/// `temperature`: `F.kl_div(log_softmax(s / T), softmax(t / T), reduction='batchmean') * T * T`
/// (summed over classes, averaged over the batch). The teacher usually enters as a constant;
/// when it requires a gradient it gets one.
pub fn distill_kl(s: &Var, t: &Var, temperature: f64) -> Result<Var> {
    let out = loss::distill_kl(s.tensor(), t.tensor(), temperature)?;
    Ok(Var::from_op(out, Op::DistillKl { student: s.clone(), teacher: t.clone(), temperature }))
}

impl Var {
    /// Same as [`cross_entropy`] with `self` as the logits.
    pub fn cross_entropy(&self, targets: &Tensor) -> Result<Var> {
        cross_entropy(self, targets)
    }
}
