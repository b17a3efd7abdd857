//! Scalar reference optimizer updates over flat slices, written as the papers state them
//! (PyTorch's conventions): SGD with momentum / Nesterov / weight decay, Adam with L2 weight decay,
//! AdamW with decoupled weight decay. Every faster update is tested against these.

use kiln_tensor::Float;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdParams {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParams {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: decay the weights directly (`p -= lr * wd * p`) instead of adding `wd * p` to the gradient.
    pub decoupled: bool,
}

impl AdamParams {
    /// The bias corrections `(1 - beta1^t, sqrt(1 - beta2^t))` for step `t` (from 1), in f64: the
    /// one place the CPU and device paths take them from. `powi` (exact for the first 2^31 steps,
    /// bit-identical to what earlier runs used) where `t` fits in an i32, `powf` past it, so no
    /// step is ever truncated or clamped.
    pub fn bias_corrections(&self, step: u64) -> (f64, f64) {
        let pow = |b: f64| match i32::try_from(step) {
            Ok(t) => b.powi(t),
            Err(_) => b.powf(step as f64),
        };
        (1.0 - pow(self.beta1), (1.0 - pow(self.beta2)).sqrt())
    }
}

/// One SGD step. `velocity` is the momentum buffer; `first` says it has not been written yet
/// (PyTorch initialises it with the first gradient, undampened).
pub fn sgd_step<T: Float>(p: &mut [T], g: &[T], velocity: &mut [T], hp: SgdParams, first: bool) {
    let (lr, mu, damp, wd) =
        (T::from_f64(hp.lr), T::from_f64(hp.momentum), T::from_f64(hp.dampening), T::from_f64(hp.weight_decay));
    for i in 0..p.len() {
        let mut d = g[i] + wd * p[i];
        if hp.momentum != 0.0 {
            velocity[i] = if first { d } else { mu * velocity[i] + (T::ONE - damp) * d };
            d = if hp.nesterov { d + mu * velocity[i] } else { velocity[i] };
        }
        p[i] -= lr * d;
    }
}

/// One Adam/AdamW step; `step` counts from 1 (bias correction).
pub fn adam_step<T: Float>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], hp: AdamParams, step: u64) {
    let (b1, b2) = (T::from_f64(hp.beta1), T::from_f64(hp.beta2));
    let (bc1, bc2_sqrt) = hp.bias_corrections(step);
    let (bc1, bc2_sqrt) = (T::from_f64(bc1), T::from_f64(bc2_sqrt));
    let (lr, eps, wd) = (T::from_f64(hp.lr), T::from_f64(hp.eps), T::from_f64(hp.weight_decay));
    for i in 0..p.len() {
        let mut gi = g[i];
        if hp.decoupled {
            p[i] -= lr * wd * p[i];
        } else {
            gi += wd * p[i];
        }
        m[i] = b1 * m[i] + (T::ONE - b1) * gi;
        v[i] = b2 * v[i] + (T::ONE - b2) * gi * gi;
        // PyTorch: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
        p[i] -= lr / bc1 * m[i] / (v[i].sqrt() / bc2_sqrt + eps);
    }
}
