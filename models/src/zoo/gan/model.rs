//! W1's two networks (DESIGN.md §6): the generator maps 100-d noise to a 784-pixel image in
//! [-1, 1]; the discriminator maps an image to the probability that it is real. Parameter names
//! are PyTorch's `nn.Sequential` names.

use crate::nn::{Dropout, LeakyReLU, Linear, Sequential, Sigmoid, Tanh};
use kiln_tensor::Rng;

pub const NOISE_DIM: usize = 100;
pub const IMAGE_DIM: usize = 784;

pub fn generator(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .push(Linear::new(NOISE_DIM, 256, true, rng))
        .push(LeakyReLU(0.2))
        .push(Linear::new(256, 512, true, rng))
        .push(LeakyReLU(0.2))
        .push(Linear::new(512, IMAGE_DIM, true, rng))
        .push(Tanh)
}

pub fn discriminator(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .push(Linear::new(IMAGE_DIM, 512, true, rng))
        .push(LeakyReLU(0.2))
        .push(Dropout::new(0.5, rng))
        .push(Linear::new(512, 256, true, rng))
        .push(LeakyReLU(0.2))
        .push(Dropout::new(0.5, rng))
        .push(Linear::new(256, 1, true, rng))
        .push(Sigmoid)
}
