//! The attacks, on one batch of pixel images: FGSM, PGD-Linf (random start, restarts) and the
//! "optimizer attack" (kiln's own Adam on the input, as torch users write `Adam([x_adv])`).
//! Conventions are torchattacks' / Madry et al.'s: pixels in [0, 1], an L-infinity ball of radius
//! `eps` around the clean image, untargeted attacks climb the cross-entropy of the true label,
//! targeted ones descend the cross-entropy of the target class.
//!
//! Each step is one forward and one backward through [`PixelClassifier::input_gradient`]; the graph
//! is dropped at once, so nothing grows with the number of steps. The sign step and the projection
//! run on the host over the batch's pixels (a few hundred KB for CIFAR-10): simple and exact, and on
//! a GPU the price is one download and one upload of the batch per step. This file must not touch
//! the model's mode or data loading (see `eval.rs`).

use super::pixels::{PixelClassifier, Verdicts};
use crate::optim::{Adam, Optimizer};
use kiln_autograd::{backward, cross_entropy, Var};
use kiln_tensor::{Error, Result, Rng, Tensor};

/// Which attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// One signed-gradient step of size eps (Goodfellow et al. 2015).
    Fgsm,
    /// Projected gradient descent, L-infinity (Madry et al. 2018).
    Pgd,
    /// Adam on the input (step size `alpha`), projected after each step.
    Adam,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Fgsm => "fgsm",
            Method::Pgd => "pgd",
            Method::Adam => "adam",
        }
    }

    pub fn parse(s: &str) -> Result<Method> {
        [Method::Fgsm, Method::Pgd, Method::Adam]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::invalid("attack", format!("unknown method `{s}` (expected fgsm, pgd or adam)")))
    }
}

/// An attack's settings. `alpha` is PGD's step (torchattacks: 2/255) or Adam's learning rate.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackConfig {
    pub method: Method,
    pub eps: f32,
    pub alpha: f32,
    pub steps: usize,
    /// PGD: start at a uniform point of the eps-ball instead of the clean image.
    pub random_start: bool,
    /// PGD / Adam: independent runs; per sample the first successful (else the highest-loss) wins.
    pub restarts: usize,
    /// Attack towards this class instead of away from the true label.
    pub target: Option<i64>,
    pub seed: u64,
}

impl AttackConfig {
    /// FGSM at `eps`.
    pub fn fgsm(eps: f32) -> AttackConfig {
        AttackConfig {
            method: Method::Fgsm,
            eps,
            alpha: eps,
            steps: 1,
            random_start: false,
            restarts: 1,
            target: None,
            seed: 0,
        }
    }

    /// PGD with `steps` steps of `alpha` from a random start, one restart.
    pub fn pgd(eps: f32, alpha: f32, steps: usize) -> AttackConfig {
        AttackConfig { method: Method::Pgd, eps, alpha, steps, random_start: true, restarts: 1, target: None, seed: 0 }
    }

    /// Adam on the input with learning rate `lr` for `steps` steps, from the clean image.
    pub fn adam(eps: f32, lr: f32, steps: usize) -> AttackConfig {
        AttackConfig {
            method: Method::Adam,
            eps,
            alpha: lr,
            steps,
            random_start: false,
            restarts: 1,
            target: None,
            seed: 0,
        }
    }

    /// A clear error for settings no attack can run with.
    pub fn check(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::invalid("attack", msg));
        if !(self.eps.is_finite() && (0.0..=1.0).contains(&self.eps)) {
            return bad(format!("eps {} is not in [0, 1] (pixels are in [0, 1])", self.eps));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) && self.eps > 0.0 {
            return bad(format!("step size {} is not a positive number", self.alpha));
        }
        if self.steps == 0 {
            return bad("steps must be at least 1".into());
        }
        if self.restarts == 0 {
            return bad("restarts must be at least 1".into());
        }
        Ok(())
    }
}

/// What an attack did to one batch.
#[derive(Debug, Clone)]
pub struct AttackOutcome {
    /// The adversarial batch, same shape and device as the clean one.
    pub adversarial: Tensor,
    /// The model's verdicts on it (loss towards the attack's goal, prediction, confidence).
    pub verdicts: Verdicts,
}

/// The clean pixels and the class each sample's loss is taken against, after checking the call:
/// a `[B, C, H, W]` batch in [0, 1] with B labels.
fn prepare(x: &Tensor, labels: &[i64], cfg: &AttackConfig) -> Result<(Vec<f32>, Vec<usize>, Vec<i64>)> {
    cfg.check()?;
    let shape = x.dims().to_vec();
    let b = *shape.first().unwrap_or(&0);
    if shape.len() != 4 || labels.len() != b {
        return Err(Error::invalid("attack", format!("images of shape {shape:?} with {} labels", labels.len())));
    }
    let clean = x.to_dtype(kiln_tensor::DType::F32)?.to_vec::<f32>()?;
    if let Some(p) = clean.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(Error::invalid("attack", format!("pixel {p} is outside [0, 1]: attacks take unnormalised images")));
    }
    let goal: Vec<i64> = match cfg.target {
        Some(t) => vec![t; b],
        None => labels.to_vec(),
    };
    Ok((clean, shape, goal))
}

/// One run of the attack (its first restart) and nothing else: no verdicts, so it costs exactly
/// `steps` forwards and backwards. Adversarial training perturbs every batch with it.
pub fn perturb(clf: &PixelClassifier, x: &Tensor, labels: &[i64], cfg: &AttackConfig) -> Result<Tensor> {
    let (clean, shape, goal) = prepare(x, labels, cfg)?;
    let problem = Problem { clf, clean: &clean, shape: &shape, goal: &goal, cfg, ascend: cfg.target.is_none() };
    to_tensor(&problem.run(&mut Rng::new(cfg.seed))?, &shape, x)
}

/// Attacks the pixel batch `x` (`[B, C, H, W]` in [0, 1]) whose true classes are `labels`.
/// The model must already be in evaluation mode (see `eval::attack_batch_in_eval_mode`).
pub fn attack(clf: &PixelClassifier, x: &Tensor, labels: &[i64], cfg: &AttackConfig) -> Result<AttackOutcome> {
    let (clean, shape, goal) = prepare(x, labels, cfg)?;
    let b = labels.len();
    // One forward first: it checks the goal classes against the model's (a clear error, not one
    // from deep inside the loss) before any step is taken.
    clf.verdicts(x, &goal)?;
    // Untargeted: climb the loss of the truth; targeted: descend the loss of the target.
    let ascend = cfg.target.is_none();
    let succeeded =
        |v: &Verdicts, i: usize| if ascend { v.predicted[i] != labels[i] } else { v.predicted[i] == goal[i] };
    let mut rng = Rng::new(cfg.seed);
    let per = clean.len() / b.max(1);
    let mut best: Option<(Vec<f32>, Verdicts)> = None;
    for _ in 0..cfg.restarts {
        let problem = Problem { clf, clean: &clean, shape: &shape, goal: &goal, cfg, ascend };
        let run = problem.run(&mut rng)?;
        let verdicts = clf.verdicts(&to_tensor(&run, &shape, x)?, &goal)?;
        best = Some(match best {
            None => (run, verdicts),
            Some((mut pixels, mut kept)) => {
                // Per sample: keep the first success; among failures, the worse loss for the model.
                for i in 0..b {
                    let better_loss =
                        if ascend { verdicts.loss[i] > kept.loss[i] } else { verdicts.loss[i] < kept.loss[i] };
                    if !succeeded(&kept, i) && (succeeded(&verdicts, i) || better_loss) {
                        pixels[i * per..(i + 1) * per].copy_from_slice(&run[i * per..(i + 1) * per]);
                        kept.loss[i] = verdicts.loss[i];
                        kept.predicted[i] = verdicts.predicted[i];
                        kept.confidence[i] = verdicts.confidence[i];
                    }
                }
                (pixels, kept)
            }
        });
    }
    let (pixels, verdicts) = best.expect("restarts >= 1");
    Ok(AttackOutcome { adversarial: to_tensor(&pixels, &shape, x)?, verdicts })
}

/// `values` as an f32 tensor of `shape` on `like`'s device.
fn to_tensor(values: &[f32], shape: &[usize], like: &Tensor) -> Result<Tensor> {
    Tensor::from_slice(values, shape)?.to_device(like.device())
}

/// Clamps `adv` into the eps-ball around `clean` and into [0, 1], in place.
fn project(adv: &mut [f32], clean: &[f32], eps: f32) {
    for (a, &c) in adv.iter_mut().zip(clean) {
        *a = a.clamp(c - eps, c + eps).clamp(0.0, 1.0);
    }
}

/// One restart's inputs: the clean pixels of the batch, its shape, the class each sample's loss is
/// taken against, and whether the attack climbs that loss (untargeted) or descends it.
struct Problem<'a> {
    clf: &'a PixelClassifier<'a>,
    clean: &'a [f32],
    shape: &'a [usize],
    goal: &'a [i64],
    cfg: &'a AttackConfig,
    ascend: bool,
}

impl Problem<'_> {
    /// One restart of the configured method; `rng` draws PGD's random start.
    fn run(&self, rng: &mut Rng) -> Result<Vec<f32>> {
        match self.cfg.method {
            Method::Fgsm | Method::Pgd => signed_steps(self, rng),
            Method::Adam => adam_steps(self),
        }
    }
}

/// FGSM (one step of eps, no random start unless asked) and PGD: `x += alpha sign(grad)` (minus
/// for a targeted attack), projected after every step.
fn signed_steps(p: &Problem, rng: &mut Rng) -> Result<Vec<f32>> {
    let Problem { clf, clean, shape, goal, cfg, ascend } = *p;
    let eps = cfg.eps;
    let mut adv = clean.to_vec();
    if cfg.random_start && eps > 0.0 {
        for a in adv.iter_mut() {
            *a += (rng.uniform(-1.0, 1.0) as f32) * eps;
        }
        project(&mut adv, clean, eps);
    }
    let (step, steps) = if cfg.method == Method::Fgsm { (eps, 1) } else { (cfg.alpha, cfg.steps) };
    for _ in 0..steps {
        let x = Tensor::from_slice(&adv, shape)?.to_device(clf.device())?;
        let (grad, _) = clf.input_gradient(&x, goal)?;
        let g = grad.to_vec::<f32>()?;
        let direction = if ascend { step } else { -step };
        for (a, gi) in adv.iter_mut().zip(&g) {
            // sign(0) = 0, as torch.sign: a pixel the loss does not depend on stays where it is.
            *a += direction
                * if *gi > 0.0 {
                    1.0
                } else if *gi < 0.0 {
                    -1.0
                } else {
                    0.0
                };
        }
        project(&mut adv, clean, eps);
    }
    Ok(adv)
}

/// kiln's Adam on the pixels as one parameter, minimising the loss towards the goal's negation
/// (untargeted) or the loss itself (targeted); the pixels are projected after every update.
fn adam_steps(p: &Problem) -> Result<Vec<f32>> {
    let Problem { clf, clean, shape, goal, cfg, ascend } = *p;
    let device = clf.device();
    let adv = Var::leaf(Tensor::from_slice(clean, shape)?.to_device(device)?);
    let mut opt = Adam::new(vec![("x_adv".to_string(), adv.clone())], cfg.alpha as f64, (0.9, 0.999), 0.0);
    let targets = Tensor::from_vec(goal.to_vec(), [goal.len()])?.to_device(device)?;
    for _ in 0..cfg.steps {
        let loss = cross_entropy(&clf.logits(&adv)?, &targets)?;
        let objective = if ascend { loss.neg()? } else { loss };
        opt.step(&backward(&objective)?)?;
        let mut pixels = adv.tensor().to_vec::<f32>()?;
        project(&mut pixels, clean, cfg.eps);
        adv.tensor().assign(&Tensor::from_vec(pixels, shape)?.to_device(device)?)?;
    }
    adv.tensor().to_vec::<f32>()
}
