//! Adversarial robustness: how easily a trained image classifier is fooled. Attacks (FGSM, PGD with
//! random start and restarts, Adam on the input) on pixel batches in [0, 1] with the model's
//! normalisation moved inside (`pixels.rs`), so eps means pixels; robust accuracy over a dataset
//! with the model in evaluation mode (`eval.rs`); adversarial training recipes and their early
//! stopping (`training.rs`); radii written as people write them (`eps.rs`).
//! The gradient with respect to the input comes from kiln's autograd, nothing else.

pub mod attack;
pub mod eps;
pub mod eval;
pub mod pixels;
pub mod training;

pub use attack::{attack, perturb, AttackConfig, AttackOutcome, Method};
pub use eps::{parse_eps, parse_eps_list};
pub use eval::{robust_accuracy, EvalMode, RobustReport, RobustRow};
pub use pixels::{verdicts_of, PixelClassifier, Verdicts};
pub use training::{adversarial_batch, AdversarialTraining, EarlyStopping, Recipe, HOLDOUT_IMAGES};
