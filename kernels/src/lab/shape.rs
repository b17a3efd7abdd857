//! Problem sizes for the kernel lab: parsing `64x100x256` (and, for GEMM, `64x100x256:nt`) and
//! comma-separated lists of them, checked against what a kernel accepts. Must not: know any kernel's
//! meaning of its dimensions beyond their count.

use super::{Kernel, OP};
use kiln_tensor::{Error, Result};
use std::fmt;

/// One problem size: a kernel's dimensions, and for GEMM whether A and B are read transposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub dims: Vec<usize>,
    /// `(A transposed, B transposed)`, BLAS's `transa` / `transb`; `(false, false)` elsewhere.
    pub transpose: (bool, bool),
}

impl Problem {
    /// Parses `AxBxC` with an optional `:nn|nt|tn|tt` suffix, and checks it against `kernel`.
    pub fn parse(text: &str, kernel: &Kernel) -> Result<Problem> {
        let text = text.trim();
        let bad = |why: String| Error::invalid(OP, format!("bad shape `{text}` for {}: {why}", kernel.name));
        let (dims_text, transpose) = match text.split_once(':') {
            None => (text, (false, false)),
            Some((d, flags)) => {
                let t = match flags.to_ascii_lowercase().as_str() {
                    "nn" => (false, false),
                    "nt" => (false, true),
                    "tn" => (true, false),
                    "tt" => (true, true),
                    other => return Err(bad(format!("`{other}` is not one of nn, nt, tn, tt"))),
                };
                (d, t)
            }
        };
        let dims = dims_text
            .split(['x', 'X'])
            .map(|d| d.trim().parse::<usize>().map_err(|_| bad(format!("`{d}` is not a whole number"))))
            .collect::<Result<Vec<usize>>>()?;
        let problem = Problem { dims, transpose };
        problem.check(kernel).map_err(|e| match e {
            Error::InvalidArgument { msg, .. } => bad(msg),
            other => other,
        })?;
        Ok(problem)
    }

    /// Whether `kernel` takes this problem: the number of dimensions, none zero, transposes only
    /// where allowed.
    pub fn check(&self, kernel: &Kernel) -> Result<()> {
        let invalid = |msg: String| Error::invalid(OP, msg);
        if self.dims.len() != kernel.dims.len() {
            return Err(invalid(format!(
                "{} takes {} numbers ({}), got {}",
                kernel.name,
                kernel.dims.len(),
                kernel.dims.join(" x "),
                self.dims.len()
            )));
        }
        if self.dims.contains(&0) {
            return Err(invalid(format!("{}: every dimension must be at least 1", kernel.name)));
        }
        if self.transpose != (false, false) && !kernel.transposes {
            return Err(invalid(format!("{} takes no transpose suffix", kernel.name)));
        }
        Ok(())
    }

    /// `nt`, `tn` or `tt` when an operand is read transposed, else `None`.
    pub fn transpose_tag(&self) -> Option<&'static str> {
        match self.transpose {
            (false, false) => None,
            (false, true) => Some("nt"),
            (true, false) => Some("tn"),
            (true, true) => Some("tt"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        f.write_str(&dims.join("x"))?;
        if let Some(tag) = self.transpose_tag() {
            write!(f, ":{tag}")?;
        }
        Ok(())
    }
}

/// A comma-separated list of shapes (`64x100x256,512x512x512`), each checked against `kernel`.
pub fn parse_shapes(list: &str, kernel: &Kernel) -> Result<Vec<Problem>> {
    let problems: Vec<Problem> =
        list.split(',').filter(|s| !s.trim().is_empty()).map(|s| Problem::parse(s, kernel)).collect::<Result<_>>()?;
    if problems.is_empty() {
        return Err(Error::invalid(OP, format!("no shapes given for {}", kernel.name)));
    }
    Ok(problems)
}
