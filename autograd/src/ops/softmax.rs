//! Softmax and log-softmax forwards along one axis (the output is saved for backward).
//! No backward math here: the rules are in `rules/softmax.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::softmax;
use kiln_tensor::Result;

impl Var {
    pub fn softmax(&self, axis: isize) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "softmax")?;
        let out = softmax::softmax(self.tensor(), axis)?;
        Ok(Var::from_op(out, Op::Softmax { x: self.clone(), axis: a }))
    }

    pub fn log_softmax(&self, axis: isize) -> Result<Var> {
        let a = self.shape().resolve_axis(axis, "log_softmax")?;
        let out = softmax::log_softmax(self.tensor(), axis)?;
        Ok(Var::from_op(out, Op::LogSoftmax { x: self.clone(), axis: a }))
    }
}
