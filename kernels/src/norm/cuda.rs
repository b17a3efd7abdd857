//! Launch code for norm.cu: the fused BatchNorm2d and LayerNorm kernels on f32 tensors on a CUDA
//! device, taking the shapes `mod.rs` checked (`(outer, C, inner)` or `(rows, d)`). Inputs are
//! made contiguous from element 0 on their device first; outputs are contiguous. Must not check
//! shapes again or fall back to the CPU.

use super::NormStats;
use crate::cuda::params::to_u32;
use crate::cuda::reduce::{row_launch, BLOCK};
use crate::cuda::source::NORM;
use crate::cuda::{access, need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::{DType, Result, Tensor};

kernel_params! {
    pub struct NormStatsParams {
        pub x: u64, pub mean: u64, pub var: u64, pub invstd: u64, pub outer: u32, pub c: u32, pub inner: u32, pub eps: f32,
    }
}
kernel_params! {
    pub struct NormApplyParams {
        pub x: u64, pub mean: u64, pub invstd: u64, pub w: u64, pub b: u64, pub y: u64,
        pub n: u32, pub c: u32, pub inner: u32, pub relu: u32,
    }
}
kernel_params! {
    pub struct NormBackwardParams {
        pub x: u64, pub g: u64, pub mean: u64, pub invstd: u64, pub w: u64, pub b: u64, pub dw: u64, pub db: u64,
        pub dx: u64, pub outer: u32, pub c: u32, pub inner: u32, pub batch: u32, pub relu: u32, pub pad: u32,
    }
}

/// Whether the statistics are per channel of `[outer, C, inner]` or per row of `[rows, d]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    Channels { outer: usize, c: usize, inner: usize },
    Rows { rows: usize, d: usize },
}

impl Groups {
    fn elems(self) -> usize {
        match self {
            Groups::Channels { outer, c, inner } => outer * c * inner,
            Groups::Rows { rows, d } => rows * d,
        }
    }
    /// How many statistics (groups) and affine parameters there are.
    fn counts(self) -> (usize, usize) {
        match self {
            Groups::Channels { c, .. } => (c, c),
            Groups::Rows { rows, d } => (rows, d),
        }
    }
    /// `(outer, c, inner)` as the kernels read them.
    fn dims(self, op: &'static str) -> Result<(u32, u32, u32)> {
        let (o, c, i) = match self {
            Groups::Channels { outer, c, inner } => (outer, c, inner),
            Groups::Rows { rows, d } => (rows, 1, d),
        };
        Ok((to_u32(op, "outer size", o)?, to_u32(op, "channels", c)?, to_u32(op, "inner size", i)?))
    }
}

/// Each tensor as an f32 tensor contiguous from element 0 on its device.
fn dense_f32(op: &'static str, ts: &[&Tensor]) -> Result<Vec<Tensor>> {
    ts.iter().map(|t| t.expect_dtype(DType::F32, op).and_then(|_| access::from_start(t))).collect()
}

fn new_f32(r: &Runner, len: usize) -> Result<Buf<f32>> {
    r.output(len.max(1))
}

/// Batch statistics (mean, biased var, invstd) of `x` per group.
pub fn stats(x: &Tensor, groups: Groups, eps: f64) -> Result<NormStats> {
    let op = if matches!(groups, Groups::Channels { .. }) { "batch_norm" } else { "layer_norm" };
    let x = dense_f32(op, &[x])?.remove(0);
    let (n_groups, _) = groups.counts();
    let (outer, c, inner) = groups.dims(op)?;
    access::read_f32(op, &[&x], |r, v| {
        need(op, "input", v[0].0, groups.elems())?;
        let (mut mean, mut var, mut invstd) = (new_f32(r, n_groups)?, new_f32(r, n_groups)?, new_f32(r, n_groups)?);
        let p = NormStatsParams {
            x: v[0].0.addr(0)?,
            mean: mean.addr_mut(0)?,
            var: var.addr_mut(0)?,
            invstd: invstd.addr_mut(0)?,
            outer,
            c,
            inner,
            eps: eps as f32,
        };
        if n_groups > 0 {
            let (kernel, blocks) = match groups {
                Groups::Channels { .. } => ("batch_norm_stats_f32", n_groups),
                Groups::Rows { .. } => ("layer_norm_stats_f32", n_groups),
            };
            // SAFETY: the input holds every element the groups read; each output holds n_groups.
            unsafe { r.launch(&NORM, kernel, row_launch(blocks, BLOCK), &p)? };
        }
        Ok(NormStats {
            mean: access::f32_tensor(r, mean, [n_groups.max(1)])?.narrow(0, 0, n_groups)?,
            var: access::f32_tensor(r, var, [n_groups.max(1)])?.narrow(0, 0, n_groups)?,
            invstd: access::f32_tensor(r, invstd, [n_groups.max(1)])?.narrow(0, 0, n_groups)?,
        })
    })
}

/// `(x - mean) * invstd * w + b`, statistics per group and affine per channel or column, then
/// ReLU with `relu` (BatchNorm only).
pub fn apply(
    x: &Tensor,
    stats: (&Tensor, &Tensor),
    affine: (&Tensor, &Tensor),
    groups: Groups,
    relu: bool,
) -> Result<Tensor> {
    let op = if matches!(groups, Groups::Channels { .. }) { "batch_norm" } else { "layer_norm" };
    let t = dense_f32(op, &[x, stats.0, stats.1, affine.0, affine.1])?;
    let n = groups.elems();
    let (c, inner, kernel) = match groups {
        Groups::Channels { c, inner, .. } => (c, inner, "batch_norm_apply_f32"),
        Groups::Rows { d, .. } => (d, 0, "layer_norm_apply_f32"),
    };
    if n == 0 {
        return t[0].zeros_like();
    }
    let refs: Vec<&Tensor> = t.iter().collect();
    access::read_f32(op, &refs, |r, v| {
        let (ng, np) = groups.counts();
        need(op, "input", v[0].0, n)?;
        for (k, want) in [(1, ng), (2, ng), (3, np), (4, np)] {
            need(op, "statistics or affine", v[k].0, want)?;
        }
        let mut y = new_f32(r, n)?;
        let p = NormApplyParams {
            x: v[0].0.addr(0)?,
            mean: v[1].0.addr(0)?,
            invstd: v[2].0.addr(0)?,
            w: v[3].0.addr(0)?,
            b: v[4].0.addr(0)?,
            y: y.addr_mut(0)?,
            n: to_u32(op, "length", n)?,
            c: to_u32(op, "channels", c)?,
            inner: to_u32(op, "inner size", inner)?,
            relu: relu as u32,
        };
        // SAFETY: need() covered every index the kernel reads (i < n, channel < c, row < n / c).
        unsafe { r.launch(&NORM, kernel, Launch::linear(n, 256), &p)? };
        access::f32_tensor(r, y, x.shape().clone())
    })
}

/// `(dx, dw, db)`: the two backward kernels. `batch`: BatchNorm's statistics were the batch's own
/// (LayerNorm's always are). `relu_bias`: BatchNorm's output went through ReLU in the same op; the
/// kernels recompute its gate from `x`, the statistics, `w` and this bias.
pub fn backward(
    x: &Tensor,
    stats: (&Tensor, &Tensor),
    w: &Tensor,
    grad: &Tensor,
    groups: Groups,
    batch: bool,
    relu_bias: Option<&Tensor>,
) -> Result<(Tensor, Tensor, Tensor)> {
    let op = if matches!(groups, Groups::Channels { .. }) { "batch_norm_backward" } else { "layer_norm_backward" };
    // Without ReLU the bias slot holds the weight again: read by no kernel, but a valid address.
    let t = dense_f32(op, &[x, grad, stats.0, stats.1, w, relu_bias.unwrap_or(w)])?;
    let refs: Vec<&Tensor> = t.iter().collect();
    let n = groups.elems();
    let (ng, np) = groups.counts();
    let (outer, c, inner) = match groups {
        Groups::Channels { outer, c, inner } => (outer, c, inner),
        Groups::Rows { rows, d } => (rows, d, 0),
    };
    access::read_f32(op, &refs, |r, v| {
        need(op, "input", v[0].0, n)?;
        need(op, "gradient", v[1].0, n)?;
        for (k, want) in [(2, ng), (3, ng), (4, np), (5, np)] {
            need(op, "statistics, weight or bias", v[k].0, want)?;
        }
        let (mut dw, mut db, mut dx) = (new_f32(r, np)?, new_f32(r, np)?, new_f32(r, n)?);
        let p = NormBackwardParams {
            x: v[0].0.addr(0)?,
            g: v[1].0.addr(0)?,
            mean: v[2].0.addr(0)?,
            invstd: v[3].0.addr(0)?,
            w: v[4].0.addr(0)?,
            b: v[5].0.addr(0)?,
            dw: dw.addr_mut(0)?,
            db: db.addr_mut(0)?,
            dx: dx.addr_mut(0)?,
            outer: to_u32(op, "outer size", outer)?,
            c: to_u32(op, "channels", c)?,
            inner: to_u32(op, "inner size", inner)?,
            batch: batch as u32,
            relu: relu_bias.is_some() as u32,
            pad: 0,
        };
        // SAFETY (each launch): need() covered every element read; dw/db hold np, dx holds n. The
        // reduction writes dw/db before the dx kernel reads them (launches on one stream are ordered).
        match groups {
            Groups::Channels { .. } if np > 0 => unsafe {
                r.launch(&NORM, "batch_norm_backward_reduce_f32", row_launch(np, BLOCK), &p)?;
                if n > 0 {
                    r.launch(&NORM, "batch_norm_backward_dx_f32", Launch::linear(n, 256), &p)?;
                }
            },
            Groups::Rows { .. } if np > 0 => unsafe {
                r.launch(&NORM, "layer_norm_backward_params_f32", Launch::linear(np, 256), &p)?;
                if ng > 0 {
                    r.launch(&NORM, "layer_norm_backward_dx_f32", row_launch(ng, BLOCK), &p)?;
                }
            },
            _ => {}
        }
        let vector = |r: &Runner, b: Buf<f32>| access::f32_tensor(r, b, [np.max(1)])?.narrow(0, 0, np);
        let dx = if n == 0 { t[0].zeros_like()? } else { access::f32_tensor(r, dx, x.shape().clone())? };
        Ok((dx, vector(r, dw)?, vector(r, db)?))
    })
}
