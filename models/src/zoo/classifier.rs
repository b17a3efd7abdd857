//! The training loop the three classifiers share (LeNet, the W2 CNN, the W3 BiLSTM): epochs of
//! forward / loss / backward / optimizer step with a progress bar, evaluation on the test split,
//! a checkpoint every epoch, and resume from one. The models differ only in what they pass in.
//! An adversarial run (`adversarial.rs`) trains on perturbed batches and stops early on held-out
//! PGD accuracy, keeping its best epoch's weights beside the last; a distilled run (`distill.rs`)
//! adds its teacher's soft outputs to the loss.

use super::adversarial::{best_checkpoint_path, Adversarial};
use super::distill::Distillation;
use super::run::{
    add_module, add_optimizer, base_metadata, check_loss, checkpoint_info, load_module, optimizer_state, seconds,
    ModelKind, Reporter, RunConfig, RunError, RunResult,
};
use crate::checkpoint::Checkpoint;
use crate::data::{Batch, BatchSource, Loader};
use crate::nn::{self, Module};
use crate::optim::{LrSchedule, Optimizer};
use crate::train::Progress;
use kiln_autograd::{backward, bce_with_logits, cross_entropy, no_grad, Var};
use kiln_kernels::reduce::argmax;
use kiln_tensor::{DType, Tensor};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Instant;

/// What the logits mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Logits [B, C], integer labels, cross-entropy; predicted class = argmax.
    CrossEntropy,
    /// One logit per sample (`[B]` or `[B, 1]`), labels 0/1, BCE with logits; predicted 1 when logit > 0.
    BinaryLogits,
}

impl Objective {
    /// The mean loss of a batch and the number of correct predictions in it. `labels` are the
    /// batch's labels on the host: the truth is read there, and the loss gets them on the logits'
    /// device, converted first where it needs floats (so a GPU step downloads only its predictions).
    pub fn loss_and_correct(self, logits: &Var, labels: &Tensor) -> RunResult<(Var, usize)> {
        let truth = labels.to_vec_f64()?;
        let device = logits.device();
        match self {
            Objective::CrossEntropy => {
                let loss = cross_entropy(logits, &labels.to_device(device)?)?;
                let pred = argmax(logits.tensor(), 1, false)?.to_vec::<i64>()?;
                Ok((loss, pred.iter().zip(&truth).filter(|(p, t)| **p as f64 == **t).count()))
            }
            Objective::BinaryLogits => {
                let b = logits.elem_count();
                let flat = logits.reshape([b])?;
                let targets = Var::constant(labels.to_dtype(DType::F32)?.reshape([b])?.to_device(device)?);
                let loss = bce_with_logits(&flat, &targets)?;
                let pred = flat.tensor().to_vec_f64()?;
                Ok((loss, pred.iter().zip(&truth).filter(|(p, t)| (**p > 0.0) == (**t > 0.5)).count()))
            }
        }
    }
}

/// Mean loss and accuracy of `model` (in evaluation mode, no graph) over a loader's batches.
pub fn evaluate<S: BatchSource>(model: &dyn Module, loader: &Loader<S>, objective: Objective) -> RunResult<(f64, f64)> {
    model.set_training(false);
    let device = nn::device_of(model);
    let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
    for batch in loader.epoch(0) {
        let Batch { inputs, labels, .. } = batch?;
        let inputs = inputs.to_device(device)?;
        let n = labels.elem_count();
        let (loss, ok) = no_grad(|| -> RunResult<(f64, usize)> {
            let logits = model.forward(&Var::constant(inputs))?;
            let (loss, ok) = objective.loss_and_correct(&logits, &labels)?;
            Ok((loss.tensor().to_scalar::<f32>()? as f64, ok))
        })?;
        loss_sum += loss * n as f64;
        correct += ok;
        seen += n;
    }
    model.set_training(true);
    if seen == 0 {
        return Err(RunError::Invalid("evaluation set is empty".into()));
    }
    Ok((loss_sum / seen as f64, correct as f64 / seen as f64))
}

/// Adds `extra`'s fields to the JSON object `into`.
fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

/// One classifier training run.
pub struct ClassifierRun<'a, S: BatchSource, T: BatchSource> {
    pub kind: ModelKind,
    pub cfg: &'a RunConfig,
    pub model: &'a dyn Module,
    pub optimizer: &'a mut dyn Optimizer,
    pub schedule: LrSchedule,
    pub objective: Objective,
    pub train: Loader<S>,
    pub test: Loader<T>,
    /// Extra metadata for the checkpoint (e.g. where the vocabulary is).
    pub metadata: BTreeMap<String, String>,
    /// Adversarial training: the training loader then yields pixels in [0, 1].
    pub adversarial: Option<Adversarial<S>>,
    /// Knowledge distillation: a teacher whose soft outputs join the loss.
    pub distillation: Option<Distillation>,
}

impl<S: BatchSource, T: BatchSource> ClassifierRun<'_, S, T> {
    /// Trains for the configured epochs (continuing after a resumed checkpoint's epoch) and returns
    /// the final record.
    pub fn run(self) -> RunResult<Value> {
        let ClassifierRun {
            kind,
            cfg,
            model,
            optimizer,
            schedule,
            objective,
            train,
            test,
            metadata,
            mut adversarial,
            distillation,
        } = self;
        cfg.validate()?;
        if cfg.adversarial.is_some() && adversarial.is_none() {
            return Err(RunError::Invalid(format!(
                "{} cannot train adversarially (image classifiers only)",
                kind.name()
            )));
        }
        let mut start_epoch = 0;
        if let Some(path) = &cfg.resume {
            let ck = Checkpoint::load(path)?;
            let (saved_kind, epoch) = checkpoint_info(&ck, path)?;
            if saved_kind != kind {
                return Err(RunError::Invalid(format!(
                    "{}: a {} checkpoint, not {}",
                    path.display(),
                    saved_kind.name(),
                    kind.name()
                )));
            }
            load_module(&ck, "model", model)?;
            optimizer.load_state(&optimizer_state(&ck, "optim"))?;
            if let Some(adv) = adversarial.as_mut() {
                adv.resume_from(&ck, path)?;
            }
            start_epoch = epoch;
        }
        if adversarial.is_some() && distillation.is_some() {
            return Err(RunError::Invalid("a run either trains adversarially or distils, not both".into()));
        }
        nn::to_device(model, cfg.device)?;
        if let Some(d) = &distillation {
            d.to_device(cfg.device)?;
        }
        let base_lr = optimizer.lr();
        let mut reporter = Reporter::open(cfg, kind)?;
        let mut last = json!({});
        for epoch in start_epoch..cfg.epochs {
            let start = Instant::now();
            optimizer.set_lr(schedule.lr_at(base_lr, epoch));
            model.set_training(true);
            model.reseed(cfg.seed ^ (epoch as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
            let progress = Progress::new(train.batches_per_epoch() as u64, &format!("epoch {}", epoch + 1), !cfg.json);
            let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
            for (step, batch) in train.epoch(epoch as u64).enumerate() {
                let Batch { inputs, labels, .. } = batch?;
                let inputs = inputs.to_device(cfg.device)?;
                let logits = match &adversarial {
                    None => model.forward(&Var::constant(inputs.clone()))?,
                    Some(adv) => {
                        let seed = cfg.seed ^ ((epoch as u64) << 32 | step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        adv.logits(model, &inputs, &labels, seed)?
                    }
                };
                let (loss, ok) = match &distillation {
                    None => objective.loss_and_correct(&logits, &labels)?,
                    Some(d) => d.loss_and_correct(objective, &logits, &inputs, &labels)?,
                };
                let grads = backward(&loss)?;
                optimizer.step(&grads)?;
                let l = loss.tensor().to_scalar::<f32>()? as f64;
                check_loss("the training loss", l, epoch, step + 1)?;
                let n = labels.elem_count();
                loss_sum += l * n as f64;
                correct += ok;
                seen += n;
                progress.tick(format!("loss {:.4}", loss_sum / seen as f64));
            }
            progress.finish();
            let train_seconds = seconds(start);
            let held_out = match adversarial.as_mut() {
                Some(adv) => Some(adv.check_epoch(model, epoch + 1)?),
                None => None,
            };
            let stop = held_out.as_ref().is_some_and(|h| h.2);
            // `--eval-every K`: the test set every K epochs, at the last and where the run stops.
            let due = (epoch + 1) % cfg.eval_every == 0 || epoch + 1 == cfg.epochs || stop;
            let tested = if due { Some(evaluate(model, &test, objective)?) } else { None };
            let mut ck = Checkpoint::new();
            add_module(&mut ck, "model", model);
            add_optimizer(&mut ck, "optim", optimizer);
            ck.metadata = base_metadata(kind, epoch + 1, cfg);
            ck.metadata.extend(metadata.clone());
            if let Some((_, test_acc)) = tested {
                ck.metadata.insert("test_accuracy".into(), format!("{test_acc}"));
            }
            if let Some(adv) = &adversarial {
                ck.metadata.extend(adv.metadata());
            }
            ck.save(&cfg.checkpoint_path())?;
            last = json!({
                "epoch": epoch + 1, "train_loss": loss_sum / seen.max(1) as f64,
                "train_accuracy": correct as f64 / seen.max(1) as f64, "lr": optimizer.lr(),
                "train_seconds": train_seconds, "seconds": seconds(start),
            });
            if let Some((test_loss, test_acc)) = tested {
                merge(&mut last, json!({ "test_loss": test_loss, "test_accuracy": test_acc }));
            }
            if let Some((record, best, _)) = held_out {
                if best {
                    ck.save(&best_checkpoint_path(cfg))?;
                }
                merge(&mut last, record);
            }
            reporter.epoch(last.clone())?;
            if stop {
                break;
            }
        }
        let mut fin = json!({
            "model": kind.name(), "epochs": last.get("epoch"), "test_accuracy": last.get("test_accuracy"),
            "checkpoint": cfg.checkpoint_path().display().to_string(),
        });
        if let Some(adv) = &adversarial {
            merge(
                &mut fin,
                json!({ "stopped_early": last.get("epoch").and_then(Value::as_u64) < Some(cfg.epochs as u64),
                        "best_epoch": adv.stopping.best_epoch, "best_holdout_pgd_accuracy": adv.stopping.best_accuracy,
                        "best_checkpoint": best_checkpoint_path(cfg).display().to_string() }),
            );
        }
        reporter.finish(fin.clone())?;
        Ok(fin)
    }
}
