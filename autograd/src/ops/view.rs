//! View forwards: transpose, permute, narrow, reshape, broadcast_to, squeeze, unsqueeze (layout
//! changes sharing storage) and contiguous. Axes are resolved here so each recorded op holds plain
//! indices.
//! No backward math here: the rules are in `rules/view.rs`.

use super::insertion_axis;
use crate::op::Op;
use crate::var::Var;
use kiln_tensor::{Result, Shape};

impl Var {
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Var> {
        let (a, b) = (self.shape().resolve_axis(d0, "transpose")?, self.shape().resolve_axis(d1, "transpose")?);
        let out = self.tensor().transpose(d0, d1)?;
        Ok(Var::from_op(out, Op::Transpose { x: self.clone(), d0: a, d1: b }))
    }

    /// Transpose of the last two dims.
    pub fn t(&self) -> Result<Var> {
        self.transpose(-2, -1)
    }

    /// `perm[i]` is the dim of `self` that becomes dim `i`.
    pub fn permute(&self, perm: &[usize]) -> Result<Var> {
        let out = self.tensor().permute(perm)?;
        Ok(Var::from_op(out, Op::Permute { x: self.clone(), perm: perm.to_vec() }))
    }

    /// Elements `start..start + len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "narrow")?;
        let out = self.tensor().narrow(axis, start, len)?;
        Ok(Var::from_op(out, Op::Narrow { x: self.clone(), axis: a, start, len }))
    }

    /// A view when `self`'s layout allows one, a copy (through the strided walk) otherwise.
    pub fn reshape(&self, shape: impl Into<Shape>) -> Result<Var> {
        let shape = shape.into();
        let out = kiln_kernels::elementwise::reshape(self.tensor(), shape.clone())?;
        Ok(Var::from_op(out, Op::Reshape { x: self.clone(), shape }))
    }

    /// Keeps dims `..axis` and flattens the rest into one (`[n, c, h, w]` -> `[n, c*h*w]` at 1).
    pub fn flatten_from(&self, axis: isize) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "flatten_from")?;
        let mut dims = self.dims()[..a].to_vec();
        dims.push(self.dims()[a..].iter().product());
        self.reshape(dims)
    }

    /// Repeats dims of size 1 (and missing leading dims) to `shape` as a stride-0 view.
    pub fn broadcast_to(&self, shape: impl Into<Shape>) -> Result<Var> {
        let shape = shape.into();
        let out = self.tensor().broadcast_to(shape.clone())?;
        Ok(Var::from_op(out, Op::BroadcastTo { x: self.clone(), shape }))
    }

    /// Removes `axis`, which must have size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "squeeze")?;
        let out = self.tensor().squeeze(axis)?;
        Ok(Var::from_op(out, Op::Squeeze { x: self.clone(), axis: a }))
    }

    /// Inserts a dim of size 1 at `axis` (`-1` appends).
    pub fn unsqueeze(&self, axis: isize) -> Result<Var> {
        let a = insertion_axis(axis, self.rank(), "unsqueeze", self.shape())?;
        let out = self.tensor().unsqueeze(axis)?;
        Ok(Var::from_op(out, Op::Unsqueeze { x: self.clone(), axis: a }))
    }

    /// `self` laid out densely (a copy only when it is not already).
    pub fn contiguous(&self) -> Result<Var> {
        let out = self.tensor().contiguous()?;
        Ok(Var::from_op(out, Op::Contiguous { x: self.clone() }))
    }
}
