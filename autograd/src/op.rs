//! The `Op` enum: one variant per differentiable op, holding its input Vars and whatever backward
//! needs that the inputs and the output do not already give (argmax indices, masks, axes). Data,
//! not closures, so a graph can be inspected, printed and walked. No math here: forwards live in
//! `ops/`, backward rules in `rules/`.
//!
//! The op's own output is handed to every backward rule, so no variant stores it again
//! (softmax, exp, sigmoid, tanh and sqrt read their derivative from it).

use crate::var::Var;
use kiln_kernels::elementwise::{BinaryOp, UnaryOp};
use kiln_kernels::lstm::Steps;
use kiln_tensor::{Shape, Tensor};

#[derive(Clone)]
pub enum Op {
    /// A leaf: a parameter, an input, or a constant (see [`Var::requires_grad`]).
    Leaf,

    // ---- elementwise ---------------------------------------------------------------------------
    /// neg exp log sqrt abs relu leaky_relu sigmoid tanh affine powf.
    Unary {
        x: Var,
        op: UnaryOp,
    },
    /// add sub mul div pow maximum minimum, with broadcasting.
    Binary {
        a: Var,
        b: Var,
        op: BinaryOp,
    },
    /// `cond ? a : b` with a u32 condition (no gradient) and broadcasting.
    Where {
        cond: Tensor,
        a: Var,
        b: Var,
    },
    /// `x` with `value` where `mask` (u32) is nonzero.
    MaskedFill {
        x: Var,
        mask: Tensor,
        value: f64,
    },
    /// `x * mask`, the mask holding 0 or 1/(1-p).
    Dropout {
        x: Var,
        mask: Tensor,
        p: f64,
    },

    // ---- reductions ----------------------------------------------------------------------------
    Sum {
        x: Var,
        axes: Vec<usize>,
        keepdim: bool,
    },
    Mean {
        x: Var,
        axes: Vec<usize>,
        keepdim: bool,
    },
    /// Max along `axis`; `indices` (i64, keepdim shape) is the first occurrence of the max.
    Max {
        x: Var,
        axis: usize,
        keepdim: bool,
        indices: Tensor,
    },
    /// Min along `axis`; `indices` (i64, keepdim shape) is the first occurrence of the min.
    Min {
        x: Var,
        axis: usize,
        keepdim: bool,
        indices: Tensor,
    },
    Softmax {
        x: Var,
        axis: usize,
    },
    LogSoftmax {
        x: Var,
        axis: usize,
    },

    // ---- linear algebra, convolution, pooling -------------------------------------------------
    Matmul {
        a: Var,
        b: Var,
    },
    Conv2d {
        x: Var,
        w: Var,
        bias: Option<Var>,
        stride: usize,
        padding: usize,
    },
    /// `indices` (i64) holds the flat `h * W + w` position of each window's max in its plane.
    MaxPool2d {
        x: Var,
        kernel: usize,
        stride: usize,
        indices: Tensor,
    },

    // ---- indexing and joining -----------------------------------------------------------------
    IndexSelect {
        x: Var,
        axis: usize,
        indices: Tensor,
    },
    /// `index_select(weight, 0, ids)` whose backward skips row `padding_idx`; `ids` is 1-D.
    Embedding {
        weight: Var,
        ids: Tensor,
        padding_idx: Option<usize>,
    },
    Gather {
        x: Var,
        axis: usize,
        index: Tensor,
    },
    Cat {
        xs: Vec<Var>,
        axis: usize,
    },
    Stack {
        xs: Vec<Var>,
        axis: usize,
    },

    // ---- views ---------------------------------------------------------------------------------
    Transpose {
        x: Var,
        d0: usize,
        d1: usize,
    },
    Permute {
        x: Var,
        perm: Vec<usize>,
    },
    Narrow {
        x: Var,
        axis: usize,
        start: usize,
        len: usize,
    },
    Reshape {
        x: Var,
        shape: Shape,
    },
    BroadcastTo {
        x: Var,
        shape: Shape,
    },
    Squeeze {
        x: Var,
        axis: usize,
    },
    Unsqueeze {
        x: Var,
        axis: usize,
    },
    Contiguous {
        x: Var,
    },

    // ---- recurrence ----------------------------------------------------------------------------
    /// One LSTM direction over a whole sequence; the output is the per-step states `[B, T, 2H]`
    /// and `gates` the activated gates the backward pass reads.
    LstmSequence {
        proj: Var,
        w_hh: Var,
        steps: Steps,
        gates: Tensor,
    },

    // ---- fused norms --------------------------------------------------------------------------
    /// BatchNorm2d of `x [N, C, H, W]` with per-channel `mean` and `invstd` (the batch's own in
    /// training, `batch`; the running ones in evaluation), followed by ReLU in the same op with
    /// `relu`.
    BatchNorm {
        x: Var,
        weight: Var,
        bias: Var,
        mean: Tensor,
        invstd: Tensor,
        batch: bool,
        relu: bool,
    },
    /// LayerNorm over the last dim of `x`, per-row `mean` and `invstd`.
    LayerNorm {
        x: Var,
        weight: Var,
        bias: Var,
        mean: Tensor,
        invstd: Tensor,
    },

    // ---- fused losses (mean-reduced scalars) --------------------------------------------------
    CrossEntropy {
        logits: Var,
        targets: Tensor,
    },
    Bce {
        p: Var,
        y: Var,
    },
    BceWithLogits {
        x: Var,
        y: Var,
    },
    Mse {
        a: Var,
        b: Var,
    },
    /// Knowledge distillation's KL of the temperature-softened teacher and student distributions.
    DistillKl {
        student: Var,
        teacher: Var,
        temperature: f64,
    },
}

impl Op {
    /// The op's name as the API spells it (used by DOT export and error messages).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Unary { op, .. } => op.name(),
            Op::Binary { op, .. } => op.name(),
            Op::Where { .. } => "where",
            Op::MaskedFill { .. } => "masked_fill",
            Op::Dropout { .. } => "dropout",
            Op::Sum { .. } => "sum",
            Op::Mean { .. } => "mean",
            Op::Max { .. } => "max",
            Op::Min { .. } => "min",
            Op::Softmax { .. } => "softmax",
            Op::LogSoftmax { .. } => "log_softmax",
            Op::Matmul { .. } => "matmul",
            Op::Conv2d { .. } => "conv2d",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::IndexSelect { .. } => "index_select",
            Op::Embedding { .. } => "embedding",
            Op::Gather { .. } => "gather",
            Op::Cat { .. } => "cat",
            Op::Stack { .. } => "stack",
            Op::Transpose { .. } => "transpose",
            Op::Permute { .. } => "permute",
            Op::Narrow { .. } => "narrow",
            Op::Reshape { .. } => "reshape",
            Op::BroadcastTo { .. } => "broadcast_to",
            Op::Squeeze { .. } => "squeeze",
            Op::Unsqueeze { .. } => "unsqueeze",
            Op::Contiguous { .. } => "contiguous",
            Op::LstmSequence { .. } => "lstm_sequence",
            Op::BatchNorm { relu: false, .. } => "batch_norm",
            Op::BatchNorm { relu: true, .. } => "batch_norm_relu",
            Op::LayerNorm { .. } => "layer_norm",
            Op::CrossEntropy { .. } => "cross_entropy",
            Op::Bce { .. } => "bce",
            Op::BceWithLogits { .. } => "bce_with_logits",
            Op::Mse { .. } => "mse",
            Op::DistillKl { .. } => "distill_kl",
        }
    }

    /// The input Vars, in the order backward rules return their gradients.
    pub fn inputs(&self) -> Vec<&Var> {
        match self {
            Op::Leaf => vec![],
            Op::Unary { x, .. }
            | Op::MaskedFill { x, .. }
            | Op::Dropout { x, .. }
            | Op::Sum { x, .. }
            | Op::Mean { x, .. }
            | Op::Max { x, .. }
            | Op::Min { x, .. }
            | Op::Softmax { x, .. }
            | Op::LogSoftmax { x, .. }
            | Op::MaxPool2d { x, .. }
            | Op::IndexSelect { x, .. }
            | Op::Gather { x, .. }
            | Op::Embedding { weight: x, .. }
            | Op::Transpose { x, .. }
            | Op::Permute { x, .. }
            | Op::Narrow { x, .. }
            | Op::Reshape { x, .. }
            | Op::BroadcastTo { x, .. }
            | Op::Squeeze { x, .. }
            | Op::Unsqueeze { x, .. }
            | Op::Contiguous { x }
            | Op::CrossEntropy { logits: x, .. } => vec![x],
            Op::Binary { a, b, .. } | Op::Where { a, b, .. } | Op::Matmul { a, b } | Op::Mse { a, b } => vec![a, b],
            Op::Bce { p, y } => vec![p, y],
            Op::LstmSequence { proj, w_hh, .. } => vec![proj, w_hh],
            Op::BceWithLogits { x, y } => vec![x, y],
            Op::DistillKl { student, teacher, .. } => vec![student, teacher],
            Op::BatchNorm { x, weight, bias, .. } | Op::LayerNorm { x, weight, bias, .. } => vec![x, weight, bias],
            Op::Conv2d { x, w, bias, .. } => [Some(x), Some(w), bias.as_ref()].into_iter().flatten().collect(),
            Op::Cat { xs, .. } | Op::Stack { xs, .. } => xs.iter().collect(),
        }
    }

    /// Moves the input Vars out (the iterative drop in `var.rs` uses it). Cloning the handles and
    /// then dropping `self` keeps one list of inputs per variant; the clones keep every input alive
    /// past that drop, so nothing is freed recursively here.
    pub(crate) fn into_inputs(self) -> Vec<Var> {
        self.inputs().into_iter().cloned().collect()
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.inputs().iter().map(|v| format!("#{}", v.id())).collect();
        write!(f, "{}({})", self.name(), ids.join(", "))
    }
}
