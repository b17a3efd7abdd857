//! LeNet-5 style MNIST classifier (LeCun et al. 1998, with ReLU and max pooling as is usual now):
//! conv 5x5 (6, padded) - pool - conv 5x5 (16) - pool - 120 - 84 - 10. It trains to >= 99% and
//! then judges the GAN's samples (`gan::judge`).

use super::adversarial::image_loaders;
use super::classifier::{ClassifierRun, Objective};
use super::run::{ModelKind, RunConfig, RunResult};
use crate::data::{Augment, Dataset, Normalize};
use crate::nn::{Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential};
use crate::optim::{Adam, LrSchedule};
use kiln_tensor::Rng;
use serde_json::Value;

pub const DEFAULT_EPOCHS: usize = 10;
pub const DEFAULT_BATCH: usize = 64;
pub const DEFAULT_LR: f64 = 1e-3;

pub fn model(rng: &mut Rng) -> Sequential {
    Sequential::new()
        .push(Conv2d::new(1, 6, 5, 1, 2, rng))
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Conv2d::new(6, 16, 5, 1, 0, rng))
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Flatten)
        .push(Linear::new(400, 120, true, rng))
        .push(ReLU)
        .push(Linear::new(120, 84, true, rng))
        .push(ReLU)
        .push(Linear::new(84, 10, true, rng))
}

/// The input normalisation LeNet is trained with (the judge applies it to GAN samples too).
pub fn normalize() -> Normalize {
    Normalize::mnist()
}

/// Adam 1e-3 with cosine decay over the run: 99.0%+ in 10 epochs.
pub fn train(cfg: &RunConfig) -> RunResult<Value> {
    let mut rng = Rng::new(cfg.seed);
    let net = model(&mut rng);
    let mut opt = Adam::new(crate::nn::parameters(&net), cfg.lr, (0.9, 0.999), 0.0);
    let (train, test, adversarial) = image_loaders(Dataset::Mnist, cfg, Augment::default(), &normalize())?;
    ClassifierRun {
        kind: ModelKind::Lenet,
        cfg,
        model: &net,
        optimizer: &mut opt,
        schedule: LrSchedule::Cosine { warmup: 0, total: cfg.epochs, min_lr: 0.0 },
        objective: Objective::CrossEntropy,
        train,
        test,
        metadata: Default::default(),
        adversarial,
    }
    .run()
}
