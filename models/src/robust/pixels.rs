//! An image classifier seen from pixel space: inputs in [0, 1], the model's normalisation applied
//! inside as autograd ops, so an attack's eps is in pixels (8/255 is eight grey levels) and the
//! gradient it follows is taken with respect to the pixels themselves.
//!
//! kiln's image models were trained on inputs normalised by the data loader (`Normalize`); this
//! wrapper puts that affine map in front of the network: `(x - m) / s = x * (1 / s) + (-m / s)`
//! per channel. (The loader computes the same map from u8 pixels in another order, so logits can
//! differ from `kiln eval`'s in the last bits.) It must not train or change the model.

use crate::data::Normalize;
use crate::nn::Module;
use kiln_autograd::{cross_entropy, grad_of, no_grad, Var};
use kiln_tensor::{DType, Device, Error, Result, Tensor};

/// A classifier of `[B, C, H, W]` pixel batches in [0, 1] returning logits `[B, classes]`.
pub struct PixelClassifier<'a> {
    model: &'a dyn Module,
    /// `[1, C, 1, 1]` per-channel scale and shift of the normalisation, on the model's device.
    scale: Tensor,
    shift: Tensor,
}

/// Per sample of a batch: the loss the attack climbs, the predicted class, and its probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdicts {
    pub loss: Vec<f32>,
    pub predicted: Vec<i64>,
    pub confidence: Vec<f32>,
}

impl<'a> PixelClassifier<'a> {
    /// Wraps `model`, which expects inputs normalised as `normalize` does, for `channels`-channel
    /// images; `device` is where the model's parameters live.
    pub fn new(model: &'a dyn Module, normalize: &Normalize, channels: usize, device: Device) -> Result<Self> {
        let (scale, shift): (Vec<f32>, Vec<f32>) = match normalize {
            Normalize::Unit => (vec![1.0; channels], vec![0.0; channels]),
            Normalize::Symmetric => (vec![2.0; channels], vec![-1.0; channels]),
            Normalize::MeanStd { mean, std } => {
                if mean.len() != channels || std.len() != channels || std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                    return Err(Error::invalid(
                        "PixelClassifier",
                        format!("normalisation {mean:?} / {std:?} does not fit {channels} channels"),
                    ));
                }
                (std.iter().map(|s| 1.0 / s).collect(), mean.iter().zip(std).map(|(m, s)| -m / s).collect())
            }
        };
        let shape = [1, channels, 1, 1];
        Ok(PixelClassifier {
            model,
            scale: Tensor::from_vec(scale, shape)?.to_device(device)?,
            shift: Tensor::from_vec(shift, shape)?.to_device(device)?,
        })
    }

    /// The wrapped model (callers switch its mode, e.g. `EvalMode`).
    pub fn model(&self) -> &'a dyn Module {
        self.model
    }

    /// Where the model (and so every batch it is given) lives.
    pub fn device(&self) -> Device {
        self.scale.device()
    }

    /// The logits of a pixel batch (records a graph when `x` requires a gradient).
    pub fn logits(&self, x: &Var) -> Result<Var> {
        let normalised = x.mul(&Var::constant(self.scale.clone()))?.add(&Var::constant(self.shift.clone()))?;
        self.model.forward(&normalised)
    }

    /// The pixel batch's verdicts without a graph. `goal` names, per sample, the class whose
    /// cross-entropy is reported as the loss (the true label, or an attack's target).
    pub fn verdicts(&self, x: &Tensor, goal: &[i64]) -> Result<Verdicts> {
        let logits = no_grad(|| self.logits(&Var::constant(x.clone())))?;
        verdicts_of(logits.tensor(), goal)
    }

    /// The gradient of the mean cross-entropy towards `goal` with respect to the pixels, and the
    /// verdicts at `x`: one forward and one backward; the graph is dropped before returning.
    pub fn input_gradient(&self, x: &Tensor, goal: &[i64]) -> Result<(Tensor, Verdicts)> {
        let input = Var::leaf(x.clone());
        let logits = self.logits(&input)?;
        let targets = Tensor::from_vec(goal.to_vec(), [goal.len()])?.to_device(x.device())?;
        let loss = cross_entropy(&logits, &targets)?;
        let verdicts = verdicts_of(logits.tensor(), goal)?;
        // The pixels' gradient only (no weight gradients): about a third less work than backward.
        let grads = grad_of(&loss, &[&input])?;
        let grad = grads.get(&input).cloned().ok_or_else(|| {
            Error::invalid("input_gradient", "the model's output does not depend on its input".to_string())
        })?;
        Ok((grad, verdicts))
    }
}

/// Per-sample cross-entropy towards `goal`, argmax and its softmax probability, from `[B, K]`
/// logits (read on the host: B x K numbers).
pub fn verdicts_of(logits: &Tensor, goal: &[i64]) -> Result<Verdicts> {
    let dims = logits.dims();
    if dims.len() != 2 || dims[0] != goal.len() {
        return Err(Error::invalid(
            "verdicts",
            format!("logits of shape {dims:?} for {} labels: an image classifier gives [batch, classes]", goal.len()),
        ));
    }
    let k = dims[1];
    if let Some(bad) = goal.iter().find(|&&g| g < 0 || g as usize >= k) {
        return Err(Error::invalid("verdicts", format!("class {bad} is outside the model's {k} classes")));
    }
    let values = logits.to_dtype(DType::F32)?.to_vec::<f32>()?;
    let mut out = Verdicts { loss: vec![], predicted: vec![], confidence: vec![] };
    for (row, &g) in values.chunks(k.max(1)).zip(goal) {
        let (best, top) = row.iter().enumerate().fold(
            (0, f32::NEG_INFINITY),
            |(bi, bv), (i, &v)| {
                if v > bv {
                    (i, v)
                } else {
                    (bi, bv)
                }
            },
        );
        let sum: f64 = row.iter().map(|&v| ((v - top) as f64).exp()).sum();
        let log_sum = top as f64 + sum.ln();
        out.loss.push((log_sum - row[g as usize] as f64) as f32);
        out.predicted.push(best as i64);
        out.confidence.push((1.0 / sum) as f32);
    }
    Ok(out)
}
