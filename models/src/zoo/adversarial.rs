//! Adversarial training inside the classifier loop (`kiln train <lenet|cnn> --adversarial`): the
//! image loaders of such a run (training pixels with a held-out part for early stopping), each
//! step's logits on the perturbed batch, and the per-epoch held-out PGD check that keeps the best
//! weights and stops the run. The recipes themselves are `robust::training`; this file wires them
//! into a run and must not know a particular model.

use super::images::{hold_out, load_split, loader};
use super::run::{RunConfig, RunError, RunResult};
use crate::checkpoint::Checkpoint;
use crate::data::{Augment, Dataset, ImageBatcher, Loader, Normalize, Split};
use crate::nn::{self, Module};
use crate::robust::{
    adversarial_batch, robust_accuracy, AdversarialTraining, EarlyStopping, EvalMode, PixelClassifier, HOLDOUT_IMAGES,
};
use kiln_autograd::Var;
use kiln_tensor::Tensor;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The adversarial side of a classifier run.
pub struct Adversarial<S: crate::data::BatchSource> {
    pub training: AdversarialTraining,
    /// The normalisation the model expects; the run's training loader yields pixels in [0, 1].
    pub normalize: Normalize,
    /// Training images held out of training, as pixels, for early stopping.
    pub holdout: Loader<S>,
    pub stopping: EarlyStopping,
}

/// Training loader, test loader, and the adversarial side (adversarial runs only).
pub type ImageLoaders = (Loader<ImageBatcher>, Loader<ImageBatcher>, Option<Adversarial<ImageBatcher>>);

/// The loaders of an image classifier run: training, test, and (for an adversarial run) the
/// adversarial side. An adversarial run trains on pixels (the model's normalisation moves inside,
/// as the attacks need) and holds out [`HOLDOUT_IMAGES`] training images, a tenth of the
/// training set when that is smaller, picked class-balanced with the run's seed.
pub fn image_loaders(
    dataset: Dataset,
    cfg: &RunConfig,
    augment: Augment,
    normalize: &Normalize,
) -> RunResult<ImageLoaders> {
    let train = load_split(dataset, cfg, Split::Train)?;
    let test = loader(load_split(dataset, cfg, Split::Test)?, cfg, false, Augment::default(), normalize)?;
    let Some(training) = &cfg.adversarial else {
        return Ok((loader(train, cfg, true, augment, normalize)?, test, None));
    };
    let held = HOLDOUT_IMAGES.min(train.n / 10).max(1);
    let (rest, held) = hold_out(train, held, cfg.seed ^ 0x401d)?;
    let adversarial = Adversarial {
        training: training.clone(),
        normalize: normalize.clone(),
        holdout: loader(held, cfg, false, Augment::default(), &Normalize::Unit)?,
        stopping: EarlyStopping::new(),
    };
    Ok((loader(rest, cfg, true, augment, &Normalize::Unit)?, test, Some(adversarial)))
}

impl<S: crate::data::BatchSource> Adversarial<S> {
    /// The logits the training step learns from: the batch's pixels `x` perturbed by the recipe's
    /// attack (the model in evaluation mode while it searches), then the model in training mode
    /// on them. `seed` draws the attack's random start.
    pub fn logits(&self, model: &dyn Module, x: &Tensor, labels: &Tensor, seed: u64) -> RunResult<Var> {
        let labels: Vec<i64> = labels.to_vec_f64()?.into_iter().map(|v| v as i64).collect();
        let clf = PixelClassifier::new(model, &self.normalize, x.dims()[1], nn::device_of(model))?;
        let adversarial = {
            let _eval = EvalMode::enter(model);
            adversarial_batch(&clf, x, &labels, &self.training, seed)?
        };
        Ok(clf.logits(&Var::constant(adversarial))?)
    }

    /// After epoch `epoch` (1-based): the held-out clean and PGD accuracy, whether this epoch is
    /// the best so far, and whether the run should stop. Leaves the model in training mode.
    pub fn check_epoch(&mut self, model: &dyn Module, epoch: usize) -> RunResult<(Value, bool, bool)> {
        let attack = self.training.holdout_attack();
        let report = robust_accuracy(model, &self.normalize, &self.holdout, std::slice::from_ref(&attack), |_| {})?;
        model.set_training(true);
        let robust = report.rows[0].robust_accuracy(report.seen);
        let best = self.stopping.record(epoch, robust);
        let stop = self.stopping.should_stop(epoch, self.training.patience);
        let record = json!({
            "holdout_clean_accuracy": report.clean_accuracy(), "holdout_pgd_accuracy": robust,
            "holdout_best_epoch": self.stopping.best_epoch,
        });
        Ok((record, best, stop))
    }

    /// What a checkpoint records so that `--resume` continues the early stopping where it was.
    pub fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("adversarial".into(), self.training.describe().to_string()),
            ("holdout_best_pgd_accuracy".into(), format!("{}", self.stopping.best_accuracy)),
            ("holdout_best_epoch".into(), self.stopping.best_epoch.to_string()),
        ]
    }

    /// Restores the early stopping state from a checkpoint written by [`Adversarial::metadata`];
    /// a checkpoint of a run that was not adversarial is refused (its recipe would change midway).
    pub fn resume_from(&mut self, ck: &Checkpoint, path: &std::path::Path) -> RunResult<()> {
        let (Some(acc), Some(epoch)) =
            (ck.metadata.get("holdout_best_pgd_accuracy"), ck.metadata.get("holdout_best_epoch"))
        else {
            return Err(RunError::Invalid(format!(
                "{}: not an adversarial-training checkpoint; resume it without --adversarial",
                path.display()
            )));
        };
        let bad = || RunError::Invalid(format!("{}: unreadable early-stopping state", path.display()));
        self.stopping = EarlyStopping {
            best_accuracy: acc.parse().map_err(|_| bad())?,
            best_epoch: epoch.parse().map_err(|_| bad())?,
        };
        Ok(())
    }
}

/// Where an adversarial run keeps the weights of its best held-out epoch.
pub fn best_checkpoint_path(cfg: &RunConfig) -> PathBuf {
    cfg.out_dir.join("best.safetensors")
}
