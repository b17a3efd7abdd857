//! Helpers shared by the autograd integration tests: seeded f64 inputs (normal, uniform, away from
//! kinks) and a gradcheck assertion that prints the report. Test scaffolding only; no op logic.
#![allow(dead_code)]

use kiln_autograd::{gradcheck, GradcheckOptions, Var};
use kiln_tensor::{DType, Result, Rng, Tensor};

pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), 0.0, 1.0, DType::F64, &mut Rng::new(seed))
}

pub fn uniform(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    Tensor::rand_uniform(shape.to_vec(), lo, hi, DType::F64, &mut Rng::new(seed))
}

/// Random signs, magnitudes in [0.2, 2]: no element near a kink at zero (relu, abs, divisors).
pub fn away_from_zero(shape: &[usize], seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| if rng.next_f64() < 0.5 { -1.0 } else { 1.0 } * rng.uniform(0.2, 2.0)).collect();
    Tensor::from_vec(v, shape.to_vec()).unwrap()
}

/// Distinct values at least 0.1 apart in random order (no ties for max/min/pooling).
pub fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut v: Vec<f64> = (0..n).map(|i| (i as f64 - n as f64 / 2.0) * 0.1).collect();
    Rng::new(seed).shuffle(&mut v);
    Tensor::from_vec(v, shape.to_vec()).unwrap()
}

pub fn mask(bits: &[u32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(bits.to_vec(), shape.to_vec()).unwrap()
}

pub fn indices(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

/// Asserts that `f` passes gradcheck at `inputs` with the default options, and that every
/// element was checked.
pub fn check(name: &str, f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor]) {
    check_with(name, f, inputs, GradcheckOptions::default());
}

pub fn check_with(name: &str, f: impl Fn(&[Var]) -> Result<Var>, inputs: &[Tensor], opts: GradcheckOptions) {
    let report = gradcheck(f, inputs, opts).unwrap_or_else(|e| panic!("{name}: gradcheck errored: {e}"));
    let total: usize = inputs.iter().map(|t| t.elem_count()).sum();
    assert_eq!(report.checked, total, "{name}: not every element was checked");
    assert!(report.passed(), "{name}: {report}");
}
