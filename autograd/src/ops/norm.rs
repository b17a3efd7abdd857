//! The fused norms as recorded ops: BatchNorm2d (training with the batch's statistics, which are
//! returned so the module can update its running averages; evaluation with given running ones)
//! and LayerNorm over the last dim. One kernel pass for the statistics, one for the output.
//! No backward math here: the rules are in `rules/norm.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::elementwise::{unary, UnaryOp};
use kiln_kernels::norm::{self, NormStats};
use kiln_tensor::Result;

/// Which statistics BatchNorm normalises with.
pub enum BatchNormMode<'a> {
    /// This batch's own (training); they are returned.
    Batch,
    /// Running mean and (unbiased) variance, `[C]` each (evaluation).
    Running { mean: &'a kiln_tensor::Tensor, var: &'a kiln_tensor::Tensor },
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` per channel of `x [N, C, H, W]`; `weight` and
/// `bias` are `[C]`. Returns the batch statistics in [`BatchNormMode::Batch`].
pub fn batch_norm(
    x: &Var,
    weight: &Var,
    bias: &Var,
    mode: BatchNormMode,
    eps: f64,
) -> Result<(Var, Option<NormStats>)> {
    batch_norm_then(x, (weight, bias), mode, eps, false)
}

/// `relu(batch_norm(..))` as one op: the ReLU is applied in the normalising pass and its gate
/// recomputed in the backward passes, so the pre-activation is never written or read back (two
/// passes over the activation fewer than the two ops). Same results as the two ops.
pub fn batch_norm_relu(
    x: &Var,
    weight: &Var,
    bias: &Var,
    mode: BatchNormMode,
    eps: f64,
) -> Result<(Var, Option<NormStats>)> {
    batch_norm_then(x, (weight, bias), mode, eps, true)
}

fn batch_norm_then(
    x: &Var,
    (weight, bias): (&Var, &Var),
    mode: BatchNormMode,
    eps: f64,
    relu: bool,
) -> Result<(Var, Option<NormStats>)> {
    let c = weight.elem_count();
    let (mean, invstd, stats) = match mode {
        BatchNormMode::Batch => {
            let s = norm::batch_norm_stats(x.tensor(), c, eps)?;
            (s.mean.clone(), s.invstd.clone(), Some(s))
        }
        BatchNormMode::Running { mean, var } => {
            let invstd = unary(UnaryOp::PowScalar(-0.5), &unary(UnaryOp::Affine { mul: 1.0, add: eps }, var)?)?;
            (mean.clone(), invstd, None)
        }
    };
    let y = norm::batch_norm_apply(x.tensor(), (&mean, &invstd), (weight.tensor(), bias.tensor()), relu)?;
    let op = Op::BatchNorm {
        x: x.clone(),
        weight: weight.clone(),
        bias: bias.clone(),
        mean,
        invstd,
        batch: stats.is_some(),
        relu,
    };
    Ok((Var::from_op(y, op), stats))
}

/// `(x - mean) / sqrt(var + eps) * weight + bias` with the statistics of each row of `x`'s last
/// dim `D`; `weight` and `bias` are `[D]`.
pub fn layer_norm(x: &Var, weight: &Var, bias: &Var, eps: f64) -> Result<Var> {
    let s = norm::layer_norm_stats(x.tensor(), eps)?;
    let y = norm::layer_norm_apply(x.tensor(), &s.mean, &s.invstd, weight.tensor(), bias.tensor())?;
    let op = Op::LayerNorm { x: x.clone(), weight: weight.clone(), bias: bias.clone(), mean: s.mean, invstd: s.invstd };
    Ok(Var::from_op(y, op))
}
