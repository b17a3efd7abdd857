//! The attribution methods, on a batch of inputs `[B, ...]` of any [`Scorer`], towards a target
//! class per sample (the predicted one unless given), as Captum defines them:
//! - saliency: `|dF/dx|` (Simonyan et al. 2014);
//! - gradient x input: `x * dF/dx`;
//! - integrated gradients: `(x - b) * integral_0^1 dF/dx(b + a (x - b)) da` by a [`Rule`] with
//!   `steps` points, returned with the completeness delta `sum(attr) - (F(x) - F(b))`
//!   (Sundararajan et al. 2017);
//! - SmoothGrad: the mean saliency over `samples` noisy copies `x + N(0, sigma^2)`, `sigma` given as
//!   a fraction of the sample's value range (Smilkov et al. 2017; Captum's `NoiseTunnel(Saliency)`).
//!
//! Every point (an interpolation step, a noisy copy) is one row of a batch of at most `batch`
//! points: one forward and one backward per batch, the graph dropped at once. Arithmetic on the
//! host is in f64; the points go to the model in the input's dtype. The model runs in evaluation
//! mode and gets its mode back. This file must not pick baselines or draw pictures.

use super::quadrature::Rule;
use super::scorer::Scorer;
use crate::robust::EvalMode;
use kiln_autograd::{grad_of_with, no_grad, Var};
use kiln_tensor::{DType, Error, Result, Rng, Tensor};

/// Which attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Saliency,
    GradXInput,
    IntegratedGradients,
    SmoothGrad,
}

const METHODS: [Method; 4] = [Method::Saliency, Method::GradXInput, Method::IntegratedGradients, Method::SmoothGrad];

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Saliency => "saliency",
            Method::GradXInput => "gradxinput",
            Method::IntegratedGradients => "ig",
            Method::SmoothGrad => "smoothgrad",
        }
    }

    pub fn parse(s: &str) -> Result<Method> {
        METHODS.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            Error::invalid("explain", format!("unknown method `{s}` (expected saliency, gradxinput, ig or smoothgrad)"))
        })
    }

    /// Whether the attribution carries a sign (for and against the target) or only a size.
    pub fn signed(self) -> bool {
        matches!(self, Method::GradXInput | Method::IntegratedGradients)
    }
}

/// An attribution's settings (defaults: Captum's n_steps 50 with Gauss-Legendre; 25 noisy copies at
/// 15% of the range, within Smilkov et al.'s 10-20%).
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainConfig {
    pub method: Method,
    pub steps: usize,
    pub rule: Rule,
    pub samples: usize,
    pub sigma: f64,
    /// Points per forward / backward.
    pub batch: usize,
    pub seed: u64,
}

impl ExplainConfig {
    pub fn new(method: Method) -> ExplainConfig {
        ExplainConfig { method, steps: 50, rule: Rule::GaussLegendre, samples: 25, sigma: 0.15, batch: 64, seed: 0 }
    }

    /// A clear error for settings no attribution can run with.
    pub fn check(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(Error::invalid("explain", "the batch of points must hold at least 1"));
        }
        match self.method {
            Method::IntegratedGradients => self.rule.nodes(self.steps).map(|_| ()),
            Method::SmoothGrad if self.samples == 0 => Err(Error::invalid("smoothgrad", "samples must be at least 1")),
            Method::SmoothGrad if !(self.sigma.is_finite() && self.sigma >= 0.0) => {
                Err(Error::invalid("smoothgrad", format!("sigma {} is not a non-negative number", self.sigma)))
            }
            _ => Ok(()),
        }
    }
}

/// The attribution of a batch: one value per input element, and what the model said.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    pub method: Method,
    /// The input's shape `[B, ...]`; `values` holds B samples of `dims[1..]` elements, row-major.
    pub dims: Vec<usize>,
    pub values: Vec<f64>,
    /// The class explained, per sample.
    pub target: Vec<usize>,
    /// The model's class and its probability at the input.
    pub predicted: Vec<usize>,
    pub confidence: Vec<f64>,
    /// `F(x)`: the target's score (logit) at the input.
    pub score: Vec<f64>,
    /// Integrated gradients: `F(baseline)` and the completeness delta, per sample.
    pub baseline_score: Option<Vec<f64>>,
    pub delta: Option<Vec<f64>>,
}

impl Attribution {
    /// Elements per sample.
    pub fn per_sample(&self) -> usize {
        self.dims[1..].iter().product()
    }

    /// Sample `i`'s values.
    pub fn sample(&self, i: usize) -> &[f64] {
        let per = self.per_sample();
        &self.values[i * per..(i + 1) * per]
    }

    /// `|delta| / |F(x) - F(b)|` per sample (integrated gradients only).
    pub fn relative_delta(&self) -> Option<Vec<f64>> {
        let (delta, base) = (self.delta.as_ref()?, self.baseline_score.as_ref()?);
        Some(
            delta
                .iter()
                .zip(&self.score)
                .zip(base)
                .map(|((d, s), b)| if *d == 0.0 { 0.0 } else { d.abs() / (s - b).abs() })
                .collect(),
        )
    }
}

/// Attributes the batch `x` (`[B, ...]`) towards `target` (one class per sample; None: the
/// predicted class). `baseline` is integrated gradients' starting point (same shape; None: zeros,
/// a black image); the other methods ignore it.
pub fn attribute(
    f: &dyn Scorer,
    x: &Tensor,
    baseline: Option<&Tensor>,
    target: Option<&[usize]>,
    cfg: &ExplainConfig,
) -> Result<Attribution> {
    cfg.check()?;
    let dims = x.dims().to_vec();
    if dims.len() < 2 || dims[0] == 0 || dims[1..].contains(&0) {
        return Err(Error::invalid("explain", format!("inputs of shape {dims:?} are not a non-empty batch [B, ...]")));
    }
    let _mode = EvalMode::enter(f.module());
    let (b, per) = (dims[0], dims[1..].iter().product::<usize>());
    let input = finite_values(x, "input")?;
    let owners: Vec<usize> = (0..b).collect();
    let scores = score_rows(f, &input, &dims, &owners, x.dtype())?;
    let k = scores.first().map_or(0, Vec::len);
    let (predicted, confidence): (Vec<usize>, Vec<f64>) = scores
        .iter()
        .map(|row| {
            let p = f.probabilities(row);
            let best = (0..p.len()).fold(0, |bi, i| if p[i] > p[bi] { i } else { bi });
            (best, p[best])
        })
        .unzip();
    let target = match target {
        None => predicted.clone(),
        Some(t) if t.len() != b => {
            return Err(Error::invalid("explain", format!("{} target classes for {b} samples", t.len())));
        }
        Some(t) => match t.iter().find(|&&c| c >= k) {
            Some(c) => return Err(Error::invalid("explain", format!("target class {c} is outside the model's {k}"))),
            None => t.to_vec(),
        },
    };
    let score: Vec<f64> = scores.iter().zip(&target).map(|(row, &t)| row[t]).collect();
    let sample = |i: usize| &input[i * per..(i + 1) * per];
    let paths = Paths { f, dims: &dims, target: &target, batch: cfg.batch, dtype: x.dtype() };
    let mut out = Attribution {
        method: cfg.method,
        dims: dims.clone(),
        values: vec![],
        target: target.clone(),
        predicted,
        confidence,
        score,
        baseline_score: None,
        delta: None,
    };
    match cfg.method {
        Method::Saliency => out.values = paths.integrate(b, |r, p| p.copy_from_slice(sample(r)), |_| 1.0, true)?,
        Method::GradXInput => {
            let g = paths.integrate(b, |r, p| p.copy_from_slice(sample(r)), |_| 1.0, false)?;
            out.values = g.iter().zip(&input).map(|(g, x)| g * x).collect();
        }
        Method::IntegratedGradients => {
            let base = match baseline {
                Some(t) if t.dims() != dims.as_slice() => {
                    return Err(Error::invalid(
                        "integrated gradients",
                        format!("baseline of shape {:?} for inputs of shape {dims:?}", t.dims()),
                    ))
                }
                Some(t) => finite_values(t, "baseline")?,
                None => vec![0.0; input.len()],
            };
            let (alphas, weights) = cfg.rule.nodes(cfg.steps)?;
            let n = cfg.steps;
            let fill = |r: usize, p: &mut [f64]| {
                let (i, a) = (r / n, alphas[r % n]);
                let (xi, bi) = (sample(i), &base[i * per..(i + 1) * per]);
                p.iter_mut().zip(xi.iter().zip(bi)).for_each(|(p, (x, b))| *p = b + a * (x - b));
            };
            let mean_grad = paths.integrate(b * n, fill, |r| weights[r % n], false)?;
            out.values = mean_grad.iter().zip(input.iter().zip(&base)).map(|(g, (x, b))| g * (x - b)).collect();
            let base_scores = score_rows(f, &base, &dims, &owners, x.dtype())?;
            let base_score: Vec<f64> = base_scores.iter().zip(&target).map(|(row, &t)| row[t]).collect();
            out.delta = Some(
                (0..b)
                    .map(|i| out.values[i * per..(i + 1) * per].iter().sum::<f64>() - (out.score[i] - base_score[i]))
                    .collect(),
            );
            out.baseline_score = Some(base_score);
        }
        Method::SmoothGrad => {
            let n = cfg.samples;
            let spread: Vec<f64> = (0..b)
                .map(|i| {
                    let (lo, hi) = sample(i).iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                    cfg.sigma * (hi - lo)
                })
                .collect();
            let mut rng = Rng::new(cfg.seed);
            let fill = |r: usize, p: &mut [f64]| {
                let i = r / n;
                p.iter_mut().zip(sample(i)).for_each(|(p, x)| *p = x + spread[i] * rng.normal());
            };
            out.values = paths.integrate(b * n, fill, |_| 1.0 / n as f64, true)?;
        }
    }
    Ok(out)
}

/// The values of `t` on the host, refused when one is not finite.
fn finite_values(t: &Tensor, what: &str) -> Result<Vec<f64>> {
    let v = t.to_vec_f64()?;
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::invalid("explain", format!("{what} element {i} is {}", v[i]))),
        None => Ok(v),
    }
}

/// `values` (rows of `dims[1..]`) as a tensor of `dtype` on the scorer's device.
fn to_points(f: &dyn Scorer, values: Vec<f64>, rows: usize, dims: &[usize], dtype: DType) -> Result<Tensor> {
    let shape: Vec<usize> = std::iter::once(rows).chain(dims[1..].iter().copied()).collect();
    Tensor::from_vec(values, shape)?.to_dtype(dtype)?.to_device(f.device())
}

/// Scores `[n][K]` of rows of points without a graph; checks the scorer returns `[n, K]`.
pub fn score_rows(
    f: &dyn Scorer,
    values: &[f64],
    dims: &[usize],
    owners: &[usize],
    dtype: DType,
) -> Result<Vec<Vec<f64>>> {
    let n = owners.len();
    let points = to_points(f, values.to_vec(), n, dims, dtype)?;
    let scores = no_grad(|| f.scores(&Var::constant(points), owners))?;
    rows_of(scores.tensor(), n)
}

fn rows_of(scores: &Tensor, n: usize) -> Result<Vec<Vec<f64>>> {
    let k = classes_of(scores, n)?;
    Ok(scores.to_vec_f64()?.chunks(k).map(<[f64]>::to_vec).collect())
}

/// K of scores that must be `[n, K]`.
fn classes_of(scores: &Tensor, n: usize) -> Result<usize> {
    match scores.dims() {
        &[rows, k] if rows == n && k > 0 => Ok(k),
        d => Err(Error::invalid(
            "explain",
            format!("the model gave scores of shape {d:?} for {n} points, not [{n}, classes]"),
        )),
    }
}

/// Gradients of the target scores along many points of a batch of samples.
struct Paths<'a> {
    f: &'a dyn Scorer,
    dims: &'a [usize],
    target: &'a [usize],
    batch: usize,
    dtype: DType,
}

impl Paths<'_> {
    /// `sum_r weight(r) * g(r)` per sample, over `rows` points where point `r` (written by `fill`)
    /// belongs to sample `r * B / rows` (consecutive rows per sample) and `g` is the gradient of
    /// that sample's target score there, or its absolute value with `abs`.
    fn integrate(
        &self,
        rows: usize,
        mut fill: impl FnMut(usize, &mut [f64]),
        weight: impl Fn(usize) -> f64,
        abs: bool,
    ) -> Result<Vec<f64>> {
        let (b, per) = (self.dims[0], self.dims[1..].iter().product::<usize>());
        let per_sample = rows / b;
        let mut acc = vec![0.0; b * per];
        let mut start = 0;
        while start < rows {
            let end = (start + self.batch).min(rows);
            let mut values = vec![0.0; (end - start) * per];
            for (r, chunk) in (start..end).zip(values.chunks_mut(per)) {
                fill(r, chunk);
            }
            let owners: Vec<usize> = (start..end).map(|r| r / per_sample).collect();
            let grad = self.gradient(values, &owners)?;
            for (r, g) in (start..end).zip(grad.chunks(per)) {
                let (w, dst) = (weight(r), &mut acc[(r / per_sample) * per..(r / per_sample + 1) * per]);
                dst.iter_mut().zip(g).for_each(|(a, g)| *a += w * if abs { g.abs() } else { *g });
            }
            start = end;
        }
        Ok(acc)
    }

    /// The gradient of each row's target score with respect to its point: one forward, one
    /// backward seeded with the one-hot of the targets (rows are independent in evaluation mode).
    fn gradient(&self, values: Vec<f64>, owners: &[usize]) -> Result<Vec<f64>> {
        let n = owners.len();
        let input = Var::leaf(to_points(self.f, values, n, self.dims, self.dtype)?);
        let scores = self.f.scores(&input, owners)?;
        let k = classes_of(scores.tensor(), n)?;
        let mut seed = vec![0.0; n * k];
        for (r, &o) in owners.iter().enumerate() {
            seed[r * k + self.target[o]] = 1.0;
        }
        let seed = Tensor::from_vec(seed, [n, k])?.to_dtype(scores.dtype())?.to_device(scores.device())?;
        // The input's gradient only: no layer's weight gradient is computed.
        let grads = grad_of_with(&scores, seed, &[&input])?;
        let g = grads.get(&input).ok_or_else(|| {
            Error::invalid("explain", "the model's scores do not depend on its input, so there is nothing to attribute")
        })?;
        g.to_vec_f64()
    }
}
