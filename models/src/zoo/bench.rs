//! Step-time benchmarks of the three workloads (DESIGN.md §6): each [`Workload`] builds the zoo's
//! model and optimizer and returns a closure that runs one whole training step on fixed random data
//! of the workload's exact shapes, plus the median / min summary the CLI and CI report.
//!
//! The data is drawn once, so a step times the engine and not the random-number generator; the GAN
//! step still draws its noise inside, as training does. `benches/pytorch/workloads.py` is the
//! PyTorch twin of these definitions and must stay in step with them.

use super::classifier::Objective;
use super::cnn::{self, CnnVariant};
use super::gan::{self, step::GanState};
use super::run::RunError;
use super::sentiment::{self, SentimentNet};
use crate::nn::{self, Module};
use crate::optim::{Adam, Optimizer};
use kiln_autograd::{backward, Var};
use kiln_tensor::{DType, Device, Result, Rng, Tensor};
use std::str::FromStr;

/// W3's sequence length.
pub const SEQ_LEN: usize = 256;
/// W3's embedding rows: the 20,000 words plus PAD (0) and OOV (1).
pub const VOCAB_SIZE: usize = sentiment::VOCAB_WORDS + 2;

/// One of the three benchmark workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// W1: D update on 64 real + 64 fake, then G update on 64 fresh noise vectors.
    Gan,
    /// W2: the plain CIFAR-10 CNN, batch 64 of 3x32x32, cross-entropy, Adam 1e-3.
    Cnn,
    /// W3: the BiLSTM, batch 32 of 256 tokens, BCE with logits, Adam 1e-3.
    Sentiment,
    /// W2 with BatchNorm2d after every conv and dropout 0.5 (the `bn` accuracy variant), as W2.
    CnnBn,
}

impl Workload {
    pub const ALL: [Workload; 4] = [Workload::Gan, Workload::Cnn, Workload::Sentiment, Workload::CnnBn];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Gan => "gan",
            Workload::Cnn => "cnn",
            Workload::Sentiment => "sentiment",
            Workload::CnnBn => "cnn-bn",
        }
    }

    /// Samples per step (the batch of DESIGN.md §6).
    pub fn batch(self) -> usize {
        match self {
            Workload::Gan => gan::DEFAULT_BATCH,
            Workload::Cnn | Workload::CnnBn => cnn::DEFAULT_BATCH,
            Workload::Sentiment => sentiment::DEFAULT_BATCH,
        }
    }

    /// What a sample is, for "N `<unit>`/s".
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Gan | Workload::Cnn | Workload::CnnBn => "images",
            Workload::Sentiment => "sequences",
        }
    }

    /// FLOPs of one training step's matrix products (2 per multiply-add): every Linear, conv (as
    /// its im2col GEMM) and LSTM projection forward, and their input and weight gradients backward
    /// (no input gradient for a layer whose input is data or an embedding lookup's indices). This
    /// is the work no engine can skip; elementwise work, reductions and the optimizer are left out.
    /// Dividing it by the machine's FMA peak gives the step's floor. W1: 0.79 GFLOP.
    pub fn gemm_flops_per_step(self) -> f64 {
        /// Multiply-adds per row of a chain of Linear layers of these widths.
        fn mlp(widths: &[usize]) -> usize {
            widths.windows(2).map(|w| w[0] * w[1]).sum()
        }
        let macs = match self {
            Workload::Gan => {
                let (g, d) = (gan::model::GENERATOR_WIDTHS, gan::model::DISCRIMINATOR_WIDTHS);
                let batch = self.batch();
                let (g_all, d_all) = (mlp(&g), mlp(&d));
                // The first layer of each net reads data (noise, images): no input gradient there.
                let (g_inner, d_inner) = (mlp(&g[1..]), mlp(&d[1..]));
                let d_update = batch * g_all + 2 * batch * (d_all + d_all + d_inner);
                // The G update backpropagates through all of D (D's weight gradients are computed
                // too, as in PyTorch, then dropped) and through G.
                let g_update = batch * (g_all + d_all + 2 * d_all + g_all + g_inner);
                d_update + g_update
            }
            // BatchNorm adds no GEMM work.
            Workload::Cnn | Workload::CnnBn => {
                // (output pixels, out channels, in channels x 3 x 3) of the three convs, then the MLP.
                let convs = [(30 * 30, 32, 3 * 9), (13 * 13, 64, 32 * 9), (4 * 4, 128, 64 * 9)];
                let conv_macs: Vec<usize> = convs.iter().map(|&(p, o, k)| p * o * k).collect();
                let head = mlp(&[512, 512, 10]);
                let forward = conv_macs.iter().sum::<usize>() + head;
                // Weight gradients everywhere, input gradients for all but the first conv.
                self.batch() * (forward + forward + (forward - conv_macs[0]))
            }
            Workload::Sentiment => {
                let (rows, emb, gates, hidden) = (self.batch() * SEQ_LEN, 128, 4 * 64, 64);
                let projection = rows * emb * gates;
                let recurrent = rows * hidden * gates;
                // Per direction: forward, then the input gradient (into the embedding rows), the
                // input-weight gradient, and through time the state gradient and dW_hh.
                2 * (projection + recurrent + 2 * projection + 2 * recurrent) + self.batch() * mlp(&[128, 1]) * 3
            }
        };
        2.0 * macs as f64
    }

    /// A fresh model, optimizer and random batch (all from `seed`), as a closure running one
    /// training step per call and returning its loss (for the GAN, the discriminator's).
    /// One training step of this workload on fixed random data, with its model and data on
    /// `device`; each call returns the step's loss (read back, so a device step is complete).
    pub fn step_fn(self, seed: u64, device: Device) -> Result<Box<dyn FnMut() -> Result<f32>>> {
        let mut rng = Rng::new(seed);
        match self {
            Workload::Gan => gan_step(&mut rng, device),
            Workload::Cnn | Workload::CnnBn => {
                let variant = match self {
                    Workload::Cnn => CnnVariant::Plain,
                    _ => CnnVariant::BatchNorm { dropout: 0.5 },
                };
                let net = cnn::model(variant, &mut rng);
                let b = self.batch();
                let x = Tensor::randn([b, 3, 32, 32], 0.0, 1.0, DType::F32, &mut rng);
                let y = Tensor::from_vec((0..b).map(|_| rng.below(10) as i64).collect::<Vec<_>>(), [b])?;
                classifier_step(Box::new(net), Objective::CrossEntropy, (x, y), cnn::DEFAULT_LR, device)
            }
            Workload::Sentiment => {
                let net = SentimentNet::new(VOCAB_SIZE, &mut rng)?;
                let b = self.batch();
                // Word ids only (never PAD), so every sequence is full length and the masked LSTM
                // runs all 256 steps in both directions.
                let ids: Vec<i64> = (0..b * SEQ_LEN).map(|_| 2 + rng.below(sentiment::VOCAB_WORDS) as i64).collect();
                let x = Tensor::from_vec(ids, [b, SEQ_LEN])?;
                let y = Tensor::from_vec((0..b).map(|_| rng.below(2) as i64).collect::<Vec<_>>(), [b])?;
                classifier_step(Box::new(net), Objective::BinaryLogits, (x, y), sentiment::DEFAULT_LR, device)
            }
        }
    }
}

impl FromStr for Workload {
    type Err = RunError;
    fn from_str(s: &str) -> std::result::Result<Workload, RunError> {
        Workload::ALL.into_iter().find(|w| w.name() == s).ok_or_else(|| {
            RunError::Invalid(format!("unknown workload `{s}` (expected gan, cnn, sentiment or cnn-bn)"))
        })
    }
}

/// W1 through `gan::step::train_step`, the step training runs; real images uniform in [-1, 1].
fn gan_step(rng: &mut Rng, device: Device) -> Result<Box<dyn FnMut() -> Result<f32>>> {
    let (g, d) = gan::build(rng.next_u64());
    nn::to_device(&g, device)?;
    nn::to_device(&d, device)?;
    let mut opt_g = Adam::new(nn::parameters(&g), gan::DEFAULT_LR, gan::BETAS, 0.0);
    let mut opt_d = Adam::new(nn::parameters(&d), gan::DEFAULT_LR, gan::BETAS, 0.0);
    let real = Tensor::rand_uniform([gan::DEFAULT_BATCH, gan::model::IMAGE_DIM], -1.0, 1.0, DType::F32, rng)
        .to_device(device)?;
    let mut rng = Rng::new(rng.next_u64());
    Ok(Box::new(move || {
        let mut state = GanState { generator: &g, discriminator: &d, opt_g: &mut opt_g, opt_d: &mut opt_d };
        Ok(gan::step::train_step(&mut state, &real, &mut rng)?.0)
    }))
}

/// W2 / W3: the body of the shared classifier loop (`classifier::ClassifierRun`): forward, loss
/// (with the accuracy count training also does), backward, Adam (betas 0.9 / 0.999).
fn classifier_step(
    net: Box<dyn Module>,
    objective: Objective,
    (x, y): (Tensor, Tensor),
    lr: f64,
    device: Device,
) -> Result<Box<dyn FnMut() -> Result<f32>>> {
    nn::to_device(net.as_ref(), device)?;
    // The labels stay on the host, as a training loop's batch does (loss_and_correct moves them).
    let x = x.to_device(device)?;
    let mut opt = Adam::new(nn::parameters(net.as_ref()), lr, (0.9, 0.999), 0.0);
    net.set_training(true);
    Ok(Box::new(move || {
        let logits = net.forward(&Var::constant(x.clone()))?;
        let (loss, _correct) = objective.loss_and_correct(&logits, &y).map_err(|e| match e {
            RunError::Tensor(e) => e,
            other => kiln_tensor::Error::invalid("bench", other.to_string()),
        })?;
        opt.step(&backward(&loss)?)?;
        loss.tensor().to_scalar::<f32>()
    }))
}

/// Median and minimum of per-step times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    pub median_ms: f64,
    pub min_ms: f64,
    pub steps: usize,
}

impl StepStats {
    /// Summarises `ms` (one entry per step; the median of an even count is the mean of the middle two).
    pub fn of(ms: &[f64]) -> Option<StepStats> {
        if ms.is_empty() {
            return None;
        }
        let mut v = ms.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median_ms = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 };
        Some(StepStats { median_ms, min_ms: v[0], steps: n })
    }

    /// Samples per second at the median step time.
    pub fn per_second(&self, batch: usize) -> f64 {
        batch as f64 * 1000.0 / self.median_ms
    }
}

/// Runs `warmup` untimed steps, then `steps` timed ones; returns each timed step in milliseconds.
/// A non-finite loss is an error (a benchmark of a diverged model measures nothing useful).
pub fn time_steps(step: &mut dyn FnMut() -> Result<f32>, warmup: usize, steps: usize) -> Result<Vec<f64>> {
    for _ in 0..warmup {
        step()?;
    }
    let mut ms = Vec::with_capacity(steps);
    for _ in 0..steps {
        let start = std::time::Instant::now();
        let loss = step()?;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
        if !loss.is_finite() {
            return Err(kiln_tensor::Error::invalid("bench", format!("step loss {loss} is not finite")));
        }
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_median_and_min() {
        let s = StepStats::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median_ms, s.min_ms, s.steps), (3.0, 1.0, 3));
        let s = StepStats::of(&[4.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median_ms, s.min_ms, s.steps), (3.0, 1.0, 4));
        assert_eq!(s.per_second(6), 2000.0);
        assert!(StepStats::of(&[]).is_none());
    }

    #[test]
    fn workload_names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>().unwrap(), w);
        }
        assert!("lenet".parse::<Workload>().is_err());
        assert_eq!([Workload::Gan.batch(), Workload::Cnn.batch(), Workload::Sentiment.batch()], [64, 64, 32]);
    }

    /// The GAN step trains: the discriminator, on one fixed real batch, gets better at telling it
    /// from the generator's output over a few steps.
    #[test]
    fn gan_step_trains_discriminator() {
        let mut step = Workload::Gan.step_fn(7, Device::Cpu).unwrap();
        let losses: Vec<f32> = (0..6).map(|_| step().unwrap()).collect();
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        assert!(losses[5] < losses[0], "discriminator loss did not fall: {losses:?}");
    }

    /// The FLOP counts the bench divides by: W1's 0.79 GFLOP (DESIGN.md, issue 12) and the others'
    /// layer arithmetic worked by hand.
    #[test]
    fn gemm_flops_per_step_match_the_hand_counts() {
        let gflop = |w: Workload| w.gemm_flops_per_step() / 1e9;
        assert!((gflop(Workload::Gan) - 0.7934).abs() < 1e-3, "{}", gflop(Workload::Gan));
        // W2: 5,339,520 MACs per image forward (convs 777,600 + 3,115,008 + 1,179,648, MLP 267,264).
        assert!((gflop(Workload::Cnn) - 1.9508).abs() < 1e-3, "{}", gflop(Workload::Cnn));
        assert!((gflop(Workload::Sentiment) - 4.8319).abs() < 1e-3, "{}", gflop(Workload::Sentiment));
    }

    /// The CNN step trains: on one fixed batch the loss falls.
    #[test]
    fn cnn_step_trains() {
        let mut step = Workload::Cnn.step_fn(7, Device::Cpu).unwrap();
        let losses: Vec<f32> = (0..4).map(|_| step().unwrap()).collect();
        assert!(losses[3] < losses[0], "cnn loss did not fall: {losses:?}");
    }
}
