//! One W1 training step: a discriminator update on `B` real and `B` generated images (one forward
//! over the 2B concatenated rows, BCE against 1s then 0s), then a generator update on `B` fresh noise
//! vectors (BCE of D(G(z)) against 1s, the non-saturating loss). Adam (2e-4, betas 0.5/0.999).

use super::model::NOISE_DIM;
use crate::nn::Module;
use crate::optim::{Adam, Optimizer};
use kiln_autograd::{backward, bce, cat, Var};
use kiln_tensor::{DType, Result, Rng, Tensor};

pub struct GanState<'a> {
    pub generator: &'a dyn Module,
    pub discriminator: &'a dyn Module,
    pub opt_g: &'a mut Adam,
    pub opt_d: &'a mut Adam,
}

pub fn noise(batch: usize, rng: &mut Rng) -> Tensor {
    Tensor::randn([batch, NOISE_DIM], 0.0, 1.0, DType::F32, rng)
}

/// Runs one step on `real` ([B, 784] in [-1, 1], on the models' device) and returns
/// (discriminator loss, generator loss). Noise is drawn on the host and moved to that device.
pub fn train_step(s: &mut GanState<'_>, real: &Tensor, rng: &mut Rng) -> Result<(f32, f32)> {
    let b = real.dims()[0];
    let device = real.device();
    let fake = s.generator.forward(&Var::constant(noise(b, rng).to_device(device)?))?;
    let both = cat(&[&Var::constant(real.clone()), &fake.detach()], 0)?;
    let mut targets = vec![1.0f32; b];
    targets.extend(vec![0.0f32; b]);
    let d_out = s.discriminator.forward(&both)?.reshape([2 * b])?;
    let d_loss = bce(&d_out, &Var::constant(Tensor::from_vec(targets, [2 * b])?.to_device(device)?))?;
    s.opt_d.step(&backward(&d_loss)?)?;

    let fake = s.generator.forward(&Var::constant(noise(b, rng).to_device(device)?))?;
    let g_out = s.discriminator.forward(&fake)?.reshape([b])?;
    let g_loss = bce(&g_out, &Var::constant(Tensor::ones([b], DType::F32).to_device(device)?))?;
    // The gradient also reaches D's parameters; only G's optimizer applies it.
    s.opt_g.step(&backward(&g_loss)?)?;
    Ok((d_loss.tensor().to_scalar::<f32>()?, g_loss.tensor().to_scalar::<f32>()?))
}
