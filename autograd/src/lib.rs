//! kiln-autograd: reverse-mode automatic differentiation over kiln tensors.
//!
//! A [`Var`] is a tensor plus the [`Op`] that made it. Ops are methods on `Var` (and a few free
//! functions: [`where_cond`], [`cat`], [`stack`], the losses); each forward calls one kiln-kernels
//! function and records an `Op` variant holding its inputs and what backward needs. [`backward`]
//! walks the graph in reverse topological order (iteratively: depth is not limited by the stack)
//! and returns a [`GradStore`] of plain, detached gradient tensors keyed by Var id.
//!
//! This crate computes nothing itself: every number comes from kiln-kernels. It must not grow
//! kernels, and nothing in it panics on bad input; errors are [`kiln_tensor::Error`] values.

mod backward;
mod dot;
mod grad_store;
mod gradcheck;
mod no_grad;
mod op;
mod ops;
mod rules;
mod var;

pub use backward::{backward, backward_retain_all, backward_with, grad_of, grad_of_with};
pub use grad_store::GradStore;
pub use gradcheck::{gradcheck, GradcheckOptions, GradcheckReport};
pub use no_grad::{is_grad_enabled, no_grad, NoGradGuard};
pub use op::Op;
pub use ops::elementwise::where_cond;
pub use ops::join::{cat, stack};
pub use ops::loss::{bce, bce_with_logits, cross_entropy, distill_kl, mse};
pub use ops::lstm::lstm_sequence;
pub use ops::norm::{batch_norm, batch_norm_relu, layer_norm, BatchNormMode};
pub use var::{Var, VarId, WeakVar};

pub use kiln_kernels::elementwise::{BinaryOp, UnaryOp};
pub use kiln_kernels::lstm::Steps as LstmSteps;
