//! Parameter initialisation as PyTorch does it by default, seeded by kiln's [`Rng`]:
//! Linear and Conv2d weights use kaiming-uniform with a = sqrt(5), which works out to
//! U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and so do their biases; LSTM weights and biases are
//! U(-1/sqrt(hidden), 1/sqrt(hidden)); Embedding is N(0, 1); norm layers start at weight 1, bias 0.

use kiln_autograd::Var;
use kiln_tensor::{DType, Rng, Shape, Tensor};

/// A trainable f32 leaf drawn from U(-bound, bound).
pub fn uniform(shape: impl Into<Shape>, bound: f64, rng: &mut Rng) -> Var {
    Var::leaf(Tensor::rand_uniform(shape, -bound, bound, DType::F32, rng))
}

/// PyTorch's default for Linear/Conv2d weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
pub fn fan_in_uniform(shape: impl Into<Shape>, fan_in: usize, rng: &mut Rng) -> Var {
    uniform(shape, 1.0 / (fan_in.max(1) as f64).sqrt(), rng)
}

pub fn normal(shape: impl Into<Shape>, std: f64, rng: &mut Rng) -> Var {
    Var::leaf(Tensor::randn(shape, 0.0, std, DType::F32, rng))
}

pub fn constant(shape: impl Into<Shape>, value: f64) -> Var {
    Var::leaf(Tensor::full(value, shape, DType::F32))
}
