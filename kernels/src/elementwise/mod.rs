//! Elementwise ops on tensors: unary maps, binary ops with NumPy broadcasting, comparisons,
//! `where` and `masked_fill`, plus the fused backward maps the autograd rules use. Checks and
//! dispatch live here; the loops live in `reference.rs` (the oracle), `cpu.rs` (the patterns W1-W3
//! use, tried first) and `strided.rs` (every other layout). Operands that all are one and the same
//! transposed view run over their storage and the result keeps that layout (PyTorch's
//! `preserve_format`); any other mix gives a row-major result.

pub mod cpu;
#[cfg(test)]
pub(crate) mod cpu_tests;
pub mod cuda;
mod ops;
pub mod reference;
pub mod strided;
#[cfg(test)]
mod strided_tests;

pub use ops::{BinaryOp, CompareOp, UnaryOp};

use crate::backend::try_fast;
use crate::{check, float_dispatch};
use kiln_tensor::{broadcast_shapes, DType, Error, Layout, Result, Shape, Tensor};

pub fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    if !x.device().is_cpu() {
        return cuda::unary_tensor(Some(op), x);
    }
    let order = shared_storage_order(&[x.layout()]);
    let l = in_storage_order(x.layout(), &order)?;
    float_dispatch!(x.dtype(), op.name(), T => {
        let out = x.with_slice(|s: &[T], _| {
            try_fast(|| cpu::unary(op, s, &l).or_else(|| Some(strided::unary(op, s, &l))))
                .unwrap_or_else(|| reference::unary(op, s, &l))
        })?;
        in_logical_order(Tensor::from_vec(out, l.shape())?, &order)
    })
}

/// `grad * f'(x)` where `y = f(x)` is the saved forward output; all three share one shape.
pub fn unary_backward(op: UnaryOp, x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
    let name = op.name();
    check::float_pair(name, x, grad)?;
    check::float_pair(name, x, y)?;
    if x.shape() != grad.shape() || x.shape() != y.shape() {
        return Err(Error::ShapeMismatch { op: name, lhs: x.shape().clone(), rhs: grad.shape().clone() });
    }
    if !x.device().is_cpu() {
        return cuda::unary_backward_tensor(op, x, y, grad);
    }
    let order = shared_storage_order(&[x.layout(), y.layout(), grad.layout()]);
    let l = in_storage_order(x.layout(), &order)?;
    let ls = [&l, &in_storage_order(y.layout(), &order)?, &in_storage_order(grad.layout(), &order)?];
    float_dispatch!(x.dtype(), name, T => {
        let out = Tensor::with_slices(&[x, y, grad], |v: &[(&[T], &Layout)]| {
            let v: [(&[T], &Layout); 3] = std::array::from_fn(|k| (v[k].0, ls[k]));
            try_fast(|| cpu::unary_backward(op, v[0], v[1], v[2]).or_else(|| Some(strided::unary_backward(op, v[0], v[1], v[2]))))
                .unwrap_or_else(|| reference::unary_backward(op, v[0], v[1], v[2]))
        })?;
        in_logical_order(Tensor::from_vec(out, l.shape())?, &order)
    })
}

/// The storage order (see [`Layout::storage_order`]) of `layouts` when all are one and the same
/// transposed view of a dense block: an op over such operands runs over the storage as if
/// contiguous and returns its result in that layout too (PyTorch's `preserve_format`), instead of
/// transposing every operand into row-major order. `None` otherwise (contiguous, mixed, narrowed,
/// broadcast), where the output is row-major.
fn shared_storage_order(layouts: &[&Layout]) -> Option<Vec<usize>> {
    let first = layouts.first()?;
    // Size-1 dims' strides mean nothing (a permuted result may give them others).
    let same = layouts.iter().all(|l| {
        l.dims() == first.dims() && (0..l.rank()).all(|d| l.dims()[d] == 1 || l.strides()[d] == first.strides()[d])
    });
    if !same || first.is_contiguous() {
        return None;
    }
    first.storage_order()
}

/// `l` with its dims in `order` (unchanged for `None`).
fn in_storage_order(l: &Layout, order: &Option<Vec<usize>>) -> Result<Layout> {
    match order {
        Some(order) => l.permute(order),
        None => Ok(l.clone()),
    }
}

/// A result computed in storage order `order` (if any), viewed in the operands' logical order.
fn in_logical_order(out: Tensor, order: &Option<Vec<usize>>) -> Result<Tensor> {
    match order {
        Some(order) => from_storage_order(out, order),
        None => Ok(out),
    }
}

/// `out`, whose dim `i` is logical dim `order[i]`, viewed with its dims in logical order (the
/// inverse of `Tensor::permute(order)`).
pub(crate) fn from_storage_order(out: Tensor, order: &[usize]) -> Result<Tensor> {
    let mut logical = vec![0; order.len()];
    for (i, &d) in order.iter().enumerate() {
        logical[d] = i;
    }
    out.permute(&logical)
}

/// `x` itself when contiguous, else a contiguous copy made by the strided walk (far faster than
/// `Tensor::contiguous` on the CPU, whose copy indexes element by element). CPU float tensors only.
pub fn dense(x: &Tensor) -> Result<Tensor> {
    if x.is_contiguous() || !x.device().is_cpu() {
        return x.contiguous();
    }
    float_dispatch!(x.dtype(), "contiguous", T => {
        Tensor::from_vec(x.with_slice(|s: &[T], l| strided::gather(s, l))?, x.shape())
    })
}

/// `x` reshaped: a view where its layout allows one, else (a transposed or narrowed CPU float
/// tensor, which the layout-keeping ops above now return more often) a copy made by [`dense`]
/// rather than `Tensor::reshape`'s element-by-element one.
pub fn reshape(x: &Tensor, shape: impl Into<Shape>) -> Result<Tensor> {
    let shape = shape.into();
    let viewable = x.layout().reshape(&shape)?.is_some();
    if viewable || !x.device().is_cpu() || !matches!(x.dtype(), DType::F32 | DType::F64) {
        return x.reshape(shape);
    }
    dense(x)?.reshape(shape)
}

/// The output shape and both operands' layouts broadcast to it.
pub fn broadcast_layouts(op: &'static str, a: &Tensor, b: &Tensor) -> Result<(Shape, Layout, Layout)> {
    let shape = broadcast_shapes(a.shape(), b.shape(), op)?;
    let al = a.layout().broadcast_as(&shape)?;
    let bl = b.layout().broadcast_as(&shape)?;
    Ok((shape, al, bl))
}

pub fn binary(op: BinaryOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let name = op.name();
    check::float_pair(name, a, b)?;
    let (shape, al, bl) = broadcast_layouts(name, a, b)?;
    if !a.device().is_cpu() {
        return cuda::binary_tensor(op, a, b, &shape, &al, &bl);
    }
    let order = shared_storage_order(&[&al, &bl]);
    let (al, bl) = (in_storage_order(&al, &order)?, in_storage_order(&bl, &order)?);
    float_dispatch!(a.dtype(), name, T => {
        let out = Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| {
            try_fast(|| cpu::binary(op, v[0].0, &al, v[1].0, &bl).or_else(|| Some(strided::binary(op, v[0].0, &al, v[1].0, &bl))))
                .unwrap_or_else(|| reference::binary(op, v[0].0, &al, v[1].0, &bl))
        })?;
        in_logical_order(Tensor::from_vec(out, al.shape())?, &order)
    })
}

/// Gradients of `op(a, b)` w.r.t. `a` and `b` at the broadcast output shape (not yet summed back to
/// the inputs' shapes; see [`crate::reduce::sum_to`]).
pub fn binary_backward(op: BinaryOp, a: &Tensor, b: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    let name = op.name();
    check::float_pair(name, a, b)?;
    check::float_pair(name, a, grad)?;
    let (shape, al, bl) = broadcast_layouts(name, a, b)?;
    if &shape != grad.shape() {
        return Err(Error::ShapeMismatch { op: name, lhs: shape, rhs: grad.shape().clone() });
    }
    if !a.device().is_cpu() {
        return cuda::binary_backward_tensor(op, (a, &al), (b, &bl), grad);
    }
    let order = shared_storage_order(&[&al, &bl, grad.layout()]);
    let (al, bl, gl) =
        (in_storage_order(&al, &order)?, in_storage_order(&bl, &order)?, in_storage_order(grad.layout(), &order)?);
    float_dispatch!(a.dtype(), name, T => {
        let (ga, gb) = Tensor::with_slices(&[a, b, grad], |v: &[(&[T], &Layout)]| {
            let g = (v[2].0, &gl);
            try_fast(|| {
                let (a, b) = ((v[0].0, &al), (v[1].0, &bl));
                cpu::binary_backward(op, a, b, g).or_else(|| Some(strided::binary_backward(op, a, b, g)))
            })
                .unwrap_or_else(|| reference::binary_backward(op, (v[0].0, &al), (v[1].0, &bl), g))
        })?;
        let stored = al.shape();
        Ok((in_logical_order(Tensor::from_vec(ga, stored)?, &order)?, in_logical_order(Tensor::from_vec(gb, stored)?, &order)?))
    })
}

/// Elementwise comparison with broadcasting; the result is a u32 mask of 0s and 1s.
pub fn compare(op: CompareOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check::float_pair("compare", a, b)?;
    let (shape, al, bl) = broadcast_layouts("compare", a, b)?;
    if !a.device().is_cpu() {
        return crate::cuda::elementwise::compare_tensor(op, a, b, &shape, &al, &bl);
    }
    float_dispatch!(a.dtype(), "compare", T => {
        let out = Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| reference::compare(op, v[0].0, &al, v[1].0, &bl))?;
        Tensor::from_vec(out, shape)
    })
}

/// `cond ? a : b` elementwise with three-way broadcasting; `cond` is a u32 mask (nonzero = true).
pub fn where_cond(cond: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check::float_pair("where", a, b)?;
    check::same_device("where", cond, a)?;
    cond.expect_dtype(kiln_tensor::DType::U32, "where (condition)")?;
    let ab = broadcast_shapes(a.shape(), b.shape(), "where")?;
    let shape = broadcast_shapes(cond.shape(), &ab, "where")?;
    let cl = Layout::contiguous(cond.shape().clone()).broadcast_as(&shape)?;
    let (al, bl) = (a.layout().broadcast_as(&shape)?, b.layout().broadcast_as(&shape)?);
    if !a.device().is_cpu() {
        let cl = cond.layout().broadcast_as(&shape)?;
        return crate::cuda::elementwise::where_tensor((cond, &cl), (a, &al), (b, &bl), &shape);
    }
    let c = cond.to_vec::<u32>()?;
    float_dispatch!(a.dtype(), "where", T => {
        let out = Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| reference::where_cond(&c, &cl, v[0].0, &al, v[1].0, &bl))?;
        Tensor::from_vec(out, shape)
    })
}

/// `x` with `value` wherever `mask` (u32, broadcastable to x) is nonzero.
pub fn masked_fill(x: &Tensor, mask: &Tensor, value: f64) -> Result<Tensor> {
    let fill = x.scalar_like(value)?;
    let out = where_cond(mask, &fill, x)?;
    if out.shape() != x.shape() {
        return Err(Error::BroadcastIncompatible {
            op: "masked_fill",
            lhs: x.shape().clone(),
            rhs: mask.shape().clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f64], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
    }

    #[test]
    fn binary_broadcasts_and_reads_strided_views() {
        let a = t(&[1., 2., 3., 4., 5., 6.], &[2, 3]);
        let b = t(&[10., 20., 30.], &[3]);
        assert_eq!(binary(BinaryOp::Add, &a, &b).unwrap().to_vec::<f64>().unwrap(), vec![11., 22., 33., 14., 25., 36.]);
        let at = a.t().unwrap(); // [3, 2]: [[1,4],[2,5],[3,6]]
        let col = t(&[1., 2., 3.], &[3, 1]);
        let out = binary(BinaryOp::Mul, &at, &col).unwrap();
        assert_eq!(out.to_vec::<f64>().unwrap(), vec![1., 4., 4., 10., 9., 18.]);
        assert!(matches!(binary(BinaryOp::Add, &a, &t(&[1., 2.], &[2])), Err(Error::BroadcastIncompatible { .. })));
        let f = Tensor::from_vec(vec![1f32; 3], [3]).unwrap();
        assert!(matches!(binary(BinaryOp::Add, &b, &f), Err(Error::DTypeMismatch { .. })));
    }

    #[test]
    fn self_aliasing_operands_do_not_deadlock() {
        let a = t(&[1., 2., 3.], &[3]);
        assert_eq!(binary(BinaryOp::Mul, &a, &a).unwrap().to_vec::<f64>().unwrap(), vec![1., 4., 9.]);
    }

    #[test]
    fn unary_ops_match_their_formulas() {
        let x = t(&[-2., -0.5, 0.5, 2.], &[4]);
        let y = unary(UnaryOp::LeakyRelu(0.1), &x).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(y, vec![-0.2, -0.05, 0.5, 2.]);
        let s = unary(UnaryOp::Sigmoid, &t(&[-800., 0., 800.], &[3])).unwrap().to_vec::<f64>().unwrap();
        assert_eq!(s, vec![0., 0.5, 1.]);
        let i = Tensor::from_vec(vec![1i64], [1]).unwrap();
        assert!(matches!(unary(UnaryOp::Exp, &i), Err(Error::UnsupportedDType { .. })));
    }

    #[test]
    fn where_and_masked_fill_broadcast() {
        let cond = Tensor::from_vec(vec![1u32, 0], [2, 1]).unwrap();
        let a = t(&[1., 2., 3.], &[3]);
        let b = t(&[-1.], &[1]);
        let w = where_cond(&cond, &a, &b).unwrap();
        assert_eq!(w.to_vec::<f64>().unwrap(), vec![1., 2., 3., -1., -1., -1.]);
        let x = t(&[1., 2., 3., 4.], &[2, 2]);
        let m = compare(CompareOp::Gt, &x, &t(&[2.5], &[1])).unwrap();
        assert_eq!(m.to_vec::<u32>().unwrap(), vec![0, 0, 1, 1]);
        assert_eq!(masked_fill(&x, &m, 0.0).unwrap().to_vec::<f64>().unwrap(), vec![1., 2., 0., 0.]);
        let big = Tensor::from_vec(vec![1u32; 8], [2, 2, 2]).unwrap();
        assert!(masked_fill(&x, &big, 0.0).is_err());
    }
}
