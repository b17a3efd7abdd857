//! Elementwise forwards: unary maps (and the scalar helpers built on `affine`), broadcasting binary
//! ops, `where_cond` and `masked_fill` (conditions and masks are plain tensors, no gradient flows
//! into them). Each records `Op::Unary`, `Op::Binary`, `Op::Where` or `Op::MaskedFill`.
//! No backward math here: the rules are in `rules/elementwise.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::elementwise::{self, binary, unary, BinaryOp, UnaryOp};
use kiln_tensor::{Result, Tensor};

impl Var {
    /// Applies an elementwise map and records it.
    pub fn unary(&self, op: UnaryOp) -> Result<Var> {
        let out = unary(op, self.tensor())?;
        Ok(Var::from_op(out, Op::Unary { x: self.clone(), op }))
    }

    pub fn neg(&self) -> Result<Var> {
        self.unary(UnaryOp::Neg)
    }

    pub fn exp(&self) -> Result<Var> {
        self.unary(UnaryOp::Exp)
    }

    pub fn log(&self) -> Result<Var> {
        self.unary(UnaryOp::Log)
    }

    pub fn sqrt(&self) -> Result<Var> {
        self.unary(UnaryOp::Sqrt)
    }

    pub fn abs(&self) -> Result<Var> {
        self.unary(UnaryOp::Abs)
    }

    pub fn relu(&self) -> Result<Var> {
        self.unary(UnaryOp::Relu)
    }

    pub fn leaky_relu(&self, slope: f64) -> Result<Var> {
        self.unary(UnaryOp::LeakyRelu(slope))
    }

    pub fn sigmoid(&self) -> Result<Var> {
        self.unary(UnaryOp::Sigmoid)
    }

    pub fn tanh(&self) -> Result<Var> {
        self.unary(UnaryOp::Tanh)
    }

    /// `self * mul + add`.
    pub fn affine(&self, mul: f64, add: f64) -> Result<Var> {
        self.unary(UnaryOp::Affine { mul, add })
    }

    /// `self ^ e` for a constant exponent.
    pub fn powf(&self, e: f64) -> Result<Var> {
        self.unary(UnaryOp::PowScalar(e))
    }

    pub fn add_scalar(&self, c: f64) -> Result<Var> {
        self.affine(1.0, c)
    }

    pub fn mul_scalar(&self, c: f64) -> Result<Var> {
        self.affine(c, 0.0)
    }

    /// Applies a broadcasting binary op and records it.
    pub fn binary(&self, rhs: &Var, op: BinaryOp) -> Result<Var> {
        let out = binary(op, self.tensor(), rhs.tensor())?;
        Ok(Var::from_op(out, Op::Binary { a: self.clone(), b: rhs.clone(), op }))
    }

    pub fn add(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Add)
    }

    pub fn sub(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Sub)
    }

    pub fn mul(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Mul)
    }

    pub fn div(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Div)
    }

    /// `self ^ rhs` elementwise (both may carry gradients).
    pub fn pow(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Pow)
    }

    /// Elementwise max; ties split the gradient evenly between both sides (as PyTorch does).
    pub fn maximum(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Maximum)
    }

    /// Elementwise min; ties split the gradient evenly between both sides (as PyTorch does).
    pub fn minimum(&self, rhs: &Var) -> Result<Var> {
        self.binary(rhs, BinaryOp::Minimum)
    }
}

/// `cond ? a : b` elementwise, all three broadcasting; `cond` is a u32 mask (nonzero = true).
pub fn where_cond(cond: &Tensor, a: &Var, b: &Var) -> Result<Var> {
    let out = elementwise::where_cond(cond, a.tensor(), b.tensor())?;
    Ok(Var::from_op(out, Op::Where { cond: cond.clone(), a: a.clone(), b: b.clone() }))
}

impl Var {
    /// Same as [`where_cond`] with `self` as the true branch.
    pub fn where_cond(&self, cond: &Tensor, other: &Var) -> Result<Var> {
        where_cond(cond, self, other)
    }

    /// `self` with `value` wherever `mask` (u32, broadcastable to self) is nonzero.
    pub fn masked_fill(&self, mask: &Tensor, value: f64) -> Result<Var> {
        let out = elementwise::masked_fill(self.tensor(), mask, value)?;
        Ok(Var::from_op(out, Op::MaskedFill { x: self.clone(), mask: mask.clone(), value }))
    }
}
