//! The matmul forward: `a [.., m, k] @ b [.., k, n]` with batch dims broadcasting.
//! No backward math here: the rule is in `rules/matmul.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::matmul;
use kiln_tensor::Result;

impl Var {
    /// `self [.., m, k] @ rhs [.., k, n]`, batch dims broadcasting.
    pub fn matmul(&self, rhs: &Var) -> Result<Var> {
        let out = matmul::matmul(self.tensor(), rhs.tensor())?;
        Ok(Var::from_op(out, Op::Matmul { a: self.clone(), b: rhs.clone() }))
    }
}
