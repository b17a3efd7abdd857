//! Operator sugar: `&a + &b`, `&a - &b`, `&a * &b`, `&a / &b` and `-&a` on Vars, each returning
//! `Result<Var>` (a shape mismatch is an error value, never a panic). Forwards to the named
//! methods; adds no ops of its own.

use crate::var::Var;
use kiln_tensor::Result;
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! binary_operator {
    ($trait:ident, $method:ident) => {
        impl $trait<&Var> for &Var {
            type Output = Result<Var>;

            fn $method(self, rhs: &Var) -> Result<Var> {
                Var::$method(self, rhs)
            }
        }
    };
}

binary_operator!(Add, add);
binary_operator!(Sub, sub);
binary_operator!(Mul, mul);
binary_operator!(Div, div);

impl Neg for &Var {
    type Output = Result<Var>;

    fn neg(self) -> Result<Var> {
        Var::neg(self)
    }
}
