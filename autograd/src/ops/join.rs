//! Joining forwards: `cat` along an existing axis and `stack` along a new one.
//! No backward math here: the rules are in `rules/join.rs`.

use super::insertion_axis;
use crate::op::Op;
use crate::var::Var;
use kiln_kernels::join;
use kiln_tensor::{Error, Result, Tensor};

fn first<'a>(xs: &[&'a Var], op: &'static str) -> Result<&'a Var> {
    xs.first().copied().ok_or_else(|| Error::invalid(op, "needs at least one input"))
}

/// Concatenates `xs` along `axis`; all other dims must agree.
pub fn cat(xs: &[&Var], axis: isize) -> Result<Var> {
    let a = first(xs, "cat")?.shape().resolve_axis(axis, "cat")?;
    let tensors: Vec<&Tensor> = xs.iter().map(|x| x.tensor()).collect();
    let out = join::cat(&tensors, axis)?;
    Ok(Var::from_op(out, Op::Cat { xs: xs.iter().map(|&x| x.clone()).collect(), axis: a }))
}

/// Stacks same-shaped `xs` along a new axis `axis` (`-1` appends one).
pub fn stack(xs: &[&Var], axis: isize) -> Result<Var> {
    let x0 = first(xs, "stack")?;
    let a = insertion_axis(axis, x0.rank(), "stack", x0.shape())?;
    let tensors: Vec<&Tensor> = xs.iter().map(|x| x.tensor()).collect();
    let out = join::stack(&tensors, axis)?;
    Ok(Var::from_op(out, Op::Stack { xs: xs.iter().map(|&x| x.clone()).collect(), axis: a }))
}
