//! Softmax and log-softmax along one axis (max-subtracted, so large logits are safe) and their
//! backward maps from the saved output. A transposed input is computed in storage order and its
//! result keeps its layout (the elementwise ops' rule); other strided inputs are copied dense. Losses built on them live in `loss`.

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod reference;

use crate::backend::try_fast;
use crate::{check, float_dispatch};
use kiln_tensor::{Error, Layout, Result, Tensor};

fn run(x: &Tensor, axis: isize, log: bool) -> Result<Tensor> {
    let name = if log { "log_softmax" } else { "softmax" };
    let a = x.shape().resolve_axis(axis, name)?;
    if !x.device().is_cpu() {
        return crate::cuda::softmax::softmax_tensor(x, a, log);
    }
    if !x.is_contiguous() {
        if let Some(order) = x.layout().storage_order() {
            // A transposed view: softmax over its storage with the axis renumbered (often a middle
            // one there), the result in the view's layout, as the elementwise ops keep it.
            let stored = order.iter().position(|&d| d == a).expect("the axis is in the order");
            let out = run(&x.permute(&order)?, stored as isize, log)?;
            return crate::elementwise::from_storage_order(out, &order);
        }
        // The fast rows read contiguous input: one strided copy first (not the scalar reference).
        return run(&crate::elementwise::dense(x)?, axis, log);
    }
    let last = x.rank() - 1;
    let xl = x.layout().move_axis(a, last)?;
    let ol = Layout::contiguous(x.shape().clone()).move_axis(a, last)?;
    let n = x.dims()[a];
    let (outer, inner): (usize, usize) = (x.dims()[..a].iter().product(), x.dims()[a + 1..].iter().product());
    float_dispatch!(x.dtype(), name, T => {
        let out = x.with_slice(|s: &[T], l| {
            try_fast(|| {
                cpu::softmax(s, &xl, &ol, n, log).or_else(|| {
                    let x = &s[l.contiguous_range()?];
                    Some(cpu::softmax_middle(x, outer, n, inner, log))
                })
            })
            .unwrap_or_else(|| reference::softmax(s, &xl, &ol, n, log))
        })?;
        Tensor::from_vec(out, x.shape())
    })
}

pub fn softmax(x: &Tensor, axis: isize) -> Result<Tensor> {
    run(x, axis, false)
}

pub fn log_softmax(x: &Tensor, axis: isize) -> Result<Tensor> {
    run(x, axis, true)
}

/// Gradient w.r.t. the input of softmax (`log = false`) or log-softmax, from its output `y`.
pub fn softmax_backward(y: &Tensor, grad: &Tensor, axis: isize, log: bool) -> Result<Tensor> {
    let name = if log { "log_softmax_backward" } else { "softmax_backward" };
    check::float_pair(name, y, grad)?;
    if y.shape() != grad.shape() {
        return Err(Error::ShapeMismatch { op: name, lhs: y.shape().clone(), rhs: grad.shape().clone() });
    }
    let a = y.shape().resolve_axis(axis, name)?;
    if !y.device().is_cpu() {
        return crate::cuda::softmax::softmax_backward_tensor(y, grad, a, log);
    }
    if !y.is_contiguous() || !grad.is_contiguous() {
        let dense = crate::elementwise::dense;
        return softmax_backward(&dense(y)?, &dense(grad)?, axis, log);
    }
    let last = y.rank() - 1;
    let (yl, gl) = (y.layout().move_axis(a, last)?, grad.layout().move_axis(a, last)?);
    let ol = Layout::contiguous(y.shape().clone()).move_axis(a, last)?;
    let n = y.dims()[a];
    float_dispatch!(y.dtype(), name, T => {
        let out = Tensor::with_slices(&[y, grad], |v: &[(&[T], &Layout)]| {
            try_fast(|| cpu::softmax_backward((v[0].0, &yl), (v[1].0, &gl), &ol, n, log))
                .unwrap_or_else(|| reference::softmax_backward((v[0].0, &yl), (v[1].0, &gl), &ol, n, log))
        })?;
        Tensor::from_vec(out, y.shape())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_sum_to_one_on_a_middle_axis() {
        let x = Tensor::from_vec((0..24).map(|i| (i as f64) * 0.37 - 3.0).collect::<Vec<_>>(), [2, 3, 4]).unwrap();
        let s = softmax(&x, 1).unwrap();
        let sums = crate::reduce::sum(&s, &[1], false).unwrap().to_vec::<f64>().unwrap();
        assert!(sums.iter().all(|v| (v - 1.0).abs() < 1e-12));
        let ls = log_softmax(&x, 1).unwrap().to_vec::<f64>().unwrap();
        let sv = s.to_vec::<f64>().unwrap();
        assert!(ls.iter().zip(&sv).all(|(l, s)| (l.exp() - s).abs() < 1e-12));
        let big = Tensor::from_vec(vec![1000f32, 0.], [2]).unwrap();
        assert_eq!(softmax(&big, 0).unwrap().to_vec::<f32>().unwrap(), vec![1., 0.]);
    }
}
