//! Forwards of matmul, conv2d and max_pool2d (which saves its argmax indices for backward).
//! No backward math here: the rules are in `rules/matmul.rs` and `rules/conv.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::{conv, matmul, pool};
use kiln_tensor::Result;

impl Var {
    /// `self [.., m, k] @ rhs [.., k, n]`, batch dims broadcasting.
    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        let out = matmul::matmul(self.tensor(), rhs.tensor())?;
        Ok(Var::from_op(out, Op::Matmul { a: self.clone(), b: rhs.clone() }))
    }

    /// 2-D convolution of `self [n, c, h, w]` with `w [o, c, kh, kw]` plus an optional `bias [o]`,
    /// the same stride and zero padding on both spatial axes.
    pub fn conv2d(&self, w: &Var, bias: Option<&Var>, stride: usize, padding: usize) -> Result<Var> {
        let out = conv::conv2d(self.tensor(), w.tensor(), bias.map(|b| b.tensor()), stride, padding)?;
        let op = Op::Conv2d { x: self.clone(), w: w.clone(), bias: bias.cloned(), stride, padding };
        Ok(Var::from_op(out, op))
    }

    /// Max over `kernel x kernel` windows of `self [n, c, h, w]`, moved by `stride`.
    pub fn max_pool2d(&self, kernel: usize, stride: usize) -> Result<Var> {
        let (out, indices) = pool::max_pool2d(self.tensor(), kernel, stride)?;
        Ok(Var::from_op(out, Op::MaxPool2d { x: self.clone(), kernel, stride, indices }))
    }
}
