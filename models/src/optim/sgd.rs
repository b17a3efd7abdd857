//! SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as PyTorch's `SGD`
//! (the momentum buffer starts as the first gradient).

use super::{follow, read_step, restore, step_tensor, zeros_like_params, Optimizer};
use kiln_autograd::{GradStore, Var};
use kiln_kernels::optim::{sgd_update, SgdParams};
use kiln_tensor::{Result, Tensor};
use std::collections::BTreeMap;

pub struct Sgd {
    params: Vec<(String, Var)>,
    velocity: Vec<Tensor>,
    hp: SgdParams,
    step: u64,
}

impl Sgd {
    pub fn new(params: Vec<(String, Var)>, lr: f64, momentum: f64, weight_decay: f64, nesterov: bool) -> Sgd {
        let velocity = zeros_like_params(&params);
        let hp = SgdParams { lr, momentum, dampening: 0.0, weight_decay, nesterov };
        Sgd { params, velocity, hp, step: 0 }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let first = self.step == 0;
        self.step += 1;
        for (i, (_, p)) in self.params.iter().enumerate() {
            if let Some(g) = grads.get(p) {
                follow(&mut self.velocity[i], p.tensor())?;
                sgd_update(p.tensor(), g, &self.velocity[i], self.hp, first)?;
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
            out.push((format!("{name}.momentum_buffer"), self.velocity[i].clone()));
        }
        out
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        for (i, (name, _)) in self.params.iter().enumerate() {
            restore(&format!("{name}.momentum_buffer"), &self.velocity[i], state)?;
        }
        self.step = read_step(state)?;
        Ok(())
    }
}
