//! The model zoo: the three benchmark workloads of DESIGN.md §6 (W1 `gan`, W2 `cnn`, W3
//! `sentiment`) and the `lenet` MNIST classifier that judges the GAN. Each model is a folder split
//! into model / data / training; `run` holds what every training run shares (configuration, run
//! folder, metrics, checkpoints, resume) and `classifier` the loop the three classifiers share,
//! with `adversarial` and `distill` its two optional ways of training.

pub mod adversarial;
pub mod bench;
pub mod classifier;
pub mod cnn;
pub mod distill;
pub mod gan;
pub mod images;
pub mod lenet;
pub mod run;
pub mod sentiment;

pub use run::{ModelKind, RunConfig, RunError, RunResult};
