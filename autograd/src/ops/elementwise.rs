//! Elementwise forwards: unary maps (and the scalar helpers built on `affine`), broadcasting binary
//! ops, and dropout. Each records `Op::Unary`, `Op::Binary` or `Op::Dropout`.
//! No backward math here: the rules are in `rules/elementwise.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::dropout::dropout_mask;
use kiln_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln_tensor::{Error, Result, Rng};

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

    /// Inverted dropout: in training each element is zeroed with probability `p` and the rest
    /// scaled by `1/(1-p)` (`p == 1` zeroes everything); outside training (or with `p == 0`) it is
    /// the identity, records nothing and draws nothing. The mask is drawn from `rng` and saved for
    /// backward.
    pub fn dropout(&self, p: f64, train: bool, rng: &mut Rng) -> Result<Var> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::hyper("dropout", "drop probability", p, "in [0, 1]"));
        }
        if !train || p == 0.0 {
            return Ok(self.clone());
        }
        // Drawn on the host from the same generator whatever the device, so a model trains the
        // same on a GPU as on the CPU; one upload of the mask per call.
        let mask = dropout_mask(self.shape(), p, self.dtype(), rng)?.to_device(self.device())?;
        let out = binary(BinaryOp::Mul, self.tensor(), &mask)?;
        Ok(Var::from_op(out, Op::Dropout { x: self.clone(), mask, p }))
    }
}
