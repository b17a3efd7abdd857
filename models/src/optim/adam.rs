//! Adam and AdamW (decoupled weight decay): first and second moment buffers per parameter, the
//! bias-corrected update as PyTorch computes it, through the fused kernel.

use super::{step_tensor, Optimizer, Slots};
use kiln_autograd::{GradStore, Var};
use kiln_kernels::optim::{adam_update, AdamParams};
use kiln_tensor::{Result, Tensor};
use std::collections::BTreeMap;

pub struct Adam {
    /// Two buffers per parameter: the first and second moments.
    slots: Slots,
    hp: AdamParams,
    /// Steps each parameter has taken (PyTorch keeps `step` per parameter): a parameter without a
    /// gradient in some step is skipped, and its bias correction must not count that step.
    param_steps: Vec<u64>,
}

impl Adam {
    /// Adam with L2 weight decay added to the gradient (PyTorch's `Adam`).
    pub fn new(params: Vec<(String, Var)>, lr: f64, betas: (f64, f64), weight_decay: f64) -> Adam {
        Self::build(
            params,
            AdamParams { lr, beta1: betas.0, beta2: betas.1, eps: 1e-8, weight_decay, decoupled: false },
        )
    }

    /// AdamW: weight decay applied to the weights directly (PyTorch's `AdamW`, default decay 0.01).
    pub fn adamw(params: Vec<(String, Var)>, lr: f64, betas: (f64, f64), weight_decay: f64) -> Adam {
        Self::build(params, AdamParams { lr, beta1: betas.0, beta2: betas.1, eps: 1e-8, weight_decay, decoupled: true })
    }

    fn build(params: Vec<(String, Var)>, hp: AdamParams) -> Adam {
        let param_steps = vec![0; params.len()];
        Adam { slots: Slots::new(params, &["exp_avg", "exp_avg_sq"]), hp, param_steps }
    }

    pub fn params(&self) -> &AdamParams {
        &self.hp
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.slots.step += 1;
        let (hp, param_steps) = (self.hp, &mut self.param_steps);
        self.slots.each_with_grad(grads, |i, p, g, b| {
            param_steps[i] += 1;
            adam_update(p, g, &b[0], &b[1], hp, param_steps[i])
        })
    }

    fn lr(&self) -> f64 {
        self.hp.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.hp.lr = lr;
    }

    /// The moments and the global step (`Slots::state`), plus each parameter's own `step`.
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = self.slots.state();
        for ((name, _), &s) in self.slots.params().iter().zip(&self.param_steps) {
            out.push((format!("{name}.step"), step_tensor(s)));
        }
        out
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        self.slots.load_state(state)?;
        for (i, (name, _)) in self.slots.params().iter().enumerate() {
            self.param_steps[i] = match state.get(&format!("{name}.step")) {
                Some(t) => t.to_vec::<i64>()?.first().copied().unwrap_or(0).max(0) as u64,
                None => self.slots.step,
            };
        }
        Ok(())
    }
}
