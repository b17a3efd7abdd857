//! W2, the CIFAR-10 CNN of DESIGN.md §6: three conv 3x3 / ReLU / max-pool stages (32, 64, 128
//! channels), then 512 - 512 - 10. The benchmark always uses this plain network; `CnnVariant::
//! BatchNorm` adds batch norm after each conv and dropout before the classifier for accuracy runs;
//! `CnnVariant::Half` is the distillation student, half as wide (16, 32, 64 channels, dense 128).
//! Trained with random crops (4-pixel padding) and flips, Adam 1e-3.

use super::adversarial::image_loaders;
use super::classifier::{ClassifierRun, Objective};
use super::distill::Distillation;
use super::run::{ModelKind, RunConfig, RunResult};
use crate::data::{Augment, Dataset, Normalize};
use crate::nn::{BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential};
use crate::optim::{Adam, LrSchedule};
use kiln_tensor::Rng;
use serde_json::Value;

pub const DEFAULT_EPOCHS: usize = 40;
pub const DEFAULT_BATCH: usize = 64;
pub const DEFAULT_LR: f64 = 1e-3;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CnnVariant {
    /// Exactly W2.
    Plain,
    /// W2 with BatchNorm2d after every conv and dropout `p` before each linear layer.
    BatchNorm { dropout: f64 },
    /// The plain network at half width: 16, 32, 64 channels, then 256 - 128 - 10 (a student for
    /// knowledge distillation, `kiln train cnn --student half`).
    Half,
}

impl CnnVariant {
    /// The variant a checkpoint's `variant` metadata records (`{variant:?}`); the dropout
    /// probability does not matter outside training.
    pub fn of_metadata(recorded: Option<&str>) -> CnnVariant {
        match recorded {
            Some(v) if v.starts_with("BatchNorm") => CnnVariant::BatchNorm { dropout: 0.5 },
            Some("Half") => CnnVariant::Half,
            _ => CnnVariant::Plain,
        }
    }
}

pub fn model(variant: CnnVariant, rng: &mut Rng) -> Sequential {
    let width = if variant == CnnVariant::Half { 1 } else { 2 };
    let mut net = Sequential::new();
    for (cin, cout) in [(3, 16 * width), (16 * width, 32 * width), (32 * width, 64 * width)] {
        net = net.push(Conv2d::new(cin, cout, 3, 1, 0, rng));
        if let CnnVariant::BatchNorm { .. } = variant {
            net = net.push(BatchNorm2d::new(cout));
        }
        net = net.push(ReLU).push(MaxPool2d::new(2));
    }
    net = net.push(Flatten);
    if let CnnVariant::BatchNorm { dropout } = variant {
        net = net.push(Dropout::new(dropout, rng));
    }
    let (flat, dense) = (256 * width, if width == 1 { 128 } else { 512 });
    net = net.push(Linear::new(flat, dense, true, rng)).push(ReLU);
    if let CnnVariant::BatchNorm { dropout } = variant {
        net = net.push(Dropout::new(dropout, rng));
    }
    net.push(Linear::new(dense, 10, true, rng))
}

/// With a teacher, the run learns from its soft outputs too (`distill.rs`).
pub fn train(cfg: &RunConfig, variant: CnnVariant, distillation: Option<Distillation>) -> RunResult<Value> {
    let mut rng = Rng::new(cfg.seed);
    let net = model(variant, &mut rng);
    let mut opt = Adam::new(crate::nn::parameters(&net), cfg.lr, (0.9, 0.999), 0.0);
    let norm = Normalize::cifar10();
    let (train, test, adversarial) = image_loaders(Dataset::Cifar10, cfg, Augment::crop_and_flip(), &norm)?;
    // Plain W2 keeps Adam's rate constant (its benchmark definition); the BN variant and every
    // adversarial run decay it over the run, as robust training recipes do (Madry et al. and Rice et
    // al. step it down; the robust accuracy gain comes when it falls).
    let schedule = match (variant, &cfg.adversarial) {
        (CnnVariant::Plain, None) => LrSchedule::Constant,
        _ => LrSchedule::Cosine { warmup: 0, total: cfg.epochs, min_lr: 0.0 },
    };
    let mut metadata = std::collections::BTreeMap::new();
    metadata.insert("variant".to_string(), format!("{variant:?}"));
    if let Some(d) = &distillation {
        metadata.extend(d.metadata());
    }
    ClassifierRun {
        kind: ModelKind::Cnn,
        cfg,
        model: &net,
        optimizer: &mut opt,
        schedule,
        objective: Objective::CrossEntropy,
        train,
        test,
        metadata,
        adversarial,
        distillation,
    }
    .run()
}
