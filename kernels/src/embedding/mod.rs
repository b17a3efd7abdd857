//! Indexing along an axis, the kernels behind embeddings and label lookups: `index_select` (rows
//! by a 1-D index list) with its backward `index_add`, and torch-style `gather` with its backward
//! `scatter_add`. Checks and dispatch here, loops in `reference.rs`, row-at-a-time fast paths for
//! axis 0 in `cpu.rs`. The selects only move elements, so they take any dtype; the adds accumulate
//! and need f32/f64. No autograd here.

pub mod cpu;
pub mod cuda;
pub mod reference;

use crate::backend::try_fast;
use crate::check::element_dispatch;
use crate::{check, float_dispatch};
use kiln_tensor::{Error, Float, Layout, Result, Shape, Tensor};

/// A 1-D index tensor, read and range-checked against `bound`.
fn index_list(op: &'static str, x_shape: &Shape, indices: &Tensor, bound: usize) -> Result<Vec<usize>> {
    if indices.rank() != 1 {
        return Err(Error::invalid(op, format!("indices must be 1-D, got {} (for tensor {x_shape})", indices.shape())));
    }
    check::read_indices(op, indices, bound)
}

/// `x` with only the entries `indices` (1-D, i64 or u32) along `axis`, in that order; output dim
/// `axis` has `len(indices)` entries. An embedding lookup is `index_select(table, 0, ids)`.
pub fn index_select(x: &Tensor, axis: isize, indices: &Tensor) -> Result<Tensor> {
    const OP: &str = "index_select";
    check::same_device(OP, x, indices)?;
    let a = x.shape().resolve_axis(axis, OP)?;
    let idx = index_list(OP, x.shape(), indices, x.dims()[a])?;
    if !x.device().is_cpu() {
        return crate::cuda::embedding::index_select_tensor(x, a, indices);
    }
    let mut dims = x.dims().to_vec();
    dims[a] = idx.len();
    element_dispatch!(x.dtype(), T => {
        let out = x.with_slice(|s: &[T], l| {
            try_fast(|| if a == 0 { cpu::select_rows(s, l, &idx) } else { None })
                .unwrap_or_else(|| reference::index_select(s, l, a, &idx))
        })?;
        Tensor::from_vec(out, dims)
    })
}

/// Zeros of `shape` (dtype of `src`) with slice `i` of `src` along `axis` added at `indices[i]`:
/// the backward of [`index_select`]; repeated indices accumulate.
pub fn index_add(shape: &Shape, axis: isize, indices: &Tensor, src: &Tensor) -> Result<Tensor> {
    index_add_except("index_add", shape, axis, indices, src, None)
}

/// The backward of an embedding lookup `index_select(table, 0, ids)` with PyTorch's `padding_idx`:
/// [`index_add`] along axis 0, except that row `padding_idx` of the table gets no gradient.
pub fn embedding_backward(table: &Shape, ids: &Tensor, grad: &Tensor, padding_idx: Option<usize>) -> Result<Tensor> {
    index_add_except("embedding_backward", table, 0, ids, grad, padding_idx)
}

/// [`index_add`], then slice `skip` along `axis` set back to zero.
fn index_add_except(
    op: &'static str,
    shape: &Shape,
    axis: isize,
    indices: &Tensor,
    src: &Tensor,
    skip: Option<usize>,
) -> Result<Tensor> {
    check::float_dtype(op, src)?;
    check::same_device(op, src, indices)?;
    let a = shape.resolve_axis(axis, op)?;
    let idx = index_list(op, shape, indices, shape.dims()[a])?;
    let mut expected = shape.dims().to_vec();
    expected[a] = idx.len();
    if src.dims() != expected {
        return Err(Error::ShapeMismatch { op, lhs: shape.clone(), rhs: src.shape().clone() });
    }
    if let Some(p) = skip.filter(|&p| p >= shape.dims()[a]) {
        return Err(Error::invalid(op, format!("padding index {p} is outside a table of shape {shape}")));
    }
    if !src.device().is_cpu() {
        return crate::cuda::embedding::index_add_tensor(shape, a, indices, src, skip);
    }
    float_dispatch!(src.dtype(), op, T => {
        let mut out = src.with_slice(|s: &[T], l| {
            try_fast(|| if a == 0 { cpu::add_rows(shape.dims(), &idx, s, l) } else { None })
                .unwrap_or_else(|| reference::index_add(shape.dims(), a, &idx, s, l))
        })?;
        if let Some(p) = skip {
            let (n, inner) = (shape.dims()[a], shape.dims()[a + 1..].iter().product::<usize>());
            for block in out.chunks_mut(n * inner) {
                block[p * inner..(p + 1) * inner].fill(<T as Float>::ZERO);
            }
        }
        Tensor::from_vec(out, shape)
    })
}

/// Checks that `index` has `rank` dims, none larger than `limit`'s (except at `axis` when
/// `skip_axis`); names both shapes otherwise.
fn fits_within(op: &'static str, index: &Shape, limit: &Shape, axis: usize, skip_axis: bool) -> Result<()> {
    let ok = index.rank() == limit.rank()
        && index.dims().iter().zip(limit.dims()).enumerate().all(|(d, (i, l))| (skip_axis && d == axis) || i <= l);
    if !ok {
        return Err(Error::ShapeMismatch { op, lhs: limit.clone(), rhs: index.clone() });
    }
    Ok(())
}

/// torch.gather: the output has `index`'s shape and `out[p] = x[p with coordinate axis = index[p]]`
/// (for axis 0 and rank 2: `out[i][j] = x[index[i][j]][j]`). `index` has x's rank and is no
/// larger than x in the other dims. On a CUDA device `x` must be f32 (other dtypes are a typed
/// error there).
pub fn gather(x: &Tensor, axis: isize, index: &Tensor) -> Result<Tensor> {
    const OP: &str = "gather";
    check::same_device(OP, x, index)?;
    let a = x.shape().resolve_axis(axis, OP)?;
    fits_within(OP, index.shape(), x.shape(), a, true)?;
    let idx = check::read_indices(OP, index, x.dims()[a])?;
    if !x.device().is_cpu() {
        return crate::cuda::embedding::gather_tensor(x, a, index);
    }
    element_dispatch!(x.dtype(), T => {
        let out = x.with_slice(|s: &[T], l| reference::gather(s, l, a, &idx, index.dims()))?;
        Tensor::from_vec(out, index.shape())
    })
}

/// `zeros(shape).scatter_add_(axis, index, src)`: for every position `p` of `index`,
/// `out[p with coordinate axis = index[p]] += src[p]`. The backward of [`gather`]. `index` is no
/// larger than `src` in any dim and no larger than `shape` outside `axis`. On a CUDA device `src`
/// must be f32.
pub fn scatter_add(shape: &Shape, axis: isize, index: &Tensor, src: &Tensor) -> Result<Tensor> {
    const OP: &str = "scatter_add";
    check::float_dtype(OP, src)?;
    check::same_device(OP, src, index)?;
    let a = shape.resolve_axis(axis, OP)?;
    fits_within(OP, index.shape(), src.shape(), a, false)?;
    fits_within(OP, index.shape(), shape, a, true)?;
    let idx = check::read_indices(OP, index, shape.dims()[a])?;
    // src restricted to the index's extent: same strides and offset, smaller dims.
    let sl = Layout::new(index.shape().clone(), src.strides().to_vec(), src.layout().offset())?;
    if !src.device().is_cpu() {
        return crate::cuda::embedding::scatter_add_tensor(shape, a, index, src, &sl);
    }
    float_dispatch!(src.dtype(), OP, T => {
        let out = src.with_slice(|s: &[T], _| reference::scatter_add(shape.dims(), a, &idx, s, &sl))?;
        Tensor::from_vec(out, shape)
    })
}

#[cfg(test)]
mod tests;
