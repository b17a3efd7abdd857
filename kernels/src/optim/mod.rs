//! In-place optimizer updates on parameter tensors: a fused SGD and Adam/AdamW step per parameter
//! (one pass over param, grad and state). The optimizers in kiln-models own the state and call
//! these; nothing here records gradients.

pub mod cpu;
#[cfg(test)]
mod cpu_tests;
pub mod cuda;
pub mod reference;

pub use reference::{AdamParams, SgdParams};

use crate::{check, float_dispatch};
use kiln_tensor::{Error, Float, Result, Tensor};

/// Checks that `state` tensors can be updated in place beside `param`: same shape and dtype,
/// contiguous, and each in its own storage (an update must not alias another operand).
fn check_in_place(op: &'static str, param: &Tensor, grad: &Tensor, state: &[&Tensor]) -> Result<()> {
    check::float_pair(op, param, grad)?;
    if param.shape() != grad.shape() {
        return Err(Error::ShapeMismatch { op, lhs: param.shape().clone(), rhs: grad.shape().clone() });
    }
    let operands: Vec<&Tensor> = std::iter::once(param).chain(state.iter().copied()).collect();
    for (i, s) in operands.iter().enumerate() {
        check::same_device(op, param, s)?;
        check::same_dtype(op, param, s)?;
        if s.shape() != param.shape() {
            return Err(Error::ShapeMismatch { op, lhs: param.shape().clone(), rhs: s.shape().clone() });
        }
        if !s.is_contiguous() || s.layout().offset() != 0 || s.storage().len() != s.elem_count() {
            let layout = format!("{:?} (operand {i}, a view or not dense)", s.layout());
            return Err(Error::NotContiguous { op, what: "an in-place operand's whole storage", layout });
        }
        if s.same_storage(grad) || operands[..i].iter().any(|o| o.same_storage(s)) {
            return Err(Error::invalid(op, "in-place operands must not share storage with each other or the gradient"));
        }
    }
    Ok(())
}

fn dense<T: Float>(t: &Tensor) -> Result<Vec<T>> {
    t.contiguous()?.to_vec::<T>()
}

/// Runs `f` with the gradient as one flat slice: borrowed in place when the fast kernels are on and
/// it is contiguous (no copy of a 2M-element gradient per step), else gathered. `f` gets `fast`.
fn with_grad<T: Float>(grad: &Tensor, f: impl FnOnce(&[T], bool) -> Result<()>) -> Result<()> {
    let fast = crate::backend() == crate::Backend::Cpu;
    if !(fast && grad.is_contiguous()) {
        return f(&dense::<T>(grad)?, fast);
    }
    grad.with_slice(|gs: &[T], gl| f(&gs[gl.contiguous_range().expect("checked contiguous")], fast))?
}

/// `param -= lr * update(grad)` with momentum state `velocity` (ignored when momentum is 0).
pub fn sgd_update(param: &Tensor, grad: &Tensor, velocity: &Tensor, hp: SgdParams, first: bool) -> Result<()> {
    check_in_place("sgd_update", param, grad, &[velocity])?;
    if !param.device().is_cpu() {
        return sgd_on_device(param, grad, velocity, hp, first);
    }
    float_dispatch!(param.dtype(), "sgd_update", T => {
        with_grad(grad, |g: &[T], fast| {
            let mut ps = param.storage_mut();
            let mut vs = velocity.storage_mut();
            let (p, vel) = (ps.cpu_mut()?.as_mut_slice::<T>()?, vs.cpu_mut()?.as_mut_slice::<T>()?);
            if fast {
                cpu::sgd_step(p, g, vel, hp, first)
            } else {
                reference::sgd_step(p, g, vel, hp, first)
            }
            Ok(())
        })
    })
}

/// One Adam/AdamW step on `param` with moment tensors `m`, `v`; `step` counts from 1.
pub fn adam_update(param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, hp: AdamParams, step: u64) -> Result<()> {
    check_in_place("adam_update", param, grad, &[m, v])?;
    if step == 0 {
        return Err(Error::hyper("adam_update", "step", 0.0, "steps count from 1"));
    }
    if !param.device().is_cpu() {
        return crate::cuda::optim::adam_update_tensor(param, grad, m, v, hp, step);
    }
    float_dispatch!(param.dtype(), "adam_update", T => {
        with_grad(grad, |g: &[T], fast| {
            let mut ps = param.storage_mut();
            let mut ms = m.storage_mut();
            let mut vs = v.storage_mut();
            let p = ps.cpu_mut()?.as_mut_slice::<T>()?;
            let (m, v) = (ms.cpu_mut()?.as_mut_slice::<T>()?, vs.cpu_mut()?.as_mut_slice::<T>()?);
            if fast {
                cpu::adam_step(p, g, m, v, hp, step)
            } else {
                reference::adam_step(p, g, m, v, hp, step)
            }
            Ok(())
        })
    })
}

/// SGD on device tensors as a composition of elementwise ops and whole-storage assignments (there
/// is no fused CUDA SGD kernel; kiln's models train with Adam). Same formula as the reference.
fn sgd_on_device(param: &Tensor, grad: &Tensor, velocity: &Tensor, hp: SgdParams, first: bool) -> Result<()> {
    use crate::elementwise::{binary, unary, BinaryOp::*, UnaryOp::Affine};
    let scaled = |x: &Tensor, mul: f64| unary(Affine { mul, add: 0.0 }, x);
    let mut d = binary(Add, grad, &scaled(param, hp.weight_decay)?)?;
    if hp.momentum != 0.0 {
        let vel = if first {
            d.clone()
        } else {
            binary(Add, &scaled(velocity, hp.momentum)?, &scaled(&d, 1.0 - hp.dampening)?)?
        };
        velocity.assign(&vel)?;
        d = if hp.nesterov { binary(Add, &d, &scaled(&vel, hp.momentum)?)? } else { vel };
    }
    param.assign(&binary(Sub, param, &scaled(&d, hp.lr)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_tensor::DType;

    #[test]
    fn adam_first_step_moves_each_weight_by_lr() {
        // With bias correction, Adam's first step is lr * g / (|g| + eps') = lr * sign(g).
        let p = Tensor::from_vec(vec![1.0f64, -2.0, 0.5], [3]).unwrap();
        let g = Tensor::from_vec(vec![0.3f64, -4.0, 1e-3], [3]).unwrap();
        let (m, v) = (Tensor::zeros([3], DType::F64), Tensor::zeros([3], DType::F64));
        let hp = AdamParams { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-12, weight_decay: 0.0, decoupled: false };
        adam_update(&p, &g, &m, &v, hp, 1).unwrap();
        let got = p.to_vec::<f64>().unwrap();
        for (a, b) in got.iter().zip([0.9, -1.9, 0.4]) {
            assert!((a - b).abs() < 1e-9, "{got:?}");
        }
    }

    #[test]
    fn sgd_momentum_and_nesterov_follow_pytorch() {
        let hp = SgdParams { lr: 0.5, momentum: 0.9, dampening: 0.0, weight_decay: 0.0, nesterov: false };
        let p = Tensor::from_vec(vec![1.0f64], [1]).unwrap();
        let g = Tensor::from_vec(vec![2.0f64], [1]).unwrap();
        let vel = Tensor::zeros([1], DType::F64);
        sgd_update(&p, &g, &vel, hp, true).unwrap(); // v = 2, p = 1 - 1 = 0
        sgd_update(&p, &g, &vel, hp, false).unwrap(); // v = 3.8, p = -1.9
        assert!((p.to_scalar::<f64>().unwrap() + 1.9).abs() < 1e-12);
        let nest = SgdParams { nesterov: true, ..hp };
        let q = Tensor::from_vec(vec![1.0f64], [1]).unwrap();
        let vq = Tensor::zeros([1], DType::F64);
        sgd_update(&q, &g, &vq, nest, true).unwrap(); // v = 2, d = 2 + 1.8, q = 1 - 1.9
        assert!((q.to_scalar::<f64>().unwrap() + 0.9).abs() < 1e-12);
    }

    #[test]
    fn aliasing_and_shape_errors() {
        let p = Tensor::zeros([3], DType::F32);
        let g = Tensor::zeros([3], DType::F32);
        let m = Tensor::zeros([3], DType::F32);
        let hp = AdamParams { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: true };
        assert!(adam_update(&p, &g, &m, &m, hp, 1).is_err());
        assert!(adam_update(&p, &g, &p, &m, hp, 1).is_err());
        assert!(adam_update(&p, &Tensor::zeros([4], DType::F32), &m, &Tensor::zeros([3], DType::F32), hp, 1).is_err());
    }
}
