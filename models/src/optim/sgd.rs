//! SGD with momentum, dampening, Nesterov momentum and L2 weight decay, as PyTorch's `SGD`
//! (the momentum buffer starts as the first gradient).

use super::{Optimizer, Slots};
use kiln_autograd::{GradStore, Var};
use kiln_kernels::optim::{sgd_update, SgdParams};
use kiln_tensor::{Result, Tensor};
use std::collections::BTreeMap;

pub struct Sgd {
    /// One buffer per parameter: the momentum (velocity).
    slots: Slots,
    hp: SgdParams,
}

impl Sgd {
    pub fn new(params: Vec<(String, Var)>, lr: f64, momentum: f64, weight_decay: f64, nesterov: bool) -> Sgd {
        let hp = SgdParams { lr, momentum, dampening: 0.0, weight_decay, nesterov };
        Sgd { slots: Slots::new(params, &["momentum_buffer"]), hp }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let first = self.slots.step == 0;
        self.slots.step += 1;
        let hp = self.hp;
        self.slots.each_with_grad(grads, |_, p, g, b| sgd_update(p, g, &b[0], hp, first))
    }

    fn lr(&self) -> f64 {
        self.hp.lr
    }

    fn set_lr(&mut self, lr: f64) {
        self.hp.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.slots.state()
    }

    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        self.slots.load_state(state)
    }
}
