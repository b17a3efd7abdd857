//! 2-D max pooling over `[N, C, H, W]` (square kernel, no padding) keeping the argmax of every
//! window for the backward, which scatters the gradient back onto those positions. Checks and
//! dispatch here, loops in `reference.rs` (the oracle) and `cpu.rs` (the fast CPU version, used
//! unless `KILN_KERNELS=reference`); `quantized.rs` pools u8 codes for int8 inference. No autograd here.

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod quantized;
pub mod reference;

use crate::backend::try_fast;
use crate::{check, float_dispatch};
use kiln_tensor::{Error, Result, Shape, Tensor};

/// `(values [N, C, OH, OW], indices i64 [N, C, OH, OW])` with `OH = (H - kernel) / stride + 1`;
/// an index is `h * W + w` within its `(n, c)` input plane.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize) -> Result<(Tensor, Tensor)> {
    const OP: &str = "max_pool2d";
    check::float_dtype(OP, x)?;
    if x.rank() != 4 {
        return Err(Error::invalid(OP, format!("expected an input [N, C, H, W], got {}", x.shape())));
    }
    let d = x.dims();
    for (name, v) in [("kernel", kernel), ("stride", stride)] {
        if v == 0 {
            return Err(Error::hyper(OP, name, 0.0, "at least 1"));
        }
    }
    if kernel > d[2] || kernel > d[3] {
        return Err(Error::kernel_does_not_fit(
            OP,
            format!("kernel {kernel}x{kernel} is larger than input {}", x.shape()),
        ));
    }
    let (oh, ow) = ((d[2] - kernel) / stride + 1, (d[3] - kernel) / stride + 1);
    if !x.device().is_cpu() {
        return crate::cuda::pool::max_pool2d_tensor(x, kernel, stride);
    }
    let shape: Shape = [d[0], d[1], oh, ow].into();
    float_dispatch!(x.dtype(), OP, T => {
        let (vals, idx) = x.with_slice(|s: &[T], l| {
            try_fast(|| Some(cpu::max_pool2d(s, l, kernel, stride, oh, ow)))
                .unwrap_or_else(|| reference::max_pool2d(s, l, kernel, stride, oh, ow))
        })?;
        Ok((Tensor::from_vec(vals, shape.clone())?, Tensor::from_vec(idx, shape)?))
    })
}

/// Gradient w.r.t. the input of [`max_pool2d`]: zeros of `input_shape` with each `grad_out`
/// element added at its window's argmax.
pub fn max_pool2d_backward(grad_out: &Tensor, indices: &Tensor, input_shape: &Shape) -> Result<Tensor> {
    const OP: &str = "max_pool2d_backward";
    check::float_dtype(OP, grad_out)?;
    check::same_device(OP, grad_out, indices)?;
    if grad_out.shape() != indices.shape() {
        return Err(Error::ShapeMismatch { op: OP, lhs: grad_out.shape().clone(), rhs: indices.shape().clone() });
    }
    let (gd, id) = (grad_out.dims(), input_shape.dims());
    if gd.len() != 4 || id.len() != 4 || gd[..2] != id[..2] {
        return Err(Error::ShapeMismatch { op: OP, lhs: input_shape.clone(), rhs: grad_out.shape().clone() });
    }
    if !grad_out.device().is_cpu() {
        // The indices come from the forward on the same device; the kernel bounds-checks them.
        return crate::cuda::pool::max_pool2d_backward_tensor(grad_out, indices, input_shape);
    }
    let plane = id[2] * id[3];
    let idx = check::read_indices(OP, indices, plane)?;
    float_dispatch!(grad_out.dtype(), OP, T => {
        let planes = id[0] * id[1];
        let out = grad_out.with_slice(|s: &[T], l| {
            try_fast(|| cpu::max_pool2d_backward(s, l, &idx, planes, plane))
                .unwrap_or_else(|| reference::max_pool2d_backward(s, l, &idx, planes, plane))
        })?;
        Tensor::from_vec(out, input_shape)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_tensor::DType;

    fn t(v: &[f64], shape: [usize; 4]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape).unwrap()
    }

    #[test]
    fn values_and_argmax_with_ties_going_first() {
        // 4x4 plane, 2x2 windows at stride 2. The top-left window is all 5s (tie -> first).
        #[rustfmt::skip]
        let x = t(&[5., 5., 1., 2.,
                    5., 5., 3., 0.,
                    0., 1., 7., 7.,
                    2., 9., 7., 8.], [1, 1, 4, 4]);
        let (v, i) = max_pool2d(&x, 2, 2).unwrap();
        assert_eq!(v.dims(), &[1, 1, 2, 2]);
        assert_eq!(v.to_vec::<f64>().unwrap(), vec![5., 3., 9., 8.]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![0, 6, 13, 15]);
        let tie = t(&[1., 4., 4., 4.], [1, 1, 2, 2]);
        assert_eq!(max_pool2d(&tie, 2, 1).unwrap().1.to_vec::<i64>().unwrap(), vec![1]);
    }

    #[test]
    fn overlapping_windows_accumulate_in_backward() {
        // A 3x3 plane with its max in the centre: all four 2x2 windows at stride 1 pick it.
        let x = t(&[0., 1., 0., 1., 9., 1., 0., 1., 0.], [1, 1, 3, 3]);
        let (v, i) = max_pool2d(&x, 2, 1).unwrap();
        assert_eq!(v.to_vec::<f64>().unwrap(), vec![9.; 4]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![4; 4]);
        let g = t(&[1., 2., 3., 4.], [1, 1, 2, 2]);
        let dx = max_pool2d_backward(&g, &i, x.shape()).unwrap();
        assert_eq!(dx.to_vec::<f64>().unwrap(), vec![0., 0., 0., 0., 10., 0., 0., 0., 0.]);
    }

    #[test]
    fn strided_input_and_several_planes() {
        // [1, 2, 2, 3] built as a permuted [1, 2, 3, 2]; the odd column is dropped at stride 2.
        let base = Tensor::from_vec((0..12).map(|v| v as f32).collect::<Vec<_>>(), [1, 2, 3, 2]).unwrap();
        let x = base.permute(&[0, 1, 3, 2]).unwrap(); // plane c: [[0,2,4],[1,3,5]] + 6c
        let (v, i) = max_pool2d(&x, 2, 2).unwrap();
        assert_eq!(v.dims(), &[1, 2, 1, 1]);
        assert_eq!(v.to_vec::<f32>().unwrap(), vec![3., 9.]);
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![4, 4]);
        let g = Tensor::from_vec(vec![1f32, -1.], [1, 2, 1, 1]).unwrap();
        let dx = max_pool2d_backward(&g, &i, x.shape()).unwrap();
        assert_eq!(dx.to_vec::<f32>().unwrap(), vec![0., 0., 0., 0., 1., 0., 0., 0., 0., 0., -1., 0.]);
        // A broadcast batch reads the same plane twice.
        let b = x.narrow(0, 0, 1).unwrap().broadcast_to([3, 2, 2, 3]).unwrap();
        assert_eq!(max_pool2d(&b, 2, 1).unwrap().0.to_vec::<f32>().unwrap(), [3., 5., 9., 11.].repeat(3));
    }

    #[test]
    fn nan_propagates() {
        let x = t(&[1., f64::NAN, 3., 2.], [1, 1, 2, 2]);
        let (v, i) = max_pool2d(&x, 2, 2).unwrap();
        assert!(v.to_vec::<f64>().unwrap()[0].is_nan());
        assert_eq!(i.to_vec::<i64>().unwrap(), vec![1]);
    }

    #[test]
    fn bad_arguments_are_typed_errors() {
        let x = Tensor::zeros([1, 1, 3, 3], DType::F32);
        assert!(matches!(max_pool2d(&x, 4, 1), Err(Error::KernelDoesNotFit { .. })));
        assert!(matches!(max_pool2d(&x, 2, 0), Err(Error::BadHyperParameter { name: "stride", .. })));
        assert!(matches!(max_pool2d(&x, 0, 1), Err(Error::BadHyperParameter { name: "kernel", .. })));
        let x3 = Tensor::zeros([1, 3, 3], DType::F32);
        assert!(matches!(max_pool2d(&x3, 2, 1), Err(Error::InvalidArgument { .. })));
        assert!(matches!(
            max_pool2d(&Tensor::zeros([1, 1, 2, 2], DType::I64), 2, 1),
            Err(Error::UnsupportedDType { .. })
        ));
        let g = Tensor::zeros([1, 1, 2, 2], DType::F32);
        let bad_idx = Tensor::from_vec(vec![0i64, 1, 9, 2], [1, 1, 2, 2]).unwrap();
        assert!(matches!(max_pool2d_backward(&g, &bad_idx, x.shape()), Err(Error::IndexOutOfRange { index: 9, .. })));
        let idx = Tensor::zeros([1, 1, 2, 1], DType::I64);
        assert!(matches!(max_pool2d_backward(&g, &idx, x.shape()), Err(Error::ShapeMismatch { .. })));
        let idx = Tensor::zeros([1, 1, 2, 2], DType::I64);
        let wrong_in: Shape = [2, 1, 3, 3].into();
        assert!(matches!(max_pool2d_backward(&g, &idx, &wrong_in), Err(Error::ShapeMismatch { .. })));
        let fidx = Tensor::zeros([1, 1, 2, 2], DType::F32);
        assert!(matches!(max_pool2d_backward(&g, &fidx, x.shape()), Err(Error::UnsupportedDType { .. })));
    }
}
