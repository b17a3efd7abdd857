//! Reduction forwards: sum and mean over any axes, max and min along one axis (saving the argmax /
//! argmin for backward).
//! No backward math here: the rules are in `rules/reduce.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::reduce::{self, max_with_indices, ReduceOp};
use kiln_tensor::Result;

impl Var {
    /// Sum over `axes` (empty = all; negative axes count from the end).
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        let resolved = self.shape().resolve_axes(axes, "sum")?;
        let out = reduce::sum(self.tensor(), axes, keepdim)?;
        Ok(Var::from_op(out, Op::Sum { x: self.clone(), axes: resolved, keepdim }))
    }

    /// Sum of every element, a scalar.
    pub fn sum_all(&self) -> Result<Var> {
        self.sum(&[], false)
    }

    /// Mean over `axes` (empty = all).
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Var> {
        let resolved = self.shape().resolve_axes(axes, "mean")?;
        let out = reduce::mean(self.tensor(), axes, keepdim)?;
        Ok(Var::from_op(out, Op::Mean { x: self.clone(), axes: resolved, keepdim }))
    }

    /// Mean of every element, a scalar.
    pub fn mean_all(&self) -> Result<Var> {
        self.mean(&[], false)
    }

    /// Max along `axis`. The gradient goes to the first occurrence of the max (torch.max(dim)).
    pub fn max(&self, axis: isize, keepdim: bool) -> Result<Var> {
        self.extreme(axis, keepdim, true)
    }

    /// Min along `axis`. The gradient goes to the first occurrence of the min (torch.min(dim)).
    pub fn min(&self, axis: isize, keepdim: bool) -> Result<Var> {
        self.extreme(axis, keepdim, false)
    }

    fn extreme(&self, axis: isize, keepdim: bool, max: bool) -> Result<Var> {
        let name = if max { "max" } else { "min" };
        let a = self.shape().resolve_axis(axis, name)?;
        if !Var::tracking(&[self]) {
            let op = if max { ReduceOp::Max } else { ReduceOp::Min };
            return Ok(Var::constant(reduce::reduce(op, self.tensor(), &[axis], keepdim)?));
        }
        // Indices are kept in keepdim shape: that is the shape scatter_add wants in backward.
        let (values, indices) = max_with_indices(self.tensor(), axis, true, max)?;
        let out = if keepdim { values } else { values.squeeze(a as isize)? };
        let x = self.clone();
        let op = if max { Op::Max { x, axis: a, keepdim, indices } } else { Op::Min { x, axis: a, keepdim, indices } };
        Ok(Var::from_op(out, op))
    }
}
