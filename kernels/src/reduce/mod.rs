//! Reductions over any set of axes with keepdim (sum, mean, max, min), argmax/argmin along one
//! axis, values+indices for max/min (what the autograd rule saves), and `sum_to`, which folds a
//! broadcast gradient back onto an input's shape. Fast paths (`cpu.rs`) first, in the order W1-W3
//! reproduce bit for bit; a transposed (permuted dense) input is reduced where it lies, its axes
//! renumbered in storage order (`reduce_in_storage_order`, where a logically strided axis is often
//! a leading or middle one in memory); layouts none of them covers are gathered into contiguous
//! groups (`elementwise::strided::gather`) and row-reduced, which sums in the row kernel's order
//! (16 partial sums), not the reference's; the reference stays the oracle.

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod reference;
mod runs;

pub use reference::ReduceOp;

use crate::backend::try_fast;
use crate::elementwise::strided;
use crate::float_dispatch;
use kiln_tensor::{Error, Float, Layout, Result, Shape, Tensor};

/// The reduced-axes-last layout, the output shape, the number of outputs and the group size.
struct Plan {
    grouped: Layout,
    out_shape: Shape,
    outputs: usize,
    group: usize,
}

fn plan(x: &Tensor, axes: &[usize], keepdim: bool) -> Result<Plan> {
    let dims = x.dims();
    let kept: Vec<usize> = (0..x.rank()).filter(|d| !axes.contains(d)).collect();
    let grouped = grouped_layout(x.layout(), axes)?;
    let group = axes.iter().map(|&a| dims[a]).product();
    let outputs = kept.iter().map(|&a| dims[a]).product();
    let out_dims: Vec<usize> = if keepdim {
        dims.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
    } else {
        kept.iter().map(|&a| dims[a]).collect()
    };
    Ok(Plan { grouped, out_shape: out_dims.into(), outputs, group })
}

/// `l` with the reduced axes moved last.
fn grouped_layout(l: &Layout, axes: &[usize]) -> Result<Layout> {
    let kept = (0..l.rank()).filter(|d| !axes.contains(d));
    let perm: Vec<usize> = kept.chain(axes.iter().copied()).collect();
    l.permute(&perm)
}

/// Layouts no fast path covers: a non-contiguous `x` copied into logical order by the strided walk
/// (then the contiguous fast paths apply), and axis sets they do not cover (middle axes) gathered
/// into contiguous groups for the row kernel.
fn reduce_any<T: Float>(op: ReduceOp, s: &[T], l: &Layout, axes: &[usize], p: &Plan) -> Option<Vec<T>> {
    let dl = Layout::contiguous(l.shape().clone());
    let copy;
    let x: &[T] = match l.contiguous_range() {
        Some(r) => &s[r],
        None => {
            if let Some(out) = reduce_in_storage_order(op, s, l, axes).or_else(|| runs::reduce_runs(op, s, l, axes)) {
                return Some(out);
            }
            copy = strided::gather(s, l);
            &copy
        }
    };
    let grouped = grouped_layout(&dl, axes).ok()?;
    cpu::reduce(op, x, &grouped, p.outputs, p.group)
        .or_else(|| cpu::reduce_leading(op, x, &dl, axes))
        .or_else(|| cpu::reduce_outer_inner(op, x, &dl, axes))
        .or_else(|| {
            let rows = strided::gather(x, &grouped);
            cpu::reduce(op, &rows, &Layout::contiguous([p.outputs, p.group]), p.outputs, p.group)
        })
}

/// A transposed `x` reduced where it lies: the axes renumbered in storage order, where the
/// contiguous fast paths apply (a reduced axis that is strided logically is often leading or
/// middle in memory), then the result (one value per kept index, so at most the input's size and
/// usually far smaller) put into logical order. Sums keep the fast path's order, which differs from
/// the reference's by rounding only. `None` where no fast path applies in storage order either.
fn reduce_in_storage_order<T: Float>(op: ReduceOp, s: &[T], l: &Layout, axes: &[usize]) -> Option<Vec<T>> {
    let order = l.storage_order()?;
    let stored = l.permute(&order).ok()?;
    let stored_axes: Vec<usize> = (0..order.len()).filter(|&i| axes.contains(&order[i])).collect();
    // The kept dims in storage order; the output wants them in logical (ascending) order.
    let kept: Vec<usize> = order.iter().copied().filter(|d| !axes.contains(d)).collect();
    let group: usize = axes.iter().map(|&d| l.dims()[d]).product();
    let outputs: usize = kept.iter().map(|&d| l.dims()[d]).product();
    let grouped = grouped_layout(&stored, &stored_axes).ok()?;
    let out = cpu::reduce(op, s, &grouped, outputs, group)
        .or_else(|| cpu::reduce_leading(op, s, &stored, &stored_axes))
        .or_else(|| cpu::reduce_outer_inner(op, s, &stored, &stored_axes))
        .or_else(|| cpu::reduce_middle(op, s, &stored, &stored_axes))?;
    let mut logical = kept.clone();
    logical.sort_unstable();
    if logical == kept {
        return Some(out);
    }
    let perm: Vec<usize> = logical.iter().map(|d| kept.iter().position(|k| k == d).expect("a kept dim")).collect();
    let result = Layout::contiguous(kept.iter().map(|&d| l.dims()[d]).collect::<Vec<_>>()).permute(&perm).ok()?;
    Some(strided::gather(&out, &result))
}

fn op_name(op: ReduceOp) -> &'static str {
    match op {
        ReduceOp::Sum => "sum",
        ReduceOp::Mean => "mean",
        ReduceOp::Max => "max",
        ReduceOp::Min => "min",
    }
}

/// Reduces over `axes` (empty = all axes; negative axes count from the end).
pub fn reduce(op: ReduceOp, x: &Tensor, axes: &[isize], keepdim: bool) -> Result<Tensor> {
    let name = op_name(op);
    let axes = x.shape().resolve_axes(axes, name)?;
    let p = plan(x, &axes, keepdim)?;
    if p.group == 0 && matches!(op, ReduceOp::Max | ReduceOp::Min) && p.outputs > 0 {
        return Err(Error::invalid(name, format!("cannot reduce an empty axis of {}", x.shape())));
    }
    if !x.device().is_cpu() {
        return crate::cuda::reduce::reduce_tensor(op, x, &axes, p.out_shape);
    }
    float_dispatch!(x.dtype(), name, T => {
        let out = x.with_slice(|s: &[T], l| {
            try_fast(|| {
                cpu::reduce(op, s, &p.grouped, p.outputs, p.group)
                    .or_else(|| cpu::reduce_leading(op, s, l, &axes))
                    .or_else(|| cpu::reduce_outer_inner(op, s, l, &axes))
            })
            .or_else(|| try_fast(|| reduce_any(op, s, l, &axes, &p)))
            .unwrap_or_else(|| reference::reduce(op, s, &p.grouped, p.outputs, p.group))
        })?;
        Tensor::from_vec(out, p.out_shape)
    })
}

pub fn sum(x: &Tensor, axes: &[isize], keepdim: bool) -> Result<Tensor> {
    reduce(ReduceOp::Sum, x, axes, keepdim)
}

pub fn mean(x: &Tensor, axes: &[isize], keepdim: bool) -> Result<Tensor> {
    reduce(ReduceOp::Mean, x, axes, keepdim)
}

/// Index of the max (`max = true`) or min along `axis` as an i64 tensor; ties go to the first.
pub fn arg_reduce(x: &Tensor, axis: isize, keepdim: bool, max: bool) -> Result<Tensor> {
    let name = if max { "argmax" } else { "argmin" };
    let a = x.shape().resolve_axis(axis, name)?;
    let p = plan(x, &[a], keepdim)?;
    if p.group == 0 {
        return Err(Error::invalid(name, format!("axis {a} of {} is empty", x.shape())));
    }
    if !x.device().is_cpu() {
        return crate::cuda::reduce::arg_reduce_tensor(x, a, max, p.out_shape);
    }
    float_dispatch!(x.dtype(), name, T => {
        let out = x.with_slice(|s: &[T], _| {
            try_fast(|| cpu::arg_reduce(s, &p.grouped, p.outputs, p.group, max))
                .unwrap_or_else(|| reference::arg_reduce(s, &p.grouped, p.outputs, p.group, max))
        })?;
        Tensor::from_vec(out, p.out_shape)
    })
}

pub fn argmax(x: &Tensor, axis: isize, keepdim: bool) -> Result<Tensor> {
    arg_reduce(x, axis, keepdim, true)
}

/// Max (or min) along one axis with the i64 index of the winner, as `torch.max(x, dim)` returns.
pub fn max_with_indices(x: &Tensor, axis: isize, keepdim: bool, max: bool) -> Result<(Tensor, Tensor)> {
    let op = if max { ReduceOp::Max } else { ReduceOp::Min };
    Ok((reduce(op, x, &[axis], keepdim)?, arg_reduce(x, axis, keepdim, max)?))
}

/// Sums `x` down to `shape`, which must broadcast to `x`'s shape: the inverse of broadcasting,
/// used to fold gradients back onto broadcast inputs. Returns `x` itself when shapes match.
pub fn sum_to(x: &Tensor, shape: &Shape) -> Result<Tensor> {
    if x.shape() == shape {
        return Ok(x.clone());
    }
    let err = || Error::BroadcastIncompatible { op: "sum_to", lhs: x.shape().clone(), rhs: shape.clone() };
    if shape.rank() > x.rank() {
        return Err(err());
    }
    let lead = x.rank() - shape.rank();
    let mut axes: Vec<isize> = (0..lead as isize).collect();
    for (i, &d) in shape.dims().iter().enumerate() {
        let xd = x.dims()[lead + i];
        if d == 1 && xd != 1 {
            axes.push((lead + i) as isize);
        } else if d != xd {
            return Err(err());
        }
    }
    if axes.is_empty() {
        return x.reshape(shape.clone());
    }
    sum(x, &axes, true)?.reshape(shape.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec((0..n).map(|i| i as f64).collect::<Vec<_>>(), shape.to_vec()).unwrap()
    }

    #[test]
    fn sum_over_axes_with_and_without_keepdim() {
        let x = iota(&[2, 3, 4]);
        let s = sum(&x, &[1], false).unwrap();
        assert_eq!(s.dims(), &[2, 4]);
        assert_eq!(s.to_vec::<f64>().unwrap(), vec![12., 15., 18., 21., 48., 51., 54., 57.]);
        let k = sum(&x, &[0, 2], true).unwrap();
        assert_eq!(k.dims(), &[1, 3, 1]);
        assert_eq!(k.to_vec::<f64>().unwrap(), vec![60., 92., 124.]);
        assert_eq!(sum(&x, &[], false).unwrap().to_scalar::<f64>().unwrap(), 276.);
        assert_eq!(mean(&x, &[-1], false).unwrap().to_vec::<f64>().unwrap()[0], 1.5);
        assert!(matches!(sum(&x, &[3], false), Err(Error::AxisOutOfRange { .. })));
    }

    #[test]
    fn reductions_read_transposed_views() {
        let x = iota(&[2, 3]).t().unwrap(); // [[0,3],[1,4],[2,5]]
        assert_eq!(sum(&x, &[1], false).unwrap().to_vec::<f64>().unwrap(), vec![3., 5., 7.]);
        assert_eq!(argmax(&x, 0, false).unwrap().to_vec::<i64>().unwrap(), vec![2, 2]);
    }

    #[test]
    fn argmax_ties_go_to_the_first() {
        let x = Tensor::from_vec(vec![1f32, 3., 3., 0.], [4]).unwrap();
        assert_eq!(argmax(&x, 0, false).unwrap().to_vec::<i64>().unwrap(), vec![1]);
        let (v, i) = max_with_indices(&x, 0, true, false).unwrap();
        assert_eq!((v.to_vec::<f32>().unwrap(), i.to_vec::<i64>().unwrap()), (vec![0.], vec![3]));
    }

    #[test]
    fn sum_to_inverts_broadcasting() {
        let g = Tensor::ones([2, 3, 4], kiln_tensor::DType::F64);
        assert_eq!(sum_to(&g, &[3, 1].into()).unwrap().to_vec::<f64>().unwrap(), vec![8., 8., 8.]);
        assert_eq!(sum_to(&g, &[4].into()).unwrap().to_vec::<f64>().unwrap(), vec![6.; 4]);
        assert!(sum_to(&g, &[2, 4].into()).is_err());
    }

    #[test]
    fn empty_axes() {
        let e = Tensor::zeros([2, 0], kiln_tensor::DType::F32);
        assert_eq!(sum(&e, &[1], false).unwrap().to_vec::<f32>().unwrap(), vec![0., 0.]);
        assert!(reduce(ReduceOp::Max, &e, &[1], false).is_err());
    }
}
