//! W1's two networks (DESIGN.md §6): the generator maps 100-d noise to a 784-pixel image in
//! [-1, 1]; the discriminator maps an image to the probability that it is real. Parameter names
//! are PyTorch's `nn.Sequential` names.

use crate::nn::{Dropout, LeakyReLU, Linear, Sequential, Sigmoid, Tanh};
use kiln_tensor::Rng;

pub const NOISE_DIM: usize = 100;
pub const IMAGE_DIM: usize = 784;
/// The generator's layer widths, noise to image.
pub const GENERATOR_WIDTHS: [usize; 4] = [NOISE_DIM, 256, 512, IMAGE_DIM];
/// The discriminator's layer widths, image to probability.
pub const DISCRIMINATOR_WIDTHS: [usize; 4] = [IMAGE_DIM, 512, 256, 1];

pub fn generator(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .push(Linear::new(GENERATOR_WIDTHS[0], GENERATOR_WIDTHS[1], true, rng))
        .push(LeakyReLU(0.2))
        .push(Linear::new(GENERATOR_WIDTHS[1], GENERATOR_WIDTHS[2], true, rng))
        .push(LeakyReLU(0.2))
        .push(Linear::new(GENERATOR_WIDTHS[2], GENERATOR_WIDTHS[3], true, rng))
        .push(Tanh)
}

pub fn discriminator(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .push(Linear::new(DISCRIMINATOR_WIDTHS[0], DISCRIMINATOR_WIDTHS[1], true, rng))
        .push(LeakyReLU(0.2))
        .push(Dropout::new(0.5, rng))
        .push(Linear::new(DISCRIMINATOR_WIDTHS[1], DISCRIMINATOR_WIDTHS[2], true, rng))
        .push(LeakyReLU(0.2))
        .push(Dropout::new(0.5, rng))
        .push(Linear::new(DISCRIMINATOR_WIDTHS[2], DISCRIMINATOR_WIDTHS[3], true, rng))
        .push(Sigmoid)
}
