//! Backward rules, one file per op family, named as in `ops/` and kiln-kernels. `input_grads` maps an op, its output and the gradient
//! flowing into that output to one gradient per input (in `Op::inputs` order), `None` for inputs
//! that do not require one, which are skipped rather than computed. Rules call kernels only; they
//! run with recording off, so the gradients they return are plain tensors.
//!
//! A rule may return a view of `grad` (a narrow, a transpose) but must not return the same tensor
//! for two inputs: accumulation and the store rely on distinct buffers per input.

mod conv;
mod dropout;
mod elementwise;
mod embedding;
mod join;
mod loss;
mod lstm;
mod matmul;
mod norm;
mod pool;
mod reduce;
mod softmax;
mod view;

pub(crate) use crate::backward::needs_grad;
use crate::op::Op;
use crate::var::Var;
use kiln_tensor::{Result, Tensor};

pub(crate) type Grads = Vec<Option<Tensor>>;

pub(crate) fn input_grads(op: &Op, out: &Tensor, grad: &Tensor) -> Result<Grads> {
    match op {
        Op::Leaf => Ok(vec![]),
        Op::Unary { x, op } => elementwise::unary(*op, x, out, grad),
        Op::Binary { a, b, op } => elementwise::binary(*op, a, b, grad),
        Op::Where { cond, a, b } => elementwise::where_cond(cond, a, b, grad),
        Op::MaskedFill { x, mask, .. } => elementwise::masked_fill(x, mask, grad),
        Op::Dropout { x, mask, .. } => dropout::dropout(x, mask, grad),
        Op::Sum { x, axes, keepdim } => reduce::sum(x, axes, *keepdim, grad),
        Op::Mean { x, axes, keepdim } => reduce::mean(x, axes, *keepdim, grad),
        Op::Max { x, axis, keepdim, indices } | Op::Min { x, axis, keepdim, indices } => {
            reduce::arg_extreme(x, *axis, *keepdim, indices, grad)
        }
        Op::Softmax { x, axis } => softmax::softmax(x, *axis, out, grad, false),
        Op::LogSoftmax { x, axis } => softmax::softmax(x, *axis, out, grad, true),
        Op::Matmul { a, b } => matmul::matmul(a, b, grad),
        Op::Conv2d { x, w, bias, stride, padding } => conv::conv2d(x, w, bias.as_ref(), *stride, *padding, grad),
        Op::MaxPool2d { x, indices, .. } => pool::max_pool2d(x, indices, grad),
        Op::IndexSelect { x, axis, indices } => embedding::index_select(x, *axis, indices, grad),
        Op::Embedding { weight, ids, padding_idx } => embedding::embedding(weight, ids, *padding_idx, grad),
        Op::Gather { x, axis, index } => embedding::gather(x, *axis, index, grad),
        Op::Cat { xs, axis } => join::cat(xs, *axis, grad),
        Op::Stack { xs, axis } => join::stack(xs, *axis, grad),
        Op::Transpose { x, d0, d1 } => view::transpose(x, *d0, *d1, grad),
        Op::Permute { x, perm } => view::permute(x, perm, grad),
        Op::Narrow { x, axis, start, len } => view::narrow(x, *axis, *start, *len, grad),
        Op::Reshape { x, .. } => view::reshape(x, grad),
        Op::BroadcastTo { x, .. } => view::broadcast_to(x, grad),
        Op::Squeeze { x, axis } => view::squeeze(x, *axis, grad),
        Op::Unsqueeze { x, axis } => view::unsqueeze(x, *axis, grad),
        Op::Contiguous { x } => view::contiguous(x, grad),
        Op::LstmSequence { proj, w_hh, steps, gates } => lstm::lstm_sequence(proj, w_hh, steps, gates, out, grad),
        Op::BatchNorm { x, weight, bias, mean, invstd, batch, relu } => {
            norm::batch_norm((x, weight, bias), (mean, invstd), (*batch, *relu), grad)
        }
        Op::LayerNorm { x, weight, bias, mean, invstd } => norm::layer_norm((x, weight, bias), (mean, invstd), grad),
        Op::CrossEntropy { logits, targets } => loss::cross_entropy(logits, targets, grad),
        Op::Bce { p, y } => loss::bce(p, y, grad),
        Op::BceWithLogits { x, y } => loss::bce_with_logits(x, y, grad),
        Op::Mse { a, b } => loss::mse(a, b, grad),
        Op::DistillKl { student, teacher, temperature } => loss::distill_kl(student, teacher, *temperature, grad),
    }
}

/// `Some(f())` when the pass wants `v`'s gradient, `None` (and no work) otherwise.
pub(crate) fn when_needed(v: &Var, f: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
    if needs_grad(v) {
        f().map(Some)
    } else {
        Ok(None)
    }
}
