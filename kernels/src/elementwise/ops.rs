//! The elementwise operators as data: each variant knows its scalar formula and its local
//! derivative, written once here and used by every implementation and by the autograd rules.

use kiln_tensor::Float;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Abs,
    Relu,
    LeakyRelu(f64),
    Sigmoid,
    Tanh,
    /// `x * mul + add`
    Affine {
        mul: f64,
        add: f64,
    },
    /// `x ^ e` for a constant exponent.
    PowScalar(f64),
}

impl UnaryOp {
    /// One of every op, with sample parameters: what the tests iterate over.
    pub const EXAMPLES: [UnaryOp; 11] = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sqrt,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::LeakyRelu(0.2),
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Affine { mul: 2.5, add: -1.0 },
        UnaryOp::PowScalar(3.0),
    ];

    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Relu => "relu",
            UnaryOp::LeakyRelu(_) => "leaky_relu",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Affine { .. } => "affine",
            UnaryOp::PowScalar(_) => "pow_scalar",
        }
    }

    #[inline]
    pub fn apply<T: Float>(self, x: T) -> T {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            // `max` drops a NaN; PyTorch's relu propagates it.
            UnaryOp::Relu if x.is_nan() => x,
            UnaryOp::Relu => x.max(T::ZERO),
            UnaryOp::LeakyRelu(slope) => {
                if x > T::ZERO {
                    x
                } else {
                    x * T::from_f64(slope)
                }
            }
            // Stable for large |x|: exp is only taken of a non-positive number.
            UnaryOp::Sigmoid => {
                if x >= T::ZERO {
                    T::ONE / (T::ONE + (-x).exp())
                } else {
                    let e = x.exp();
                    e / (T::ONE + e)
                }
            }
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Affine { mul, add } => x * T::from_f64(mul) + T::from_f64(add),
            UnaryOp::PowScalar(e) => x.powf(T::from_f64(e)),
        }
    }

    /// dy/dx given the input `x` and the output `y = apply(x)`. At the kinks of relu, leaky_relu
    /// and abs the derivative taken is the one from the right for x > 0 and 0 / slope / -1 at and
    /// below zero (PyTorch's choice for relu; abs uses sign(x), which is 0 at 0).
    #[inline]
    pub fn derivative<T: Float>(self, x: T, y: T) -> T {
        match self {
            UnaryOp::Neg => -T::ONE,
            UnaryOp::Exp => y,
            UnaryOp::Log => T::ONE / x,
            UnaryOp::Sqrt => T::from_f64(0.5) / y,
            UnaryOp::Abs => {
                if x > T::ZERO {
                    T::ONE
                } else if x < T::ZERO {
                    -T::ONE
                } else {
                    T::ZERO
                }
            }
            UnaryOp::Relu => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            UnaryOp::LeakyRelu(slope) => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    T::from_f64(slope)
                }
            }
            UnaryOp::Sigmoid => y * (T::ONE - y),
            UnaryOp::Tanh => T::ONE - y * y,
            UnaryOp::Affine { mul, .. } => T::from_f64(mul),
            UnaryOp::PowScalar(e) => T::from_f64(e) * x.powf(T::from_f64(e - 1.0)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
}

impl BinaryOp {
    pub const ALL: [BinaryOp; 7] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Maximum,
        BinaryOp::Minimum,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
        }
    }

    #[inline]
    pub fn apply<T: Float>(self, a: T, b: T) -> T {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            // `max`/`min` drop a NaN operand; PyTorch's maximum/minimum propagate it (a + b is NaN).
            BinaryOp::Maximum | BinaryOp::Minimum if a.is_nan() || b.is_nan() => a + b,
            BinaryOp::Maximum => a.max(b),
            BinaryOp::Minimum => a.min(b),
        }
    }

    /// (d out/d a, d out/d b). Ties of maximum/minimum split the gradient evenly, as PyTorch does.
    #[inline]
    pub fn partials<T: Float>(self, a: T, b: T) -> (T, T) {
        let half = T::from_f64(0.5);
        match self {
            BinaryOp::Add => (T::ONE, T::ONE),
            BinaryOp::Sub => (T::ONE, -T::ONE),
            BinaryOp::Mul => (b, a),
            BinaryOp::Div => (T::ONE / b, -a / (b * b)),
            BinaryOp::Pow => {
                let p = a.powf(b);
                // d/db a^b = a^b ln a; PyTorch defines it as 0 where a == 0 (and b >= 0).
                let db = if a == T::ZERO { T::ZERO } else { p * a.ln() };
                (b * a.powf(b - T::ONE), db)
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let a_wins = if self == BinaryOp::Maximum { a > b } else { a < b };
                if a == b {
                    (half, half)
                } else if a_wins {
                    (T::ONE, T::ZERO)
                } else {
                    (T::ZERO, T::ONE)
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CompareOp {
    #[inline]
    pub fn apply<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
        }
    }
}
