//! The max_pool2d forward, which saves its argmax indices for backward.
//! No backward math here: the rule is in `rules/pool.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::pool;
use kiln_tensor::Result;

impl Var {
    /// Max over `kernel x kernel` windows of `self [n, c, h, w]`, moved by `stride`.
    pub fn max_pool2d(&self, kernel: usize, stride: usize) -> Result<Var> {
        let (out, indices) = pool::max_pool2d(self.tensor(), kernel, stride)?;
        Ok(Var::from_op(out, Op::MaxPool2d { x: self.clone(), kernel, stride, indices }))
    }
}
