//! Adversarial training recipes: what `kiln train <lenet|cnn> --adversarial` trains on instead of
//! the clean batch, and how it decides to stop. FGSM with a random start (Wong, Rice and Kolter
//! 2020, "Fast is better than free": a uniform start in the eps-ball, one signed step of 1.25 eps)
//! and PGD-K (Madry et al. 2018: random start, K steps of alpha). Each epoch the run measures PGD-10
//! accuracy on training images held out of training; the best epoch's weights are kept and the run
//! stops once that accuracy has not improved for `patience` epochs, which is also how FGSM's
//! catastrophic overfitting (robust accuracy collapsing to ~0 within an epoch) is caught.
//!
//! This file holds the settings and one batch's perturbation; the loop that uses them is
//! `zoo::classifier`. It must not load data or write files.

use super::attack::{perturb, AttackConfig};
use super::pixels::PixelClassifier;
use kiln_tensor::{Error, Result, Tensor};

/// Which adversarial-training recipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// FGSM from a uniform random start, step `alpha` (default 1.25 eps).
    FgsmRs,
    /// PGD with `steps` steps of `alpha` (default eps / 4) from a uniform random start.
    Pgd,
}

impl Recipe {
    pub fn name(self) -> &'static str {
        match self {
            Recipe::FgsmRs => "fgsm-rs",
            Recipe::Pgd => "pgd",
        }
    }

    pub fn parse(s: &str) -> Result<Recipe> {
        [Recipe::FgsmRs, Recipe::Pgd].into_iter().find(|r| r.name() == s).ok_or_else(|| {
            Error::invalid("adversarial training", format!("unknown recipe `{s}` (expected fgsm-rs or pgd)"))
        })
    }
}

/// The steps of the PGD that early stopping measures with (Rice et al. 2020 use PGD-10).
pub const HOLDOUT_PGD_STEPS: usize = 10;
/// How many training images are held out for early stopping (fewer when the set is small).
pub const HOLDOUT_IMAGES: usize = 1000;

/// An adversarial-training run's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AdversarialTraining {
    pub recipe: Recipe,
    /// Radius of the L-infinity ball, in pixels of [0, 1].
    pub eps: f32,
    /// Step size of the training attack.
    pub alpha: f32,
    /// Steps of the training attack (1 for FGSM-RS).
    pub steps: usize,
    /// Epochs without a better held-out PGD accuracy before the run stops.
    pub patience: usize,
}

impl AdversarialTraining {
    /// `recipe` at `eps`, with the recipe's default step size and steps where none is given:
    /// FGSM-RS 1.25 eps (Wong et al.), PGD eps / 4 with 7 steps (Madry et al.'s CIFAR-10 setting,
    /// 2/255 at 8/255).
    pub fn new(recipe: Recipe, eps: f32, alpha: Option<f32>, steps: Option<usize>) -> Result<AdversarialTraining> {
        let (default_alpha, default_steps) = match recipe {
            Recipe::FgsmRs => (1.25 * eps, 1),
            Recipe::Pgd => (eps / 4.0, 7),
        };
        let steps = steps.unwrap_or(default_steps);
        if recipe == Recipe::FgsmRs && steps != 1 {
            return Err(Error::invalid("adversarial training", format!("fgsm-rs takes one step, not {steps}")));
        }
        let t = AdversarialTraining { recipe, eps, alpha: alpha.unwrap_or(default_alpha), steps, patience: 5 };
        t.check()?;
        Ok(t)
    }

    /// A clear error for settings that cannot train.
    pub fn check(&self) -> Result<()> {
        if !(self.eps.is_finite() && self.eps > 0.0 && self.eps <= 1.0) {
            return Err(Error::invalid("adversarial training", format!("eps {} is not in (0, 1]", self.eps)));
        }
        if self.patience == 0 {
            return Err(Error::invalid("adversarial training", "patience must be at least 1 epoch".to_string()));
        }
        self.batch_attack(0).check()
    }

    /// The attack that perturbs a training batch; `seed` draws its random start.
    pub fn batch_attack(&self, seed: u64) -> AttackConfig {
        let mut a = AttackConfig::pgd(self.eps, self.alpha, self.steps);
        a.seed = seed;
        a
    }

    /// The attack early stopping measures held-out accuracy with: PGD-10, step eps / 4, random
    /// start, whatever the training recipe (so FGSM-RS runs are judged by a stronger attack).
    pub fn holdout_attack(&self) -> AttackConfig {
        AttackConfig::pgd(self.eps, self.eps / 4.0, HOLDOUT_PGD_STEPS)
    }

    /// What the run's metadata and first metrics line record.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "recipe": self.recipe.name(), "eps": self.eps, "alpha": self.alpha, "steps": self.steps,
                            "patience": self.patience, "holdout_attack": format!("pgd-{HOLDOUT_PGD_STEPS}") })
    }
}

/// The adversarial version of a training batch of pixels `x` with true classes `labels`: the model
/// must already be in evaluation mode (the caller holds an `EvalMode`), so BatchNorm uses its running
/// statistics and dropout is off while the attack looks for the worst case (TRADES' convention);
/// the training step that follows runs in training mode on the returned pixels.
pub fn adversarial_batch(
    clf: &PixelClassifier,
    x: &Tensor,
    labels: &[i64],
    t: &AdversarialTraining,
    seed: u64,
) -> Result<Tensor> {
    perturb(clf, x, labels, &t.batch_attack(seed))
}

/// Early stopping's bookkeeping: the best held-out robust accuracy so far and its epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStopping {
    pub best_accuracy: f64,
    /// 1-based epoch of the best accuracy (0: none yet).
    pub best_epoch: usize,
}

impl EarlyStopping {
    pub fn new() -> EarlyStopping {
        EarlyStopping { best_accuracy: f64::NEG_INFINITY, best_epoch: 0 }
    }

    /// Records epoch `epoch`'s accuracy; true when it is the best so far (ties keep the earlier).
    pub fn record(&mut self, epoch: usize, accuracy: f64) -> bool {
        let better = accuracy > self.best_accuracy;
        if better {
            self.best_accuracy = accuracy;
            self.best_epoch = epoch;
        }
        better
    }

    /// True once `patience` epochs after the best have passed without a better one.
    pub fn should_stop(&self, epoch: usize, patience: usize) -> bool {
        self.best_epoch > 0 && epoch >= self.best_epoch + patience
    }
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_parse_and_take_their_papers_defaults() {
        let f = AdversarialTraining::new(Recipe::parse("fgsm-rs").unwrap(), 8.0 / 255.0, None, None).unwrap();
        assert_eq!((f.steps, f.alpha), (1, 1.25 * 8.0 / 255.0));
        let p = AdversarialTraining::new(Recipe::parse("pgd").unwrap(), 8.0 / 255.0, None, None).unwrap();
        assert_eq!((p.steps, p.alpha), (7, 2.0 / 255.0));
        let h = p.holdout_attack();
        assert_eq!((h.steps, h.alpha, h.random_start), (10, 2.0 / 255.0, true));
        assert!(Recipe::parse("trades").is_err());
        assert!(AdversarialTraining::new(Recipe::FgsmRs, 0.1, None, Some(3)).is_err());
        assert!(AdversarialTraining::new(Recipe::Pgd, 0.0, None, None).is_err());
        assert!(AdversarialTraining::new(Recipe::Pgd, -0.1, None, None).is_err());
        assert!(AdversarialTraining::new(Recipe::Pgd, 0.1, Some(0.0), None).is_err());
        assert!(AdversarialTraining::new(Recipe::Pgd, 0.1, None, Some(0)).is_err());
    }

    #[test]
    fn early_stopping_waits_patience_epochs_after_the_best() {
        let mut s = EarlyStopping::new();
        assert!(!s.should_stop(1, 2));
        assert!(s.record(1, 0.30));
        assert!(s.record(2, 0.35));
        assert!(!s.record(3, 0.35), "a tie is not an improvement");
        assert!(!s.should_stop(3, 2));
        assert!(!s.record(4, 0.01), "catastrophic overfitting");
        assert!(s.should_stop(4, 2));
        assert_eq!((s.best_epoch, s.best_accuracy), (2, 0.35));
    }
}
