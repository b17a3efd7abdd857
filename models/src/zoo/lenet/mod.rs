//! The MNIST classifiers: LeNet-5 style (LeCun et al. 1998, with ReLU and max pooling as is usual
//! now): conv 5x5 (6, padded) - pool - conv 5x5 (16) - pool - 120 - 84 - 10, which trains to >= 99%
//! and then judges the GAN's samples (`gan::judge`); and Hinton et al.'s (2015) distillation pair,
//! a 784-1200-1200-10 MLP teacher (dropout, +-2 pixel jitter) and a 784-800-800-10 student (no
//! regulariser), chosen with `kiln train lenet --student`. All of them are `lenet` checkpoints:
//! the `network` metadata says which.

use super::adversarial::image_loaders;
use super::classifier::{ClassifierRun, Objective};
use super::distill::Distillation;
use super::run::{ModelKind, RunConfig, RunError, RunResult};
use crate::data::{Augment, Dataset, Normalize};
use crate::nn::{Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential};
use crate::optim::{Adam, LrSchedule};
use kiln_tensor::Rng;
use serde_json::Value;
use std::collections::BTreeMap;

pub const DEFAULT_EPOCHS: usize = 10;
pub const DEFAULT_BATCH: usize = 64;
pub const DEFAULT_LR: f64 = 1e-3;

/// Which MNIST network a `lenet` run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MnistNet {
    /// The LeNet-5 style CNN (the GAN's judge).
    Lenet5,
    /// Hinton's student: 784-800-800-10 with ReLU, no dropout, no jitter.
    Mlp800,
    /// Hinton's teacher: 784-1200-1200-10 with ReLU, dropout 0.2 on the pixels and 0.5 on each
    /// hidden layer, trained on images shifted by up to 2 pixels.
    Mlp1200,
}

impl MnistNet {
    pub const ALL: [MnistNet; 3] = [MnistNet::Lenet5, MnistNet::Mlp800, MnistNet::Mlp1200];

    /// The name `--student` takes and checkpoints record.
    pub fn name(self) -> &'static str {
        match self {
            MnistNet::Lenet5 => "lenet5",
            MnistNet::Mlp800 => "mlp-800",
            MnistNet::Mlp1200 => "mlp-1200",
        }
    }

    pub fn parse(name: &str) -> RunResult<MnistNet> {
        Self::ALL.into_iter().find(|n| n.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|n| n.name()).collect();
            RunError::Invalid(format!("unknown MNIST network `{name}` (expected {})", names.join(", ")))
        })
    }

    /// The network a checkpoint's `network` metadata names (LeNet-5 when it names none: the
    /// checkpoints written before the MLPs existed).
    pub fn of_metadata(metadata: &BTreeMap<String, String>) -> RunResult<MnistNet> {
        metadata.get(NETWORK_KEY).map_or(Ok(MnistNet::Lenet5), |n| MnistNet::parse(n))
    }

    /// Translation jitter of the training images (Hinton's teacher only).
    fn augment(self) -> Augment {
        match self {
            MnistNet::Mlp1200 => Augment { crop_padding: 2, hflip: false },
            MnistNet::Lenet5 | MnistNet::Mlp800 => Augment::default(),
        }
    }
}

/// The checkpoint metadata key naming the network.
pub const NETWORK_KEY: &str = "network";

pub fn model(rng: &mut Rng) -> Sequential {
    network(MnistNet::Lenet5, rng)
}

pub fn network(net: MnistNet, rng: &mut Rng) -> Sequential {
    match net {
        MnistNet::Lenet5 => Sequential::new()
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
            .push(Linear::new(84, 10, true, rng)),
        MnistNet::Mlp800 => Sequential::new()
            .push(Flatten)
            .push(Linear::new(784, 800, true, rng))
            .push(ReLU)
            .push(Linear::new(800, 800, true, rng))
            .push(ReLU)
            .push(Linear::new(800, 10, true, rng)),
        MnistNet::Mlp1200 => Sequential::new()
            .push(Flatten)
            .push(Dropout::new(0.2, rng))
            .push(Linear::new(784, 1200, true, rng))
            .push(ReLU)
            .push(Dropout::new(0.5, rng))
            .push(Linear::new(1200, 1200, true, rng))
            .push(ReLU)
            .push(Dropout::new(0.5, rng))
            .push(Linear::new(1200, 10, true, rng)),
    }
}

/// The input normalisation LeNet is trained with (the judge applies it to GAN samples too).
pub fn normalize() -> Normalize {
    Normalize::mnist()
}

/// Adam 1e-3 with cosine decay over the run: LeNet-5 reaches 99.0%+ in 10 epochs. With a teacher,
/// the run learns from its soft outputs too (`distill.rs`).
pub fn train(cfg: &RunConfig, net: MnistNet, distillation: Option<Distillation>) -> RunResult<Value> {
    let mut rng = Rng::new(cfg.seed);
    let model = network(net, &mut rng);
    let mut opt = Adam::new(crate::nn::parameters(&model), cfg.lr, (0.9, 0.999), 0.0);
    let (train, test, adversarial) = image_loaders(Dataset::Mnist, cfg, net.augment(), &normalize())?;
    let mut metadata = BTreeMap::from([(NETWORK_KEY.to_string(), net.name().to_string())]);
    if let Some(d) = &distillation {
        metadata.extend(d.metadata());
    }
    ClassifierRun {
        kind: ModelKind::Lenet,
        cfg,
        model: &model,
        optimizer: &mut opt,
        schedule: LrSchedule::Cosine { warmup: 0, total: cfg.epochs, min_lr: 0.0 },
        objective: Objective::CrossEntropy,
        train,
        test,
        metadata,
        adversarial,
        distillation,
    }
    .run()
}
