//! Loss functions, all mean-reduced to a scalar (shape `[]`), and their gradients scaled by the
//! scalar upstream gradient: cross-entropy over logits with class-index targets, binary
//! cross-entropy on probabilities and on logits, mean squared error, and knowledge
//! distillation's temperature-scaled KL divergence (`batchmean`). Checks and dispatch here; the
//! formulas in `reference.rs`. No autograd here.

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod reference;

mod composite;

use crate::backend::try_fast;
use crate::{check, float_dispatch};
use kiln_tensor::{Element, Error, Layout, Result, Shape, Tensor};

/// The value of the scalar upstream gradient (any one-element tensor of `x`'s dtype and device).
fn scalar_grad<T: Element>(op: &'static str, x: &Tensor, grad: &Tensor) -> Result<T> {
    check::float_pair(op, x, grad)?;
    if grad.elem_count() != 1 {
        return Err(Error::ShapeMismatch { op, lhs: Shape::scalar(), rhs: grad.shape().clone() });
    }
    Ok(grad.to_vec::<T>()?[0])
}

/// Logits `[N, C]` (f32/f64) and targets `[N]` (i64/u32, each `< C`): the targets as usize.
fn class_targets(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<Vec<usize>> {
    check_class_targets(op, logits, targets)?;
    check::read_indices(op, targets, logits.dims()[1])
}

/// Targets on a device, checked as the CPU checks them (shape, i64 or u32, every class in `0..C`)
/// and widened to the i64 the kernels read. Trade-off: the range check reads the targets on the
/// host (N integers, one sync per call); the kernels alone would turn a bad target into a NaN loss
/// and a finite, wrong gradient.
fn device_targets(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    class_targets(op, logits, targets)?;
    crate::cuda::embedding::i64_indices(op, targets)
}

/// Logits `[N, C]` and targets `[N]` on one device.
fn check_class_targets(op: &'static str, logits: &Tensor, targets: &Tensor) -> Result<()> {
    check::float_dtype(op, logits)?;
    check::same_device(op, logits, targets)?;
    if logits.rank() != 2 {
        return Err(Error::invalid(
            op,
            format!("expected logits [N, C] and targets [N], got {} and {}", logits.shape(), targets.shape()),
        ));
    }
    if targets.dims() != [logits.dims()[0]] {
        return Err(Error::ShapeMismatch { op, lhs: logits.shape().clone(), rhs: targets.shape().clone() });
    }
    Ok(())
}

/// A one-element gradient on the device of `x` (the device losses multiply by it).
fn device_scalar_grad(op: &'static str, x: &Tensor, grad: &Tensor) -> Result<()> {
    check::float_pair(op, x, grad)?;
    if grad.elem_count() != 1 {
        return Err(Error::ShapeMismatch { op, lhs: Shape::scalar(), rhs: grad.shape().clone() });
    }
    Ok(())
}

/// Two float operands of one shape.
fn same_shape_pair(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    check::float_pair(op, a, b)?;
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch { op, lhs: a.shape().clone(), rhs: b.shape().clone() });
    }
    Ok(())
}

fn scalar<T: Element>(v: T) -> Result<Tensor> {
    Ok(Tensor::scalar(v))
}

/// `mean_n( -log_softmax(logits[n])[targets[n]] )`, computed through log-sum-exp so large
/// logits cannot overflow.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    if !logits.device().is_cpu() {
        return cuda::cross_entropy_tensor(logits, &device_targets(OP, logits, targets)?);
    }
    let t = class_targets(OP, logits, targets)?;
    float_dispatch!(logits.dtype(), OP, T => scalar(logits.with_slice(|s: &[T], l| {
        try_fast(|| cpu::cross_entropy(s, l, &t)).unwrap_or_else(|| reference::cross_entropy(s, l, &t))
    })?))
}

/// Gradient w.r.t. the logits: `(softmax(logits) - onehot(targets)) * grad / N`.
pub fn cross_entropy_backward(logits: &Tensor, targets: &Tensor, grad: &Tensor) -> Result<Tensor> {
    const OP: &str = "cross_entropy_backward";
    if !logits.device().is_cpu() {
        let targets = device_targets(OP, logits, targets)?;
        device_scalar_grad(OP, logits, grad)?;
        return cuda::cross_entropy_backward_tensor(logits, &targets, grad);
    }
    let t = class_targets(OP, logits, targets)?;
    float_dispatch!(logits.dtype(), OP, T => {
        let g: T = scalar_grad(OP, logits, grad)?;
        let out = logits.with_slice(|s: &[T], l| {
            try_fast(|| cpu::cross_entropy_backward(s, l, &t, g))
                .unwrap_or_else(|| reference::cross_entropy_backward(s, l, &t, g))
        })?;
        Tensor::from_vec(out, logits.shape())
    })
}

/// Binary cross-entropy on probabilities `p` against targets `y` (same shape), each log
/// clamped at -100 as in PyTorch.
pub fn bce(p: &Tensor, y: &Tensor) -> Result<Tensor> {
    same_shape_pair("bce", p, y)?;
    if !p.device().is_cpu() {
        return composite::bce(p, y);
    }
    float_dispatch!(p.dtype(), "bce", T => {
        scalar(Tensor::with_slices(&[p, y], |v: &[(&[T], &Layout)]| {
            try_fast(|| cpu::bce(v[0], v[1])).unwrap_or_else(|| reference::bce(v[0], v[1]))
        })?)
    })
}

/// Gradient of [`bce`] w.r.t. `p`: `(p - y) / max(p (1 - p), 1e-12) * grad / N` (PyTorch's form).
pub fn bce_backward(p: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
    const OP: &str = "bce_backward";
    same_shape_pair(OP, p, y)?;
    if !p.device().is_cpu() {
        device_scalar_grad(OP, p, grad)?;
        return composite::bce_backward(p, y, grad);
    }
    float_dispatch!(p.dtype(), OP, T => {
        let g: T = scalar_grad(OP, p, grad)?;
        let out = Tensor::with_slices(&[p, y], |v: &[(&[T], &Layout)]| {
            try_fast(|| cpu::bce_backward(v[0], v[1], g)).unwrap_or_else(|| reference::bce_backward(v[0], v[1], g))
        })?;
        Tensor::from_vec(out, p.shape())
    })
}

/// Binary cross-entropy of `sigmoid(x)` against `y`, in the stable form
/// `max(x, 0) - x y + ln(1 + e^-|x|)`.
pub fn bce_with_logits(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    same_shape_pair("bce_with_logits", x, y)?;
    if !x.device().is_cpu() {
        return cuda::bce_with_logits_tensor(x, y);
    }
    float_dispatch!(x.dtype(), "bce_with_logits", T => {
        scalar(Tensor::with_slices(&[x, y], |v: &[(&[T], &Layout)]| {
            try_fast(|| cpu::bce_with_logits(v[0], v[1])).unwrap_or_else(|| reference::bce_with_logits(v[0], v[1]))
        })?)
    })
}

/// Gradient of [`bce_with_logits`] w.r.t. `x`: `(sigmoid(x) - y) * grad / N`.
pub fn bce_with_logits_backward(x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
    const OP: &str = "bce_with_logits_backward";
    same_shape_pair(OP, x, y)?;
    if !x.device().is_cpu() {
        device_scalar_grad(OP, x, grad)?;
        return cuda::bce_with_logits_backward_tensor(x, y, grad);
    }
    float_dispatch!(x.dtype(), OP, T => {
        let g: T = scalar_grad(OP, x, grad)?;
        let out = Tensor::with_slices(&[x, y], |v: &[(&[T], &Layout)]| {
            try_fast(|| cpu::bce_with_logits_backward(v[0], v[1], g))
                .unwrap_or_else(|| reference::bce_with_logits_backward(v[0], v[1], g))
        })?;
        Tensor::from_vec(out, x.shape())
    })
}

/// Mean squared error `mean((a - b)^2)` of two same-shaped tensors.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    same_shape_pair("mse", a, b)?;
    if !a.device().is_cpu() {
        return composite::mse(a, b);
    }
    float_dispatch!(a.dtype(), "mse", T => {
        scalar(Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| reference::mse(v[0], v[1]))?)
    })
}

/// Gradients of [`mse`] w.r.t. `a` and `b`: `(2 (a - b) grad / N, -2 (a - b) grad / N)`.
pub fn mse_backward(a: &Tensor, b: &Tensor, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    const OP: &str = "mse_backward";
    same_shape_pair(OP, a, b)?;
    if !a.device().is_cpu() {
        device_scalar_grad(OP, a, grad)?;
        return composite::mse_backward(a, b, grad);
    }
    float_dispatch!(a.dtype(), OP, T => {
        let g: T = scalar_grad(OP, a, grad)?;
        let (ga, gb) = Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| reference::mse_backward(v[0], v[1], g))?;
        Ok((Tensor::from_vec(ga, a.shape())?, Tensor::from_vec(gb, a.shape())?))
    })
}

/// Student and teacher logits of one `[N, C]` shape and a temperature that is a positive number.
fn check_distill(op: &'static str, s: &Tensor, t: &Tensor, temperature: f64) -> Result<()> {
    same_shape_pair(op, s, t)?;
    if s.rank() != 2 {
        return Err(Error::invalid(op, format!("expected logits [N, C], got {}", s.shape())));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(Error::invalid(op, format!("temperature {temperature} is not a positive number")));
    }
    Ok(())
}

/// Knowledge distillation's loss: `F.kl_div(log_softmax(s / T), softmax(t / T),
/// reduction='batchmean') * T * T` for student logits `s` and teacher logits `t` (`[N, C]`):
/// summed over classes, averaged over the batch (not over elements), scaled by `T^2` so that its
/// gradient keeps its size as `T` changes (Hinton et al. 2015).
pub fn distill_kl(s: &Tensor, t: &Tensor, temperature: f64) -> Result<Tensor> {
    const OP: &str = "distill_kl";
    check_distill(OP, s, t, temperature)?;
    if !s.device().is_cpu() {
        return composite::distill_kl(s, t, temperature);
    }
    float_dispatch!(s.dtype(), OP, T => {
        scalar(Tensor::with_slices(&[s, t], |v: &[(&[T], &Layout)]| {
            reference::distill_kl(v[0], v[1], T::from_f64(temperature))
        })?)
    })
}

/// Gradients of [`distill_kl`] w.r.t. the student and the teacher logits, times `grad`.
pub fn distill_kl_backward(s: &Tensor, t: &Tensor, temperature: f64, grad: &Tensor) -> Result<(Tensor, Tensor)> {
    const OP: &str = "distill_kl_backward";
    check_distill(OP, s, t, temperature)?;
    if !s.device().is_cpu() {
        device_scalar_grad(OP, s, grad)?;
        return composite::distill_kl_backward(s, t, temperature, grad);
    }
    float_dispatch!(s.dtype(), OP, T => {
        let g: T = scalar_grad(OP, s, grad)?;
        let (gs, gt) = Tensor::with_slices(&[s, t], |v: &[(&[T], &Layout)]| {
            reference::distill_kl_backward(v[0], v[1], T::from_f64(temperature), g)
        })?;
        Ok((Tensor::from_vec(gs, s.shape())?, Tensor::from_vec(gt, s.shape())?))
    })
}

#[cfg(test)]
mod tests;
