//! Judging a generator with a trained LeNet: generate N samples, classify them, and report how the
//! samples spread over the ten digits (mode collapse shows as uneven shares), the mean top-class
//! probability, and the fraction of confident (p > 0.9) samples.

use super::step::noise;
use crate::nn::{self, Module};
use kiln_autograd::{no_grad, Var};
use kiln_kernels::elementwise::{unary, UnaryOp};
use kiln_kernels::softmax::softmax;
use kiln_tensor::{Error, Result, Rng, Tensor};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct JudgeReport {
    pub samples: usize,
    pub class_share: [f64; 10],
    pub mean_max_prob: f64,
    pub confident_fraction: f64,
}

impl JudgeReport {
    pub fn to_json(&self) -> Value {
        json!({
            "samples": self.samples, "class_share": self.class_share.to_vec(),
            "mean_max_prob": self.mean_max_prob, "confident_fraction": self.confident_fraction,
        })
    }
}

/// Maps generator output in [-1, 1] to LeNet's input normalisation (MNIST mean/std):
/// `((x + 1) / 2 - 0.1307) / 0.3081`, one affine map on whatever device the images are.
fn to_lenet_input(images: &Tensor, b: usize) -> Result<Tensor> {
    let (mean, std) = (0.1307, 0.3081);
    unary(UnaryOp::Affine { mul: 0.5 / std, add: (0.5 - mean) / std }, images)?.reshape([b, 1, 28, 28])
}

pub fn judge(generator: &dyn Module, lenet: &dyn Module, samples: usize, seed: u64) -> Result<JudgeReport> {
    if samples == 0 {
        // Shares of zero samples would be 0/0 = NaN.
        return Err(Error::invalid("judge", "at least one sample must be judged (--samples)"));
    }
    generator.set_training(false);
    lenet.set_training(false);
    let mut rng = Rng::new(seed);
    let (mut counts, mut prob_sum, mut confident) = ([0usize; 10], 0.0, 0usize);
    let mut done = 0;
    while done < samples {
        let b = (samples - done).min(500);
        let probs = no_grad(|| -> Result<Tensor> {
            let z = noise(b, &mut rng).to_device(nn::device_of(generator))?;
            let images = generator.forward(&Var::constant(z))?;
            let logits = lenet.forward(&Var::constant(to_lenet_input(images.tensor(), b)?))?;
            softmax(logits.tensor(), 1)
        })?
        .to_vec::<f32>()?;
        for row in probs.chunks(10) {
            let (best, p) = row.iter().enumerate().fold((0, 0.0f32), |a, (i, &p)| if p > a.1 { (i, p) } else { a });
            counts[best] += 1;
            prob_sum += p as f64;
            confident += (p > 0.9) as usize;
        }
        done += b;
    }
    let mut class_share = [0.0; 10];
    for (s, c) in class_share.iter_mut().zip(counts) {
        *s = c as f64 / samples as f64;
    }
    Ok(JudgeReport {
        samples,
        class_share,
        mean_max_prob: prob_sum / samples as f64,
        confident_fraction: confident as f64 / samples as f64,
    })
}
