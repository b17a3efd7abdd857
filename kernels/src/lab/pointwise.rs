//! Elementwise ops in the kernel lab: `add` of two contiguous matrices, `add_row` (a matrix plus a
//! row broadcast down it, read in place), and the unary maps `relu`, `exp`, `tanh`, `sigmoid`;
//! `cpu` is `elementwise/cpu.rs`, `reference` is `elementwise/reference.rs`. GB/s counts each
//! operand read once and the output written once. Must not: fall back to the reference under the
//! `cpu` name when the fast path declines the operands.

use super::device::OnDevice;
use super::{elements, fast_path, uniform, unsupported, Case, Kernel, Problem, Unit, Version};
use crate::elementwise::{cpu, reference, BinaryOp, UnaryOp};
use kiln_tensor::{Layout, Result, Rng};

/// W1's activations (64 x 784), a 2 MiB matrix (past L2), a 16 MiB one (L3 / memory).
const SHAPES: &[&str] = &["64x784", "512x1024", "2048x2048"];
const VERSIONS: &[Version] = &[Version::Cpu, Version::Reference];
const WITH_CUDA: &[Version] = &[Version::Cpu, Version::Reference, Version::CudaStrided, Version::CudaVec4];
/// A broadcast operand has no float4 version (it is not contiguous at the output's shape).
const WITH_CUDA_STRIDED: &[Version] = &[Version::Cpu, Version::Reference, Version::CudaStrided];

#[derive(Debug, Clone, Copy)]
enum Op {
    Add,
    AddRow,
    Unary(UnaryOp),
}

/// Bytes moved by one run of `op` on a `rows x cols` problem (f32).
fn bytes(op: Op, p: &Problem) -> f64 {
    let (r, c) = (p.dims[0] as f64, p.dims[1] as f64);
    4.0 * match op {
        Op::Add => 3.0 * r * c,
        Op::AddRow => 2.0 * r * c + c,
        Op::Unary(_) => 2.0 * r * c,
    }
}

/// One registry entry of this file (see `rows_cols_kernel!`).
macro_rules! pointwise_kernel {
    ($name:literal, $about:literal, $op:expr, $tolerance:expr) => {
        pointwise_kernel!($name, $about, $op, $tolerance, WITH_CUDA)
    };
    ($name:literal, $about:literal, $op:expr, $tolerance:expr, $versions:expr) => {
        rows_cols_kernel!($name, "elementwise", $about, PointwiseCase, $op, SHAPES, |_| $tolerance, $versions)
    };
}

pub(super) fn kernels() -> Vec<Kernel> {
    // Results equal the reference bit for bit except the SIMD exp / tanh / sigmoid approximations
    // (measured max errors 1.2e-7 relative, 9.2e-8 and 8.8e-8 absolute: see simd/vector.rs).
    const APPROX: f32 = 4e-7;
    vec![
        pointwise_kernel!("add", "x + y, both [rows, cols] contiguous; bytes = 12 rows cols", Op::Add, 0.0),
        pointwise_kernel!(
            "add_row",
            "x [rows, cols] + b [cols] broadcast down the rows; bytes = 8 rows cols + 4 cols",
            Op::AddRow,
            0.0,
            WITH_CUDA_STRIDED
        ),
        pointwise_kernel!("relu", "max(x, 0); bytes = 8 rows cols", Op::Unary(UnaryOp::Relu), 0.0),
        pointwise_kernel!("exp", "e^x; bytes = 8 rows cols", Op::Unary(UnaryOp::Exp), APPROX),
        pointwise_kernel!("tanh", "tanh x; bytes = 8 rows cols", Op::Unary(UnaryOp::Tanh), APPROX),
        pointwise_kernel!("sigmoid", "1 / (1 + e^-x); bytes = 8 rows cols", Op::Unary(UnaryOp::Sigmoid), APPROX),
    ]
}

struct PointwiseCase {
    name: &'static str,
    op: Op,
    x: Vec<f32>,
    xl: Layout,
    /// The second operand of `add` / `add_row` (empty for unary ops), laid out at x's shape.
    y: Vec<f32>,
    yl: Layout,
    out: Vec<f32>,
    /// x (and y) uploaded at the first CUDA run.
    dev: Option<OnDevice>,
}

impl PointwiseCase {
    fn new(name: &'static str, op: Op, p: &Problem, rng: &mut Rng) -> Result<PointwiseCase> {
        let (rows, cols) = (p.dims[0], p.dims[1]);
        let xl = Layout::contiguous([rows, cols]);
        let x = uniform(rng, elements(name, &p.dims)?, -4.0, 4.0);
        let (y, yl) = match op {
            Op::Add => (uniform(rng, x.len(), -4.0, 4.0), xl.clone()),
            Op::AddRow => (uniform(rng, cols, -4.0, 4.0), Layout::contiguous([cols]).broadcast_as(xl.shape())?),
            Op::Unary(_) => (Vec::new(), xl.clone()),
        };
        Ok(PointwiseCase { name, op, x, xl, y, yl, out: Vec::new(), dev: None })
    }
}

impl Case for PointwiseCase {
    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        use crate::cuda::elementwise::{binary, unary, Path};
        if self.dev.is_none() {
            let inputs: Vec<&[f32]> = if self.y.is_empty() { vec![&self.x] } else { vec![&self.x, &self.y] };
            self.dev = Some(OnDevice::upload(&inputs, self.x.len())?);
        }
        let dev = self.dev.as_mut().expect("uploaded above");
        let path = match version {
            Version::CudaStrided => Path::Strided,
            Version::CudaVec4 => Path::Vec4,
            other => return Err(unsupported(self.name, other)),
        };
        let x = (&dev.inputs[0], &self.xl);
        match self.op {
            Op::Unary(u) => unary(&dev.runner, Some(u), x, &mut dev.out, path),
            Op::Add | Op::AddRow => {
                binary(&dev.runner, BinaryOp::Add, x, (&dev.inputs[1], &self.yl), &mut dev.out, path)
            }
        }
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        self.out = OnDevice::fetch(&self.dev)?;
        Ok(())
    }

    fn run_host(&mut self, version: Version) -> Result<()> {
        let (x, xl, y, yl) = (&self.x, &self.xl, &self.y, &self.yl);
        self.out = match (version, self.op) {
            (Version::Cpu, Op::Unary(u)) => fast_path(self.name, cpu::unary(u, x, xl))?,
            (Version::Reference, Op::Unary(u)) => reference::unary(u, x, xl),
            (Version::Cpu, Op::Add | Op::AddRow) => fast_path(self.name, cpu::binary(BinaryOp::Add, x, xl, y, yl))?,
            (Version::Reference, Op::Add | Op::AddRow) => reference::binary(BinaryOp::Add, x, xl, y, yl),
            (other, _) => return Err(unsupported(self.name, other)),
        };
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }
}
