//! The conv2d forward (NCHW, square stride and zero padding, optional bias).
//! No backward math here: the rule is in `rules/conv.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::conv;
use kiln_tensor::Result;

impl Var {
    /// 2-D convolution of `self [n, c, h, w]` with `w [o, c, kh, kw]` plus an optional `bias [o]`,
    /// the same stride and zero padding on both spatial axes.
    pub fn conv2d(&self, w: &Var, bias: Option<&Var>, stride: usize, padding: usize) -> Result<Var> {
        let out = conv::conv2d(self.tensor(), w.tensor(), bias.map(|b| b.tensor()), stride, padding)?;
        let op = Op::Conv2d { x: self.clone(), w: w.clone(), bias: bias.cloned(), stride, padding };
        Ok(Var::from_op(out, op))
    }
}
