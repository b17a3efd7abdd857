//! Checking versions against the reference before they are timed: the same random inputs (same
//! seed) for every version, the reference's answer computed once per operand layout, and the worst
//! element compared with a tolerance scaled by its magnitude (llm.c's validator, in spirit). Must
//! not: time anything, or accept a version whose output has NaNs where the reference has numbers.

use super::{Kernel, Problem, Version};
use kiln_tensor::{Error, Result, Rng};
use std::fmt;

/// How a case lays out its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operands {
    /// The layout the kernel is timed on (contiguous, or the broadcast the kernel is about).
    Dense,
    /// Padded rows, transposed or column-major views: only for kernels whose versions all read strides.
    Strided,
}

impl Operands {
    pub fn name(self) -> &'static str {
        match self {
            Operands::Dense => "dense",
            Operands::Strided => "strided",
        }
    }
}

/// The reference's answer: every output element, or (for a reference too slow at full size) the
/// elements at `positions` of an output of `len` elements.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub values: Vec<f32>,
    pub positions: Option<Vec<usize>>,
    pub len: usize,
}

impl Expected {
    pub fn all(values: Vec<f32>) -> Expected {
        Expected { len: values.len(), values, positions: None }
    }

    /// `(position, value)` pairs to compare.
    fn pairs(&self) -> impl Iterator<Item = (usize, f32)> + '_ {
        self.values.iter().enumerate().map(|(i, &v)| (self.positions.as_ref().map_or(i, |p| p[i]), v))
    }
}

/// Why a version was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Running it failed (e.g. the fast kernel has no path for these operands).
    Error { operands: Operands, error: Error },
    /// Its output has the wrong number of elements.
    Length { operands: Operands, got: usize, expected: usize },
    /// Its worst element is further from the reference than the tolerance allows.
    Value { operands: Operands, index: usize, got: f32, expected: f32, tolerance: f32, compared: usize },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error { operands, error } => write!(f, "on {} operands: {error}", operands.name()),
            Failure::Length { operands, got, expected } => {
                write!(f, "on {} operands: {got} output elements, the reference has {expected}", operands.name())
            }
            Failure::Value { operands, index, got, expected, tolerance, compared } => write!(
                f,
                "on {} operands: output element {index} is {got}, the reference says {expected} \
                 (tolerance {tolerance:.1e} x (1 + |reference|), worst of {compared} elements compared)",
                operands.name()
            ),
        }
    }
}

/// `Ok(())` if a version matched the reference on every layout tried.
pub type Verdict = std::result::Result<(), Failure>;

/// Compares `got` with `expected`; the worst element decides.
pub fn compare(got: &[f32], expected: &Expected, tolerance: f32, operands: Operands) -> Verdict {
    if got.len() != expected.len {
        return Err(Failure::Length { operands, got: got.len(), expected: expected.len });
    }
    // Normalised error of each element; NaN (a NaN or infinity where the reference is finite)
    // counts as worse than any number.
    let error = |g: f32, e: f32| {
        let d = ((g as f64 - e as f64).abs() / (1.0 + (e as f64).abs())) as f32;
        if d.is_nan() && g.to_bits() != e.to_bits() {
            f32::INFINITY
        } else if d.is_nan() {
            0.0
        } else {
            d
        }
    };
    let worst = expected.pairs().map(|(i, e)| (i, e, error(got[i], e))).max_by(|a, b| a.2.total_cmp(&b.2));
    match worst {
        Some((index, e, err)) if err > tolerance => Err(Failure::Value {
            operands,
            index,
            got: got[index],
            expected: e,
            tolerance,
            compared: expected.values.len(),
        }),
        _ => Ok(()),
    }
}

/// Runs each of `versions` on `problem` with random inputs from `seed` and compares it with the
/// reference: on dense operands, and on strided ones too when the kernel's versions read strides.
/// The outer error means the inputs or the reference could not be built (nothing can be judged).
pub fn validate(kernel: &Kernel, problem: &Problem, versions: &[Version], seed: u64) -> Result<Vec<Verdict>> {
    problem.check(kernel)?;
    let tolerance = (kernel.tolerance)(problem);
    let layouts: &[Operands] = if kernel.strided { &[Operands::Dense, Operands::Strided] } else { &[Operands::Dense] };
    let mut verdicts: Vec<Verdict> = vec![Ok(()); versions.len()];
    for &operands in layouts {
        let expected = kernel.case(problem, operands, &mut Rng::new(seed))?.expected()?;
        for (verdict, &version) in verdicts.iter_mut().zip(versions) {
            if verdict.is_err() {
                continue;
            }
            // A fresh case per version: in-place kernels (Adam) must each start from the same state.
            let mut case = kernel.case(problem, operands, &mut Rng::new(seed))?;
            *verdict = match case.run(version) {
                Err(error) => Err(Failure::Error { operands, error }),
                Ok(()) => compare(&case.output(), &expected, case.tolerance(version, tolerance), operands),
            };
        }
    }
    Ok(verdicts)
}
