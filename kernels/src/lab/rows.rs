//! Row-wise kernels in the kernel lab, on a contiguous `[rows, cols]` f32 matrix: `softmax` and
//! `log_softmax` along the last axis, `sum_last` / `sum_first` (sum along the last / first axis),
//! and `cross_entropy` (the fused loss forward plus its gradient, class targets). `cpu` calls the
//! family's `cpu.rs`, `reference` its `reference.rs`, with the arguments the family's `mod.rs`
//! would pass for these axes. Must not: fall back to the reference under the `cpu` name.

use super::device::OnDevice;
use super::{elements, fast_path, uniform, unsupported, Case, Kernel, Problem, Unit, Version};
use crate::cuda::Buf;
use crate::loss;
use crate::reduce::{self, ReduceOp};
use crate::softmax;
use kiln_tensor::{Layout, Result, Rng};

/// A W1-sized batch, a 1000-class classifier batch, a large 8 MiB matrix.
const SHAPES: &[&str] = &["64x784", "256x1000", "4096x512"];
/// Classifier logits: MNIST / CIFAR-10 batches (10 classes), a 1000-class batch, a large batch.
const LOSS_SHAPES: &[&str] = &["64x10", "256x1000", "4096x512"];
const VERSIONS: &[Version] = &[Version::Cpu, Version::Reference];
const SOFTMAX_CUDA: &[Version] = &[Version::Cpu, Version::Reference, Version::Cuda];
const SUM_LAST_CUDA: &[Version] = &[Version::Cpu, Version::Reference, Version::CudaSmem, Version::CudaWarp];
const SUM_FIRST_CUDA: &[Version] = &[Version::Cpu, Version::Reference, Version::CudaCols];
const LOSS_CUDA: &[Version] = &[Version::Cpu, Version::Reference, Version::Cuda];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Softmax { log: bool },
    SumLast,
    SumFirst,
    CrossEntropy,
}

/// Bytes moved by one run on `rows x cols` (f32 values, 8-byte class targets).
fn bytes(op: Op, p: &Problem) -> f64 {
    let (r, c) = (p.dims[0] as f64, p.dims[1] as f64);
    match op {
        Op::Softmax { .. } => 8.0 * r * c,
        Op::SumLast => 4.0 * (r * c + r),
        Op::SumFirst => 4.0 * (r * c + c),
        // Forward reads logits and targets; backward reads them again and writes the gradient.
        Op::CrossEntropy => 12.0 * r * c + 16.0 * r,
    }
}

/// One registry entry of this file (see `rows_cols_kernel!`).
macro_rules! row_kernel {
    ($name:literal, $family:literal, $about:literal, $op:expr, $shapes:expr, $tolerance:expr, $versions:expr) => {
        rows_cols_kernel!($name, $family, $about, RowCase, $op, $shapes, $tolerance, $versions)
    };
}

pub(super) fn kernels() -> Vec<Kernel> {
    vec![
        // The SIMD exp (1.2e-7 relative) and vectorised row sums differ from the reference by rounding.
        row_kernel!(
            "softmax",
            "softmax",
            "softmax along the last axis; bytes = 8 rows cols",
            Op::Softmax { log: false },
            SHAPES,
            |_| 1e-6,
            SOFTMAX_CUDA
        ),
        row_kernel!(
            "log_softmax",
            "softmax",
            "log-softmax along the last axis; bytes = 8 rows cols",
            Op::Softmax { log: true },
            SHAPES,
            |_| 1e-6,
            SOFTMAX_CUDA
        ),
        // Vectorised partial sums reorder the additions. The rounding scales with the partial sums
        // (inputs in [-4, 4]), not with the result, which often cancels to near 0: allow
        // 4e-7 cols (~4x the largest difference seen at 4096 x 512); a lost or doubled term is ~2.
        row_kernel!(
            "sum_last",
            "reduce",
            "sum along the last axis -> [rows]; bytes = 4 (rows cols + rows)",
            Op::SumLast,
            SHAPES,
            |p| 4e-7 * p.dims[1] as f32,
            SUM_LAST_CUDA
        ),
        // Folded in the reference's order: exact.
        row_kernel!(
            "sum_first",
            "reduce",
            "sum along the first axis -> [cols]; bytes = 4 (rows cols + cols)",
            Op::SumFirst,
            SHAPES,
            |_| 0.0,
            SUM_FIRST_CUDA
        ),
        row_kernel!(
            "cross_entropy",
            "loss",
            "mean cross-entropy of [rows, cols] logits and its gradient (forward + backward); \
             bytes = 12 rows cols + 16 rows",
            Op::CrossEntropy,
            LOSS_SHAPES,
            |p| 1e-6 * (p.dims[0] as f32).sqrt().max(2.0),
            LOSS_CUDA
        ),
    ]
}

struct RowCase {
    name: &'static str,
    op: Op,
    rows: usize,
    cols: usize,
    x: Vec<f32>,
    xl: Layout,
    /// Class targets for `cross_entropy` (empty otherwise).
    targets: Vec<usize>,
    out: Vec<f32>,
    /// x uploaded at the first CUDA run.
    dev: Option<OnDevice>,
    /// cross_entropy on the device: the targets, each row's log-sum-exp, and the mean loss.
    ce: Option<(Buf<i64>, Buf<f32>, Buf<f32>)>,
}

impl RowCase {
    fn new(name: &'static str, op: Op, p: &Problem, rng: &mut Rng) -> Result<RowCase> {
        let (rows, cols) = (p.dims[0], p.dims[1]);
        let x = uniform(rng, elements(name, &p.dims)?, -4.0, 4.0);
        let targets = if op == Op::CrossEntropy { (0..rows).map(|_| rng.below(cols)).collect() } else { Vec::new() };
        Ok(RowCase {
            name,
            op,
            rows,
            cols,
            x,
            xl: Layout::contiguous([rows, cols]),
            targets,
            out: Vec::new(),
            dev: None,
            ce: None,
        })
    }

    fn run_cpu(&self) -> Result<Vec<f32>> {
        let (x, xl, name) = (&self.x, &self.xl, self.name);
        Ok(match self.op {
            Op::Softmax { log } => fast_path(name, softmax::cpu::softmax(x, xl, xl, self.cols, log))?,
            Op::SumLast => fast_path(name, reduce::cpu::reduce(ReduceOp::Sum, x, xl, self.rows, self.cols))?,
            Op::SumFirst => fast_path(name, reduce::cpu::reduce_leading(ReduceOp::Sum, x, xl, &[0]))?,
            Op::CrossEntropy => {
                let loss = fast_path(name, loss::cpu::cross_entropy(x, xl, &self.targets))?;
                let mut grad = fast_path(name, loss::cpu::cross_entropy_backward(x, xl, &self.targets, 1.0))?;
                grad.push(loss);
                grad
            }
        })
    }

    fn run_reference(&self) -> Result<Vec<f32>> {
        let (x, xl) = (&self.x, &self.xl);
        Ok(match self.op {
            Op::Softmax { log } => softmax::reference::softmax(x, xl, xl, self.cols, log),
            Op::SumLast => reduce::reference::reduce(ReduceOp::Sum, x, xl, self.rows, self.cols),
            // The reduced axis permuted last, as reduce/mod.rs plans it.
            Op::SumFirst => reduce::reference::reduce(ReduceOp::Sum, x, &xl.permute(&[1, 0])?, self.cols, self.rows),
            Op::CrossEntropy => {
                let loss = loss::reference::cross_entropy(x, xl, &self.targets);
                let mut grad = loss::reference::cross_entropy_backward(x, xl, &self.targets, 1.0);
                grad.push(loss);
                grad
            }
        })
    }
}

impl Case for RowCase {
    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        use crate::cuda::reduce::{reduce_cols, reduce_rows, Version as V};
        use crate::cuda::softmax::softmax_rows;
        use crate::cuda::Rows;
        let out_len = match self.op {
            Op::SumLast => self.rows,
            Op::SumFirst => self.cols,
            _ => self.rows * self.cols,
        };
        if self.dev.is_none() {
            self.dev = Some(OnDevice::upload(&[&self.x], out_len)?);
        }
        let dev = self.dev.as_mut().expect("uploaded above");
        let (r, x, m) = (&dev.runner, &dev.inputs[0], Rows::contiguous(self.rows, self.cols));
        match (self.op, version) {
            (Op::Softmax { log }, Version::Cuda) => softmax_rows(r, (x, m), log, &mut dev.out),
            (Op::SumLast, Version::CudaSmem) => reduce_rows(r, ReduceOp::Sum, (x, m), &mut dev.out, V::SharedTree),
            (Op::SumLast, Version::CudaWarp) => reduce_rows(r, ReduceOp::Sum, (x, m), &mut dev.out, V::WarpShuffle),
            (Op::SumFirst, Version::CudaCols) => reduce_cols(r, ReduceOp::Sum, (x, m), &mut dev.out),
            (Op::CrossEntropy, Version::Cuda) => {
                use crate::cuda::loss::{cross_entropy_backward, cross_entropy_mean};
                if self.ce.is_none() {
                    let t: Vec<i64> = self.targets.iter().map(|&t| t as i64).collect();
                    self.ce = Some((r.upload(&t)?, r.zeros(self.rows)?, r.zeros(1)?));
                }
                let (t, lse, loss) = self.ce.as_mut().expect("made above");
                *loss = cross_entropy_mean(r, (x, m), t, lse)?;
                cross_entropy_backward(r, (x, m), t, lse, 1.0, &mut dev.out)
            }
            (_, other) => Err(unsupported(self.name, other)),
        }
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        self.out = OnDevice::fetch(&self.dev)?;
        if let (Some(dev), Some((_, _, loss))) = (&self.dev, &self.ce) {
            self.out.extend(dev.runner.download(loss)?); // the gradient, then the loss, as on the host
        }
        Ok(())
    }

    fn run_host(&mut self, version: Version) -> Result<()> {
        self.out = match version {
            Version::Cpu => self.run_cpu()?,
            Version::Reference => self.run_reference()?,
            other => return Err(unsupported(self.name, other)),
        };
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }
}
