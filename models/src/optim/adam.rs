//! Adam and AdamW (decoupled weight decay): first and second moment buffers per parameter, the
//! bias-corrected update as PyTorch computes it, through the fused kernel.

use super::{follow, read_step, restore, step_tensor, zeros_like_params, Optimizer};
use kiln_autograd::{GradStore, Var};
use kiln_kernels::optim::{adam_update, AdamParams};
use kiln_tensor::{Result, Tensor};
use std::collections::BTreeMap;

pub struct Adam {
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    hp: AdamParams,
    step: u64,
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
        let m = zeros_like_params(&params);
        let v = zeros_like_params(&params);
        let param_steps = vec![0; params.len()];
        Adam { params, m, v, hp, step: 0, param_steps }
    }

    pub fn params(&self) -> &AdamParams {
        &self.hp
    }
}

impl Optimizer for Adam {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        for (i, (_, p)) in self.params.iter().enumerate() {
            if let Some(g) = grads.get(p) {
                self.param_steps[i] += 1;
                follow(&mut self.m[i], p.tensor())?;
                follow(&mut self.v[i], p.tensor())?;
                adam_update(p.tensor(), g, &self.m[i], &self.v[i], self.hp, self.param_steps[i])?;
            }
        }
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.hp.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.hp.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), step_tensor(self.step))];
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.push((format!("{name}.exp_avg"), self.m[i].clone()));
            out.push((format!("{name}.exp_avg_sq"), self.v[i].clone()));
            out.push((format!("{name}.step"), step_tensor(self.param_steps[i])));
        }
        out
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            restore(&format!("{name}.exp_avg"), &self.m[i], state)?;
            restore(&format!("{name}.exp_avg_sq"), &self.v[i], state)?;
        }
        self.step = read_step(state)?;
        for (i, (name, _)) in self.params.iter().enumerate() {
            self.param_steps[i] = match state.get(&format!("{name}.step")) {
                Some(t) => t.to_vec::<i64>()?.first().copied().unwrap_or(0).max(0) as u64,
                None => self.step,
            };
        }
        Ok(())
    }
}
