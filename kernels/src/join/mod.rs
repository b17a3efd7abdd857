//! Joining tensors: `cat` along an existing axis and `stack` along a new one. Pure copies, so
//! every dtype is accepted (f16/bf16 and integer tensors too). Checks and dispatch here, the copy
//! loop in `reference.rs`; the output is always a fresh contiguous tensor. No autograd here.

pub mod cuda;
pub mod reference;

use crate::check::{self, element_dispatch};
use kiln_tensor::{Error, Layout, Result, Shape, Tensor};

/// Concatenates along `axis`: all tensors share dtype, device, rank and every dim but `axis`.
pub fn cat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
    const OP: &str = "cat";
    let first = *tensors.first().ok_or_else(|| Error::invalid(OP, "needs at least one tensor"))?;
    let a = first.shape().resolve_axis(axis, OP)?;
    let mut out_dims = first.dims().to_vec();
    for t in &tensors[1..] {
        check::same_device(OP, first, t)?;
        check::same_dtype(OP, first, t)?;
        let fits = t.rank() == first.rank()
            && t.dims().iter().zip(first.dims()).enumerate().all(|(d, (x, y))| d == a || x == y);
        if !fits {
            return Err(Error::ShapeMismatch { op: OP, lhs: first.shape().clone(), rhs: t.shape().clone() });
        }
        out_dims[a] += t.dims()[a];
    }
    if !first.device().is_cpu() {
        return crate::cuda::join::cat_tensor(tensors, a, &out_dims);
    }
    element_dispatch!(first.dtype(), T => {
        let out = Tensor::with_slices(tensors, |v: &[(&[T], &Layout)]| reference::cat(v, a))?;
        Tensor::from_vec(out, out_dims)
    })
}

/// Stacks same-shaped tensors along a new axis `axis` (which may equal the rank: append last).
pub fn stack(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
    const OP: &str = "stack";
    let first = *tensors.first().ok_or_else(|| Error::invalid(OP, "needs at least one tensor"))?;
    if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
        return Err(Error::ShapeMismatch { op: OP, lhs: first.shape().clone(), rhs: t.shape().clone() });
    }
    let rank = first.rank() as isize;
    let d = if axis < 0 { axis + rank + 1 } else { axis };
    if !(0..=rank).contains(&d) {
        let shape: Shape = first.shape().clone();
        return Err(Error::AxisOutOfRange { op: OP, axis, rank: first.rank() + 1, shape });
    }
    let views = tensors.iter().map(|t| t.unsqueeze(d)).collect::<Result<Vec<_>>>()?;
    cat(&views.iter().collect::<Vec<_>>(), d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_tensor::{f16, DType};

    fn iota(shape: &[usize], start: usize) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec((start..start + n).map(|i| i as f64).collect::<Vec<_>>(), shape.to_vec()).unwrap()
    }

    #[test]
    fn cat_along_each_axis() {
        let a = iota(&[2, 2], 0); // [[0,1],[2,3]]
        let b = iota(&[2, 3], 10); // [[10,11,12],[13,14,15]]
        let c = cat(&[&a, &b], 1).unwrap();
        assert_eq!(c.dims(), &[2, 5]);
        assert_eq!(c.to_vec::<f64>().unwrap(), vec![0., 1., 10., 11., 12., 2., 3., 13., 14., 15.]);
        let r = cat(&[&a, &iota(&[1, 2], 7)], -2).unwrap();
        assert_eq!(r.to_vec::<f64>().unwrap(), vec![0., 1., 2., 3., 7., 8.]);
        assert!(r.is_contiguous());
    }

    #[test]
    fn cat_reads_transposed_narrowed_and_broadcast_views() {
        let t = iota(&[3, 2], 0).t().unwrap(); // [[0,2,4],[1,3,5]]
        let n = iota(&[4, 5], 0).narrow(0, 1, 2).unwrap().narrow(1, 3, 2).unwrap(); // [[8,9],[13,14]]
        let b = iota(&[2, 1], 20).broadcast_to([2, 2]).unwrap(); // [[20,20],[21,21]]
        let c = cat(&[&t, &n, &b], 1).unwrap();
        assert_eq!(c.to_vec::<f64>().unwrap(), vec![0., 2., 4., 8., 9., 20., 20., 1., 3., 5., 13., 14., 21., 21.]);
        let s = stack(&[&n, &b], 0).unwrap();
        assert_eq!(s.dims(), &[2, 2, 2]);
        assert_eq!(s.to_vec::<f64>().unwrap(), vec![8., 9., 13., 14., 20., 20., 21., 21.]);
    }

    #[test]
    fn stack_on_a_new_axis_including_last() {
        let a = iota(&[2, 3], 0);
        let b = iota(&[2, 3], 6);
        assert_eq!(
            stack(&[&a, &b], 0).unwrap().to_vec::<f64>().unwrap(),
            (0..12).map(|v| v as f64).collect::<Vec<_>>()
        );
        let mid = stack(&[&a, &b], 1).unwrap();
        assert_eq!(mid.dims(), &[2, 2, 3]);
        assert_eq!(mid.to_vec::<f64>().unwrap(), vec![0., 1., 2., 6., 7., 8., 3., 4., 5., 9., 10., 11.]);
        let last = stack(&[&a, &b], 2).unwrap();
        assert_eq!(last.dims(), &[2, 3, 2]);
        assert_eq!(last.to_vec::<f64>().unwrap(), vec![0., 6., 1., 7., 2., 8., 3., 9., 4., 10., 5., 11.]);
        assert_eq!(stack(&[&a, &b], -1).unwrap().to_vec::<f64>().unwrap(), last.to_vec::<f64>().unwrap());
    }

    #[test]
    fn any_dtype_is_copied() {
        let i = Tensor::from_vec(vec![1i64, 2], [2]).unwrap();
        let j = Tensor::from_vec(vec![3i64], [1]).unwrap();
        assert_eq!(cat(&[&i, &j], 0).unwrap().to_vec::<i64>().unwrap(), vec![1, 2, 3]);
        let h = Tensor::from_vec(vec![f16::from_f32(0.5)], [1]).unwrap();
        assert_eq!(stack(&[&h, &h], 0).unwrap().to_vec_f64().unwrap(), vec![0.5, 0.5]);
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let a = iota(&[2, 3], 0);
        let b = iota(&[3, 3], 0);
        assert!(cat(&[&a, &b], 0).is_ok());
        assert!(matches!(cat(&[&a, &b], 1), Err(Error::ShapeMismatch { .. })));
        assert!(matches!(cat(&[&a, &iota(&[6], 0)], 0), Err(Error::ShapeMismatch { .. })));
        assert!(matches!(cat(&[&a], 2), Err(Error::AxisOutOfRange { .. })));
        assert!(matches!(cat(&[], 0), Err(Error::InvalidArgument { .. })));
        let f = Tensor::zeros([2, 3], DType::F32);
        assert!(matches!(cat(&[&a, &f], 0), Err(Error::DTypeMismatch { .. })));
        assert!(matches!(stack(&[&a, &b], 0), Err(Error::ShapeMismatch { .. })));
        assert!(matches!(stack(&[&a, &a], 3), Err(Error::AxisOutOfRange { .. })));
        assert!(matches!(stack(&[&a, &a], -4), Err(Error::AxisOutOfRange { .. })));
        assert!(matches!(stack(&[], 0), Err(Error::InvalidArgument { .. })));
    }
}
