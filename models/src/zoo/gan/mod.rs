//! W1, the MNIST GAN: model (`model.rs`), one training step (`step.rs`), the epoch loop with a
//! sample grid per epoch and resumable checkpoints (here), and judging samples with LeNet
//! (`judge.rs`).

pub mod judge;
pub mod model;
pub mod step;

use super::images::load_split;
use super::run::{
    add_module, add_optimizer, base_metadata, check_loss, checkpoint_info, load_module, optimizer_state, seconds,
    ModelKind, Reporter, RunConfig, RunError, RunResult,
};
use crate::checkpoint::Checkpoint;
use crate::data::{Augment, Dataset, ImageBatcher, Loader, LoaderOptions, Normalize, Split};
use crate::nn::{self, Module, Sequential};
use crate::optim::{Adam, Optimizer};
use crate::train::{save_image_grid, Progress};
use kiln_autograd::{no_grad, Var};
use kiln_tensor::{Result, Rng, Tensor};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;
use step::{noise, train_step, GanState};

pub const DEFAULT_EPOCHS: usize = 50;
pub const DEFAULT_BATCH: usize = 64;
pub const DEFAULT_LR: f64 = 2e-4;
pub const BETAS: (f64, f64) = (0.5, 0.999);

/// A generator and a discriminator, freshly initialised from `seed`.
pub fn build(seed: u64) -> (Sequential, Sequential) {
    let mut rng = Rng::new(seed);
    (model::generator(&mut rng), model::discriminator(&mut rng))
}

/// A generator restored from a GAN checkpoint.
pub fn load_generator(ck: &Checkpoint) -> RunResult<Sequential> {
    let (g, _) = build(0);
    load_module(ck, "generator", &g)?;
    Ok(g)
}

/// Writes an 8x8 grid of the generator's samples for `noise`.
pub fn save_samples(generator: &dyn Module, z: &Tensor, path: &Path) -> RunResult<()> {
    generator.set_training(false);
    let images = no_grad(|| generator.forward(&Var::constant(z.to_device(nn::device_of(generator))?)))?;
    generator.set_training(true);
    let n = z.dims()[0];
    save_image_grid(&images.tensor().to_vec::<f32>()?, [n, 1, 28, 28], (-1.0, 1.0), 8, path).map_err(RunError::Invalid)
}

fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ (epoch as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F)
}

pub fn train(cfg: &RunConfig) -> RunResult<Value> {
    cfg.validate()?;
    let (g, d) = build(cfg.seed);
    let mut opt_g = Adam::new(nn::parameters(&g), cfg.lr, BETAS, 0.0);
    let mut opt_d = Adam::new(nn::parameters(&d), cfg.lr, BETAS, 0.0);
    let mut start_epoch = 0;
    if let Some(path) = &cfg.resume {
        let ck = Checkpoint::load(path)?;
        let (kind, epoch) = checkpoint_info(&ck, path)?;
        if kind != ModelKind::Gan {
            return Err(RunError::Invalid(format!("{}: a {} checkpoint, not a gan", path.display(), kind.name())));
        }
        load_module(&ck, "generator", &g)?;
        load_module(&ck, "discriminator", &d)?;
        opt_g.load_state(&optimizer_state(&ck, "optim_g"))?;
        opt_d.load_state(&optimizer_state(&ck, "optim_d"))?;
        start_epoch = epoch;
    }
    nn::to_device(&g, cfg.device)?;
    nn::to_device(&d, cfg.device)?;
    let data = load_split(Dataset::Mnist, cfg, Split::Train)?;
    let batcher = ImageBatcher::new(data, Augment::default(), &Normalize::Symmetric)?;
    let opts =
        LoaderOptions { batch_size: cfg.batch_size, shuffle: true, drop_last: true, seed: cfg.seed, prefetch: 2 };
    let loader = Loader::new(batcher, opts)?;
    if loader.batches_per_epoch() == 0 {
        return Err(RunError::Invalid(format!("fewer samples than one batch of {}", cfg.batch_size)));
    }
    let fixed_noise = noise(64, &mut Rng::new(cfg.seed ^ 0x5eed));
    let mut reporter = Reporter::open(cfg, ModelKind::Gan)?;
    let mut last = json!({});
    for epoch in start_epoch..cfg.epochs {
        let start = Instant::now();
        let mut rng = Rng::new(epoch_seed(cfg.seed, epoch));
        d.reseed(rng.next_u64());
        let progress = Progress::new(loader.batches_per_epoch() as u64, &format!("epoch {}", epoch + 1), !cfg.json);
        let (mut d_sum, mut g_sum, mut steps) = (0.0f64, 0.0f64, 0usize);
        for batch in loader.epoch(epoch as u64) {
            let batch = batch?;
            let b = batch.inputs.dims()[0];
            let real = batch.inputs.reshape([b, model::IMAGE_DIM])?.to_device(cfg.device)?;
            let mut state = GanState { generator: &g, discriminator: &d, opt_g: &mut opt_g, opt_d: &mut opt_d };
            let (dl, gl) = train_step(&mut state, &real, &mut rng)?;
            check_loss("the discriminator loss", dl as f64, epoch, steps + 1)?;
            check_loss("the generator loss", gl as f64, epoch, steps + 1)?;
            d_sum += dl as f64;
            g_sum += gl as f64;
            steps += 1;
            progress.tick(format!("d {:.3} g {:.3}", d_sum / steps as f64, g_sum / steps as f64));
        }
        progress.finish();
        let sample_path = cfg.out_dir.join(format!("samples-epoch-{:03}.png", epoch + 1));
        save_samples(&g, &fixed_noise, &sample_path)?;
        save_checkpoint(cfg, epoch + 1, &g, &d, &opt_g, &opt_d)?;
        last = json!({
            "epoch": epoch + 1, "d_loss": d_sum / steps as f64, "g_loss": g_sum / steps as f64,
            "seconds": seconds(start), "samples": sample_path.display().to_string(),
        });
        reporter.epoch(last.clone())?;
    }
    let fin = json!({
        "model": "gan", "epochs": cfg.epochs, "d_loss": last.get("d_loss"), "g_loss": last.get("g_loss"),
        "checkpoint": cfg.checkpoint_path().display().to_string(),
    });
    reporter.finish(fin.clone())?;
    Ok(fin)
}

fn save_checkpoint(cfg: &RunConfig, epoch: usize, g: &Sequential, d: &Sequential, og: &Adam, od: &Adam) -> Result<()> {
    let mut ck = Checkpoint::new();
    add_module(&mut ck, "generator", g);
    add_module(&mut ck, "discriminator", d);
    add_optimizer(&mut ck, "optim_g", og);
    add_optimizer(&mut ck, "optim_d", od);
    ck.metadata = base_metadata(ModelKind::Gan, epoch, cfg);
    ck.save(&cfg.checkpoint_path()).map_err(|e| kiln_tensor::Error::invalid("checkpoint", e.to_string()))
}
