//! Robust accuracy of an image classifier over a dataset: per batch the clean verdicts once, then
//! each attack's; the model runs in evaluation mode (BatchNorm's running statistics, no dropout)
//! and gets its previous mode back afterwards, also when an attack fails. Printing and pictures
//! are the CLI's; this file only counts.

use super::attack::{attack, AttackConfig, AttackOutcome};
use super::pixels::{PixelClassifier, Verdicts};
use crate::data::{Batch, BatchSource, Loader, Normalize};
use crate::nn::{self, Module};
use kiln_tensor::{Result, Tensor};

/// Puts a model in evaluation mode and restores the mode it had when dropped.
pub struct EvalMode<'a> {
    model: &'a dyn Module,
    was_training: Option<bool>,
}

impl<'a> EvalMode<'a> {
    pub fn enter(model: &'a dyn Module) -> EvalMode<'a> {
        let was_training = model.training();
        model.set_training(false);
        EvalMode { model, was_training }
    }
}

impl Drop for EvalMode<'_> {
    fn drop(&mut self) {
        if let Some(training) = self.was_training {
            self.model.set_training(training);
        }
    }
}

/// One attack's result over the samples seen.
#[derive(Debug, Clone, PartialEq)]
pub struct RobustRow {
    pub attack: AttackConfig,
    /// Samples still classified correctly after the attack (a targeted attack: not sent to its target
    /// either; see [`RobustRow::robust_accuracy`]).
    pub robust_correct: usize,
    /// Samples the attack sent to its target class (targeted attacks; 0 otherwise).
    pub hit_target: usize,
}

/// Clean and robust accuracy over a dataset, and the first batch's images for pictures.
#[derive(Debug, Clone)]
pub struct RobustReport {
    pub seen: usize,
    pub clean_correct: usize,
    pub rows: Vec<RobustRow>,
    /// The first batch: clean images, labels, clean verdicts, and each attack's outcome.
    pub first_batch: Option<(Tensor, Vec<i64>, Verdicts, Vec<AttackOutcome>)>,
    pub seconds: f64,
}

impl RobustReport {
    pub fn clean_accuracy(&self) -> f64 {
        self.clean_correct as f64 / self.seen.max(1) as f64
    }
}

impl RobustRow {
    pub fn robust_accuracy(&self, seen: usize) -> f64 {
        self.robust_correct as f64 / seen.max(1) as f64
    }
}

/// Runs every attack in `attacks` on every batch of `loader` (which must yield unnormalised pixels
/// in [0, 1], `Normalize::Unit`) against `model`, which expects inputs normalised as `normalize`.
/// `on_batch(samples_done)` is called after each batch (progress bars).
pub fn robust_accuracy<S: BatchSource>(
    model: &dyn Module,
    normalize: &Normalize,
    loader: &Loader<S>,
    attacks: &[AttackConfig],
    mut on_batch: impl FnMut(usize),
) -> Result<RobustReport> {
    let start = std::time::Instant::now();
    let _mode = EvalMode::enter(model);
    let device = nn::device_of(model);
    let mut clf: Option<PixelClassifier> = None;
    let mut report = RobustReport { seen: 0, clean_correct: 0, rows: vec![], first_batch: None, seconds: 0.0 };
    report.rows = attacks.iter().map(|a| RobustRow { attack: a.clone(), robust_correct: 0, hit_target: 0 }).collect();
    for batch in loader.epoch(0) {
        let Batch { inputs, labels, .. } =
            batch.map_err(|e| kiln_tensor::Error::invalid("robust_accuracy", e.to_string()))?;
        let x = inputs.to_device(device)?;
        let labels: Vec<i64> = labels.to_vec_f64()?.into_iter().map(|v| v as i64).collect();
        if clf.is_none() {
            clf = Some(PixelClassifier::new(model, normalize, x.dims()[1], device)?);
        }
        let clf = clf.as_ref().expect("set above");
        let clean = clf.verdicts(&x, &labels)?;
        report.clean_correct += clean.predicted.iter().zip(&labels).filter(|(p, y)| p == y).count();
        let mut outcomes = Vec::new();
        for (row, cfg) in report.rows.iter_mut().zip(attacks) {
            let outcome = attack(clf, &x, &labels, cfg)?;
            let predicted = &outcome.verdicts.predicted;
            row.robust_correct += predicted.iter().zip(&labels).filter(|(p, y)| p == y).count();
            if let Some(t) = cfg.target {
                row.hit_target += predicted.iter().filter(|&&p| p == t).count();
            }
            outcomes.push(outcome);
        }
        report.seen += labels.len();
        if report.first_batch.is_none() {
            report.first_batch = Some((x, labels, clean, outcomes));
        }
        on_batch(report.seen);
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
