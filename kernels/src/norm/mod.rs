//! The norm family: BatchNorm2d over `[N, C, H, W]` (statistics per channel over N, H, W) and
//! LayerNorm over the last dim (statistics per row), as fused kernels: statistics in one pass,
//! normalise + affine in one (for BatchNorm optionally followed by ReLU in the same pass, its gate
//! recomputed in the backward), backward in two. Checks (PyTorch's: rank, channel count, dtypes,
//! devices) and dispatch here; loops in `reference.rs` (the oracle) and `cpu.rs`, CUDA kernels in
//! `norm.cu` (launch code `cuda.rs`, declared here rather than in `cuda/mod.rs`). A transposed
//! LayerNorm input whose last dim is a middle one in storage is read in place (`middle.rs`) and
//! its output keeps its layout; one whose rows are contiguous (narrowed) is read row by row where
//! they lie; inputs of other layouts are read as a contiguous copy (`elementwise::dense`).
//! Outputs are contiguous but for the transposed case. Must not: record gradients or
//! update running statistics (the module does that with the returned batch statistics).

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod middle;
pub mod reference;

use crate::backend::try_fast;
use crate::elementwise::dense;
use crate::{check, float_dispatch};
use kiln_tensor::{Error, Result, Shape, Tensor};

/// Per-group statistics of a batch: mean, biased variance and `1 / sqrt(var + eps)`, each of shape
/// `[C]` (BatchNorm) or `[rows]` (LayerNorm), in the input's dtype.
pub struct NormStats {
    pub mean: Tensor,
    pub var: Tensor,
    pub invstd: Tensor,
}

/// `x` as `(N, C, H * W)` after checking it is `[N, C, H, W]` with `C = channels` and that each
/// of `params` is a `[C]` tensor of x's dtype and device.
fn batch_dims(op: &'static str, x: &Tensor, channels: usize, params: &[&Tensor]) -> Result<(usize, usize, usize)> {
    check::float_dtype(op, x)?;
    if x.rank() != 4 {
        return Err(Error::invalid(
            op,
            format!("expected 4D input [N, C, H, W], got {}D input {}", x.rank(), x.shape()),
        ));
    }
    let d = x.dims();
    if d[1] != channels {
        return Err(Error::invalid(op, format!("input {} has {} channels, the layer has {channels}", x.shape(), d[1])));
    }
    per_feature(op, x, channels, params)?;
    Ok((d[0], d[1], d[2] * d[3]))
}

/// Each of `params` is `[n]` of `x`'s dtype and device.
fn per_feature(op: &'static str, x: &Tensor, n: usize, params: &[&Tensor]) -> Result<()> {
    for p in params {
        check::float_pair(op, x, p)?;
        if p.dims() != [n] {
            return Err(Error::ShapeMismatch { op, lhs: Shape::from(vec![n]), rhs: p.shape().clone() });
        }
    }
    Ok(())
}

/// `x`'s last dim `D` after checking `x` has rank >= 1 and each of `params` is `[D]`.
fn layer_dim(op: &'static str, x: &Tensor, params: &[&Tensor]) -> Result<usize> {
    check::float_dtype(op, x)?;
    let d = *x.dims().last().ok_or_else(|| Error::invalid(op, "expected an input of rank >= 1, got a scalar"))?;
    per_feature(op, x, d, params)?;
    Ok(d)
}

fn channels_of((outer, c, inner): (usize, usize, usize)) -> cuda::Groups {
    cuda::Groups::Channels { outer, c, inner }
}

fn rows_of(x: &Tensor, d: usize) -> cuda::Groups {
    cuda::Groups::Rows { rows: x.elem_count().checked_div(d).unwrap_or(0), d }
}

fn stats_tensors<T: kiln_tensor::Element>(s: reference::Stats<T>) -> Result<NormStats> {
    let n = s.mean.len();
    Ok(NormStats {
        mean: Tensor::from_vec(s.mean, [n])?,
        var: Tensor::from_vec(s.var, [n])?,
        invstd: Tensor::from_vec(s.invstd, [n])?,
    })
}

/// Per-channel batch statistics of `x [N, C, H, W]` (training mode).
pub fn batch_norm_stats(x: &Tensor, channels: usize, eps: f64) -> Result<NormStats> {
    const OP: &str = "batch_norm";
    let dims = batch_dims(OP, x, channels, &[])?;
    if !x.device().is_cpu() {
        return cuda::stats(x, channels_of(dims), eps);
    }
    let x = dense(x)?;
    float_dispatch!(x.dtype(), OP, T => {
        let s = x.with_slice(|v: &[T], l| {
            let v = &v[l.contiguous_range().expect("contiguous")];
            try_fast(|| Some(cpu::batch_stats(v, dims, eps))).unwrap_or_else(|| reference::batch_stats(v, dims, eps))
        })?;
        stats_tensors(s)
    })
}

/// `(x - mean) * invstd * weight + bias` per channel of `x [N, C, H, W]`, then ReLU with `relu`
/// (BatchNorm2d + ReLU fused: one pass writes the activation).
pub fn batch_norm_apply(
    x: &Tensor,
    (mean, invstd): (&Tensor, &Tensor),
    (weight, bias): (&Tensor, &Tensor),
    relu: bool,
) -> Result<Tensor> {
    const OP: &str = "batch_norm";
    let dims = batch_dims(OP, x, weight.elem_count(), &[mean, invstd, weight, bias])?;
    if !x.device().is_cpu() {
        return cuda::apply(x, (mean, invstd), (weight, bias), channels_of(dims), relu);
    }
    let x = dense(x)?;
    float_dispatch!(x.dtype(), OP, T => {
        let (m, s, w, b) = (mean.to_vec::<T>()?, invstd.to_vec::<T>()?, weight.to_vec::<T>()?, bias.to_vec::<T>()?);
        let y = x.with_slice(|v: &[T], l| {
            let v = &v[l.contiguous_range().expect("contiguous")];
            try_fast(|| Some(cpu::batch_apply(v, dims, (&m, &s), (&w, &b), relu)))
                .unwrap_or_else(|| reference::batch_apply(v, dims, (&m, &s), (&w, &b), relu))
        })?;
        Tensor::from_vec(y, x.shape())
    })
}

/// `(dx, dweight, dbias)` of [`batch_norm_apply`] for `grad` of the output's shape. `batch`: the
/// statistics were this batch's own (training), so `dx` flows through them too. `relu`: the
/// output was ReLU'd in the same op; its gate is recomputed from `x`, the statistics and the
/// affine (the bias is read only for that).
pub fn batch_norm_backward(
    x: &Tensor,
    stats: (&Tensor, &Tensor),
    (weight, bias): (&Tensor, &Tensor),
    grad: &Tensor,
    (batch, relu): (bool, bool),
) -> Result<(Tensor, Tensor, Tensor)> {
    const OP: &str = "batch_norm_backward";
    let (mean, invstd) = stats;
    let dims = batch_dims(OP, x, weight.elem_count(), &[mean, invstd, weight, bias])?;
    check::float_pair(OP, x, grad)?;
    if grad.shape() != x.shape() {
        return Err(Error::ShapeMismatch { op: OP, lhs: x.shape().clone(), rhs: grad.shape().clone() });
    }
    if !x.device().is_cpu() {
        return cuda::backward(x, stats, weight, grad, channels_of(dims), batch, relu.then_some(bias));
    }
    let (x, g) = (dense(x)?, dense(grad)?);
    float_dispatch!(x.dtype(), OP, T => {
        let (m, s, w, b) = (mean.to_vec::<T>()?, invstd.to_vec::<T>()?, weight.to_vec::<T>()?, bias.to_vec::<T>()?);
        let (dx, dw, db) = Tensor::with_slices(&[&x, &g], |v: &[(&[T], &kiln_tensor::Layout)]| {
            let xv = &v[0].0[v[0].1.contiguous_range().expect("contiguous")];
            let gv = &v[1].0[v[1].1.contiguous_range().expect("contiguous")];
            try_fast(|| Some(cpu::batch_backward(xv, dims, (&m, &s), (&w, &b), gv, (batch, relu))))
                .unwrap_or_else(|| reference::batch_backward(xv, dims, (&m, &s), (&w, &b), gv, (batch, relu)))
        })?;
        let c = dims.1;
        Ok((Tensor::from_vec(dx, x.shape())?, Tensor::from_vec(dw, [c])?, Tensor::from_vec(db, [c])?))
    })
}

/// Per-row statistics of `x` over its last dim.
pub fn layer_norm_stats(x: &Tensor, eps: f64) -> Result<NormStats> {
    const OP: &str = "layer_norm";
    let d = layer_dim(OP, x, &[])?;
    if !x.device().is_cpu() {
        return cuda::stats(x, rows_of(x, d), eps);
    }
    if let Some(stored) = try_fast(|| StoredLayer::of(x)) {
        let s = float_dispatch!(x.dtype(), OP, T => {
            let s = x.with_slice(|v: &[T], l| middle::layer_stats_middle(&v[l.offset()..][..x.elem_count()], stored.dims, eps))?;
            stats_tensors(s)
        })?;
        let logical = |t: Tensor| stored.stats_to_logical(&t);
        return Ok(NormStats { mean: logical(s.mean)?, var: logical(s.var)?, invstd: logical(s.invstd)? });
    }
    if let Some(starts) = try_fast(|| row_starts(x)) {
        return float_dispatch!(x.dtype(), OP, T => {
            stats_tensors(x.with_slice(|v: &[T], _| cpu::layer_stats_at(v, starts.len(), d, |r| starts[r], eps))?)
        });
    }
    let x = dense(x)?;
    float_dispatch!(x.dtype(), OP, T => {
        let s = x.with_slice(|v: &[T], l| {
            let v = &v[l.contiguous_range().expect("contiguous")];
            try_fast(|| Some(cpu::layer_stats(v, d, eps))).unwrap_or_else(|| reference::layer_stats(v, d, eps))
        })?;
        stats_tensors(s)
    })
}

/// Where each row of `x`'s last dim starts in storage, when `x` is not contiguous but its rows
/// are (a narrowed view, rows cut out of wider ones): read where they lie instead of copied.
fn row_starts(x: &Tensor) -> Option<Vec<usize>> {
    let l = x.layout();
    let last = x.rank().checked_sub(1)?;
    if x.is_contiguous() || x.elem_count() == 0 || (l.dims()[last] > 1 && l.strides()[last] != 1) {
        return None;
    }
    Some(l.leading_dims(last).strided_index().collect())
}

/// A transposed view whose last (normalised) dim lies in the middle of its storage: the storage
/// seen as `[outer, d, inner]` (`inner > 1`), read in place by `middle.rs`, and how its per-row
/// values (in storage order there) map to the logical rows (the statistics the caller keeps).
struct StoredLayer {
    /// Logical dims in storage order (`Layout::storage_order`).
    order: Vec<usize>,
    /// The logical dims' sizes.
    sizes: Vec<usize>,
    dims: (usize, usize, usize),
}

impl StoredLayer {
    fn of(x: &Tensor) -> Option<StoredLayer> {
        let last = x.rank().checked_sub(1)?;
        if x.is_contiguous() || x.elem_count() == 0 {
            return None;
        }
        let order = x.layout().storage_order()?;
        let p = order.iter().position(|&d| d == last)?;
        let stored: Vec<usize> = order.iter().map(|&d| x.dims()[d]).collect();
        let (outer, inner): (usize, usize) = (stored[..p].iter().product(), stored[p + 1..].iter().product());
        (inner > 1).then(|| StoredLayer { order, sizes: x.dims().to_vec(), dims: (outer, stored[p], inner) })
    }

    /// The kept logical dims (all but the last) in storage order.
    fn kept(&self) -> Vec<usize> {
        let last = self.sizes.len() - 1;
        self.order.iter().copied().filter(|&d| d != last).collect()
    }

    /// Per-row values in storage order (`[outer * inner]`) as `[rows]` in logical row order.
    fn stats_to_logical(&self, t: &Tensor) -> Result<Tensor> {
        let kept = self.kept();
        let stored = t.reshape(kept.iter().map(|&d| self.sizes[d]).collect::<Vec<_>>())?;
        // Stored dim i is logical dim kept[i]; logical dim j sits where kept has j.
        let perm: Vec<usize> =
            (0..kept.len()).map(|j| kept.iter().position(|&d| d == j).expect("a kept dim")).collect();
        dense(&stored.permute(&perm)?)?.reshape([t.elem_count()])
    }

    /// Per-row values in logical row order (`[rows]`) as `[outer * inner]` in storage order.
    fn stats_to_storage(&self, t: &Tensor) -> Result<Tensor> {
        let logical = t.reshape(self.sizes[..self.sizes.len() - 1].to_vec())?;
        dense(&logical.permute(&self.kept())?)?.reshape([t.elem_count()])
    }
}

/// `(x - mean) * invstd * weight + bias` over the last dim of `x`; `mean`, `invstd` per row.
pub fn layer_norm_apply(x: &Tensor, mean: &Tensor, invstd: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    let d = layer_dim(OP, x, &[weight, bias])?;
    per_feature(OP, x, x.elem_count() / d.max(1), &[mean, invstd])?;
    if !x.device().is_cpu() {
        return cuda::apply(x, (mean, invstd), (weight, bias), rows_of(x, d), false);
    }
    if let Some(stored) = try_fast(|| StoredLayer::of(x)) {
        let (mean, invstd) = (stored.stats_to_storage(mean)?, stored.stats_to_storage(invstd)?);
        return float_dispatch!(x.dtype(), OP, T => {
            let (m, s, w, b) = (mean.to_vec::<T>()?, invstd.to_vec::<T>()?, weight.to_vec::<T>()?, bias.to_vec::<T>()?);
            let y = x.with_slice(|v: &[T], l| {
                middle::layer_apply_middle(&v[l.offset()..][..x.elem_count()], stored.dims, &m, &s, &w, &b)
            })?;
            // The result keeps x's layout, as the elementwise ops do.
            let out = Tensor::from_vec(y, stored.order.iter().map(|&d| stored.sizes[d]).collect::<Vec<_>>())?;
            crate::elementwise::from_storage_order(out, &stored.order)
        });
    }
    if let Some(starts) = try_fast(|| row_starts(x)) {
        return float_dispatch!(x.dtype(), OP, T => {
            let (m, s, w, b) = (mean.to_vec::<T>()?, invstd.to_vec::<T>()?, weight.to_vec::<T>()?, bias.to_vec::<T>()?);
            let n = x.elem_count();
            let y = x.with_slice(|v: &[T], _| cpu::layer_apply_at(v, n, d, |r| starts[r], (&m, &s), (&w, &b)))?;
            Tensor::from_vec(y, x.shape())
        });
    }
    let x = dense(x)?;
    float_dispatch!(x.dtype(), OP, T => {
        let (m, s, w, b) = (mean.to_vec::<T>()?, invstd.to_vec::<T>()?, weight.to_vec::<T>()?, bias.to_vec::<T>()?);
        let y = x.with_slice(|v: &[T], l| {
            let v = &v[l.contiguous_range().expect("contiguous")];
            try_fast(|| Some(cpu::layer_apply(v, d, &m, &s, &w, &b)))
                .unwrap_or_else(|| reference::layer_apply(v, d, &m, &s, &w, &b))
        })?;
        Tensor::from_vec(y, x.shape())
    })
}

/// `(dx, dweight, dbias)` of LayerNorm (statistics from `x` itself) for `grad` of x's shape.
pub fn layer_norm_backward(
    x: &Tensor,
    stats: (&Tensor, &Tensor),
    weight: &Tensor,
    grad: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    const OP: &str = "layer_norm_backward";
    let (mean, invstd) = stats;
    let d = layer_dim(OP, x, &[weight])?;
    per_feature(OP, x, x.elem_count() / d.max(1), &[mean, invstd])?;
    check::float_pair(OP, x, grad)?;
    if grad.shape() != x.shape() {
        return Err(Error::ShapeMismatch { op: OP, lhs: x.shape().clone(), rhs: grad.shape().clone() });
    }
    if !x.device().is_cpu() {
        return cuda::backward(x, stats, weight, grad, rows_of(x, d), true, None);
    }
    let (x, g) = (dense(x)?, dense(grad)?);
    float_dispatch!(x.dtype(), OP, T => {
        let (m, s, w) = (mean.to_vec::<T>()?, invstd.to_vec::<T>()?, weight.to_vec::<T>()?);
        let (dx, dw, db) = Tensor::with_slices(&[&x, &g], |v: &[(&[T], &kiln_tensor::Layout)]| {
            let xv = &v[0].0[v[0].1.contiguous_range().expect("contiguous")];
            let gv = &v[1].0[v[1].1.contiguous_range().expect("contiguous")];
            try_fast(|| Some(cpu::layer_backward(xv, d, &m, &s, &w, gv)))
                .unwrap_or_else(|| reference::layer_backward(xv, d, &m, &s, &w, gv))
        })?;
        Ok((Tensor::from_vec(dx, x.shape())?, Tensor::from_vec(dw, [d])?, Tensor::from_vec(db, [d])?))
    })
}
