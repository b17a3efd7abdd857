//! Optimizers (SGD with momentum / Nesterov / weight decay, Adam, AdamW) over named parameters,
//! learning-rate schedules, and gradient clipping by global norm. State is a set of named tensors
//! so checkpoints can save and restore it. The update arithmetic itself is the fused kernel in
//! `kiln_kernels::optim`; this module owns the state and the bookkeeping only.

mod adam;
mod clip;
mod schedule;
mod sgd;

pub use adam::Adam;
pub use clip::clip_grad_norm;
pub use schedule::LrSchedule;
pub use sgd::Sgd;

use kiln_autograd::{GradStore, Var};
use kiln_tensor::{Error, Result, Tensor};
use std::collections::BTreeMap;

pub trait Optimizer {
    /// Applies one update to every parameter that has a gradient in `grads`.
    fn step(&mut self, grads: &GradStore) -> Result<()>;
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    /// The optimizer state as named tensors (`<param>.<buffer>` plus `step`).
    fn state(&self) -> Vec<(String, Tensor)>;
    /// Restores what [`Optimizer::state`] returned; shapes and names must match.
    fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()>;
}

/// One state buffer per parameter, zero-initialised, with the parameter's shape and dtype. They
/// start in host memory and move to their parameter's device at the first step ([`follow`]).
pub(crate) fn zeros_like_params(params: &[(String, Var)]) -> Vec<Tensor> {
    params.iter().map(|(_, p)| Tensor::zeros(p.tensor().shape(), p.tensor().dtype())).collect()
}

/// Moves a state buffer to its parameter's device when the two differ (a model moved after its
/// optimizer was built, or state loaded from a checkpoint).
pub(crate) fn follow(state: &mut Tensor, param: &Tensor) -> Result<()> {
    if state.device() != param.device() {
        *state = state.to_device(param.device())?;
    }
    Ok(())
}

/// Copies `saved` into the existing buffer `into` after checking its shape and dtype.
pub(crate) fn restore(name: &str, into: &Tensor, state: &BTreeMap<String, Tensor>) -> Result<()> {
    let saved =
        state.get(name).ok_or_else(|| Error::invalid("load_state", format!("optimizer state has no `{name}`")))?;
    if saved.shape() != into.shape() || saved.dtype() != into.dtype() {
        return Err(Error::ShapeMismatch { op: "load_state", lhs: into.shape().clone(), rhs: saved.shape().clone() });
    }
    into.assign(saved)
}

pub(crate) fn step_tensor(step: u64) -> Tensor {
    Tensor::from_vec(vec![step as i64], [1]).expect("one element")
}

pub(crate) fn read_step(state: &BTreeMap<String, Tensor>) -> Result<u64> {
    let t = state.get("step").ok_or_else(|| Error::invalid("load_state", "optimizer state has no `step`"))?;
    Ok(t.to_vec::<i64>()?.first().copied().unwrap_or(0).max(0) as u64)
}
