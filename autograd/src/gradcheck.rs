//! `gradcheck`: compares the analytic gradient of a function of Vars with central finite
//! differences, in f64. Public API, because studying autograd means checking it; every op's tests
//! use it. It only evaluates `f`; it must not special-case any op.

use crate::backward::backward_with;
use crate::no_grad::no_grad;
use crate::var::Var;
use kiln_kernels::elementwise::{binary, BinaryOp};
use kiln_kernels::reduce::sum;
use kiln_tensor::{DType, Error, Result, Rng, Tensor};
use std::fmt;

#[derive(Debug, Clone, Copy)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// An element passes when `|analytic - numeric| <= atol + rtol * |numeric|`.
    pub atol: f64,
    pub rtol: f64,
    /// Seed of the random projection `r` (see [`gradcheck`]).
    pub seed: u64,
}

/// Trade-off: tighter than PyTorch's defaults (atol 1e-5, rtol 1e-3) so that a slightly wrong rule
/// fails; in f64 with eps 1e-6 the central difference is good to ~1e-9 for smooth functions of
/// moderate size. Loosen atol for outputs of large magnitude.
impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, atol: 1e-6, rtol: 1e-5, seed: 0 }
    }
}

/// The outcome of a gradcheck: the largest errors and where the worst element is.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Largest `|analytic - numeric|` over all elements of all inputs.
    pub max_abs_err: f64,
    /// Largest `|analytic - numeric| / max(|analytic|, |numeric|)` (0 where both are 0).
    pub max_rel_err: f64,
    /// Input index and flat element index of the element furthest beyond the tolerance (or
    /// closest to it when all pass); `None` when the inputs have no elements.
    pub worst: Option<(usize, usize)>,
    /// Analytic and numeric derivative at `worst`.
    pub analytic: f64,
    pub numeric: f64,
    /// Elements checked.
    pub checked: usize,
    passed: bool,
}

impl GradcheckReport {
    pub fn passed(&self) -> bool {
        self.passed
    }
}

impl fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        write!(
            f,
            "gradcheck {verdict}: {} elements, max abs err {:.3e}, max rel err {:.3e}",
            self.checked, self.max_abs_err, self.max_rel_err
        )?;
        if let Some((i, j)) = self.worst {
            write!(
                f,
                "; worst at input {i} element {j}: analytic {:.9e} vs numeric {:.9e}",
                self.analytic, self.numeric
            )?;
        }
        Ok(())
    }
}

/// Checks the gradients of `f` at `inputs` (all f64; views are fine and are passed as given).
///
/// For a fixed random `r` of the output's shape, the analytic gradient of `sum(f(x) * r)` w.r.t.
/// each input (one backward pass seeded with `r`) is compared element by element with the central
/// difference `(g(x + eps e_j) - g(x - eps e_j)) / 2 eps` of that same scalar `g`. Projecting on a
/// random `r` makes non-scalar outputs work and catches rules that are wrong in only some outputs.
pub fn gradcheck(
    f: impl Fn(&[Var]) -> Result<Var>,
    inputs: &[Tensor],
    opts: GradcheckOptions,
) -> Result<GradcheckReport> {
    for t in inputs {
        if t.dtype() != DType::F64 {
            return Err(Error::UnsupportedDType { op: "gradcheck", dtype: t.dtype(), expected: "f64 inputs" });
        }
    }
    if !(opts.eps > 0.0 && opts.eps.is_finite()) {
        return Err(Error::hyper("gradcheck", "eps", opts.eps, "positive"));
    }
    let leaves: Vec<Var> = inputs.iter().map(|t| Var::leaf(t.clone())).collect();
    let out = f(&leaves)?;
    if out.dtype() != DType::F64 {
        return Err(Error::UnsupportedDType { op: "gradcheck (output)", dtype: out.dtype(), expected: "f64" });
    }
    let r = Tensor::randn(out.shape(), 0.0, 1.0, DType::F64, &mut Rng::new(opts.seed));
    // An output that does not depend on any input has a zero gradient everywhere.
    let grads = if out.requires_grad() { Some(backward_with(&out, r.clone())?) } else { None };

    let projected = |xs: &[Tensor]| -> Result<f64> {
        no_grad(|| {
            let vars: Vec<Var> = xs.iter().map(|t| Var::constant(t.clone())).collect();
            let y = f(&vars)?;
            if y.shape() != r.shape() {
                return Err(Error::ShapeMismatch {
                    op: "gradcheck (output)",
                    lhs: r.shape().clone(),
                    rhs: y.shape().clone(),
                });
            }
            sum(&binary(BinaryOp::Mul, y.tensor(), &r)?, &[], false)?.to_scalar::<f64>()
        })
    };

    let mut report = GradcheckReport {
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        worst: None,
        analytic: 0.0,
        numeric: 0.0,
        checked: 0,
        passed: true,
    };
    let mut worst_excess = f64::NEG_INFINITY;
    for (i, input) in inputs.iter().enumerate() {
        let analytic = match grads.as_ref().and_then(|g| g.get(&leaves[i])) {
            Some(g) => g.to_vec::<f64>()?,
            None => vec![0.0; input.elem_count()],
        };
        let base = input.to_vec::<f64>()?;
        let mut xs: Vec<Tensor> = inputs.to_vec();
        for (j, &a) in analytic.iter().enumerate() {
            let mut at = |delta: f64| -> Result<f64> {
                let mut v = base.clone();
                v[j] += delta;
                xs[i] = Tensor::from_vec(v, input.shape())?;
                projected(&xs)
            };
            let numeric = (at(opts.eps)? - at(-opts.eps)?) / (2.0 * opts.eps);
            let abs = (a - numeric).abs();
            let scale = a.abs().max(numeric.abs());
            let rel = if scale > 0.0 { abs / scale } else { 0.0 };
            let allowed = opts.atol + opts.rtol * numeric.abs();
            report.max_abs_err = report.max_abs_err.max(abs);
            report.max_rel_err = report.max_rel_err.max(rel);
            report.checked += 1;
            // A NaN on either side fails: `abs <= allowed` is false for NaN.
            report.passed &= abs <= allowed;
            let excess = if abs.is_nan() { f64::INFINITY } else { abs - allowed };
            if report.worst.is_none() || excess > worst_excess {
                worst_excess = excess;
                report.worst = Some((i, j));
                report.analytic = a;
                report.numeric = numeric;
            }
        }
    }
    Ok(report)
}
