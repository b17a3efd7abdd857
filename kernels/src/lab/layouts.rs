//! The kernel lab's layout sweep (`kiln bench kernel <name> --layouts`): one kernel, called
//! through the engine's own op (the dispatch a model's call runs: fast paths, then the strided
//! walk, then the reference), on one logical shape `[a, b, c]` with its swept operand laid out
//! five ways: contiguous, transposed (stored `[a, c, b]`), narrowed (every dim cut from offset 1
//! out of a larger storage), broadcast over the middle axis (stored `[a, 1, c]`) and a broadcast
//! scalar. Each layout gets GB/s (logical bytes: every operand element read once, every output
//! element written once) and its time per element relative to contiguous; over [`CLIFF`] it is
//! flagged. Must not: time anything but the public op, or reuse an output between runs.

use super::timing::{self, Plan, Timing};
use crate::elementwise::{binary, binary_backward, unary, unary_backward, BinaryOp, UnaryOp};
use crate::{norm, reduce, softmax};
use kiln_tensor::{DType, Error, Result, Rng, Tensor};

/// A layout slower per element than contiguous by more than this is flagged.
pub const CLIFF: f64 = 2.0;

/// How the swept operand is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrangement {
    Contiguous,
    Transposed,
    Narrowed,
    BroadcastMiddle,
    BroadcastScalar,
}

impl Arrangement {
    pub const ALL: [Arrangement; 5] = [
        Arrangement::Contiguous,
        Arrangement::Transposed,
        Arrangement::Narrowed,
        Arrangement::BroadcastMiddle,
        Arrangement::BroadcastScalar,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Arrangement::Contiguous => "contiguous",
            Arrangement::Transposed => "transposed",
            Arrangement::Narrowed => "narrowed",
            Arrangement::BroadcastMiddle => "broadcast-middle",
            Arrangement::BroadcastScalar => "broadcast-scalar",
        }
    }

    /// A random f32 tensor of logical shape `[a, b, c]` stored this way.
    pub fn tensor(self, [a, b, c]: [usize; 3], rng: &mut Rng) -> Result<Tensor> {
        let rand = |shape: Vec<usize>, rng: &mut Rng| Tensor::rand_uniform(shape, -2.0, 2.0, DType::F32, rng);
        match self {
            Arrangement::Contiguous => Ok(rand(vec![a, b, c], rng)),
            Arrangement::Transposed => rand(vec![a, c, b], rng).transpose(1, 2),
            Arrangement::Narrowed => {
                rand(vec![a + 1, b + 1, c + 3], rng).narrow(0, 1, a)?.narrow(1, 1, b)?.narrow(2, 1, c)
            }
            Arrangement::BroadcastMiddle => rand(vec![a, 1, c], rng).broadcast_to([a, b, c]),
            Arrangement::BroadcastScalar => rand(vec![1], rng).broadcast_to([a, b, c]),
        }
    }
}

/// A kernel the sweep can run: the swept operand first, then `extra` contiguous operands of the
/// same logical shape.
pub struct SweepKernel {
    pub name: &'static str,
    pub about: &'static str,
    extra: usize,
    run: fn(&[Tensor]) -> Result<Vec<Tensor>>,
}

fn one(t: Result<Tensor>) -> Result<Vec<Tensor>> {
    Ok(vec![t?])
}

fn pair(t: Result<(Tensor, Tensor)>) -> Result<Vec<Tensor>> {
    let (a, b) = t?;
    Ok(vec![a, b])
}

/// LayerNorm's statistics and output over the last axis, unit weight and zero bias.
fn layer_norm(x: &Tensor) -> Result<Vec<Tensor>> {
    let c = x.dims()[2];
    let (w, b) = (Tensor::ones([c], DType::F32), Tensor::zeros([c], DType::F32));
    let s = norm::layer_norm_stats(x, 1e-5)?;
    one(norm::layer_norm_apply(x, &s.mean, &s.invstd, &w, &b))
}

/// Every kernel the sweep knows, by family.
pub fn kernels() -> &'static [SweepKernel] {
    const K: &[SweepKernel] = &[
        SweepKernel {
            name: "add",
            about: "y + x (x swept)",
            extra: 1,
            run: |v| one(binary(BinaryOp::Add, &v[1], &v[0])),
        },
        SweepKernel {
            name: "mul",
            about: "y * x (x swept)",
            extra: 1,
            run: |v| one(binary(BinaryOp::Mul, &v[1], &v[0])),
        },
        SweepKernel { name: "relu", about: "max(x, 0)", extra: 0, run: |v| one(unary(UnaryOp::Relu, &v[0])) },
        SweepKernel { name: "exp", about: "e^x", extra: 0, run: |v| one(unary(UnaryOp::Exp, &v[0])) },
        SweepKernel { name: "tanh", about: "tanh x", extra: 0, run: |v| one(unary(UnaryOp::Tanh, &v[0])) },
        SweepKernel {
            name: "sigmoid",
            about: "1 / (1 + e^-x)",
            extra: 0,
            run: |v| one(unary(UnaryOp::Sigmoid, &v[0])),
        },
        SweepKernel {
            name: "relu_backward",
            about: "g * relu'(x) (x swept; y and g contiguous)",
            extra: 2,
            run: |v| one(unary_backward(UnaryOp::Relu, &v[0], &v[1], &v[2])),
        },
        SweepKernel {
            name: "mul_backward",
            about: "both gradients of y * x (x swept; y and g contiguous)",
            extra: 2,
            run: |v| pair(binary_backward(BinaryOp::Mul, &v[1], &v[0], &v[2])),
        },
        SweepKernel {
            name: "sum_last",
            about: "sum over the last axis",
            extra: 0,
            run: |v| one(reduce::sum(&v[0], &[-1], false)),
        },
        SweepKernel {
            name: "sum_first",
            about: "sum over the first axis",
            extra: 0,
            run: |v| one(reduce::sum(&v[0], &[0], false)),
        },
        SweepKernel {
            name: "sum_outer",
            about: "sum over the first and last axes (BatchNorm's)",
            extra: 0,
            run: |v| one(reduce::sum(&v[0], &[0, 2], false)),
        },
        SweepKernel {
            name: "softmax",
            about: "softmax over the last axis",
            extra: 0,
            run: |v| one(softmax::softmax(&v[0], -1)),
        },
        SweepKernel {
            name: "layer_norm",
            about: "LayerNorm over the last axis (statistics + output)",
            extra: 0,
            run: |v| layer_norm(&v[0]),
        },
    ];
    K
}

/// The sweep kernel called `name`.
pub fn find(name: &str) -> Result<&'static SweepKernel> {
    kernels().iter().find(|k| k.name.eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
        let known: Vec<&str> = kernels().iter().map(|k| k.name).collect();
        Error::invalid("kernel lab", format!("`{name}` has no layout sweep (sweepable: {})", known.join(", ")))
    })
}

/// One layout's measurement.
pub struct SweepRow {
    pub layout: Arrangement,
    pub timing: Timing,
    pub gbps: f64,
    /// Time per element over contiguous's.
    pub relative: f64,
    pub flagged: bool,
}

/// Times `k` at logical shape `dims` in every arrangement (contiguous first).
pub fn sweep(k: &SweepKernel, dims: [usize; 3], plan: &Plan, seed: u64) -> Result<Vec<SweepRow>> {
    let mut rng = Rng::new(seed);
    let n: usize = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 28)
        .ok_or_else(|| Error::invalid("kernel lab", format!("layout sweep: shape {dims:?} is too large")))?;
    let mut rows: Vec<SweepRow> = Vec::new();
    for layout in Arrangement::ALL {
        let mut operands = vec![layout.tensor(dims, &mut rng)?];
        for _ in 0..k.extra {
            operands.push(Arrangement::Contiguous.tensor(dims, &mut rng)?);
        }
        let out_elems: usize = (k.run)(&operands)?.iter().map(|t| t.elem_count()).sum();
        let timing = timing::time(plan, || (k.run)(&operands).map(drop))?;
        let bytes = 4.0 * ((n * (1 + k.extra)) as f64 + out_elems as f64);
        let secs = timing.median.as_secs_f64().max(1e-12);
        let relative = rows.first().map_or(1.0, |c| secs / c.timing.median.as_secs_f64().max(1e-12));
        rows.push(SweepRow { layout, timing, gbps: bytes / secs / 1e9, relative, flagged: relative > CLIFF });
    }
    Ok(rows)
}
