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

/// What every optimizer keeps besides its hyper-parameters: the named parameters, a set of state
/// buffers per parameter (named `<param>.<suffix>`, zero-initialised in the parameter's shape and
/// dtype) and the global step. Buffers start in host memory and follow their parameter to its
/// device at the first step (a model moved after its optimizer was built, or state loaded from a
/// checkpoint).
pub(crate) struct Slots {
    params: Vec<(String, Var)>,
    suffixes: &'static [&'static str],
    /// `buffers[i][j]`: buffer `suffixes[j]` of parameter `i`.
    buffers: Vec<Vec<Tensor>>,
    pub step: u64,
}

impl Slots {
    pub fn new(params: Vec<(String, Var)>, suffixes: &'static [&'static str]) -> Slots {
        let zeros = |p: &Var| Tensor::zeros(p.tensor().shape(), p.tensor().dtype());
        let buffers = params.iter().map(|(_, p)| suffixes.iter().map(|_| zeros(p)).collect()).collect();
        Slots { params, suffixes, buffers, step: 0 }
    }

    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// Calls `update(i, parameter, gradient, its buffers)` for every parameter with a gradient in
    /// `grads`, its buffers on the parameter's device.
    pub fn each_with_grad(
        &mut self,
        grads: &GradStore,
        mut update: impl FnMut(usize, &Tensor, &Tensor, &[Tensor]) -> Result<()>,
    ) -> Result<()> {
        for (i, (_, p)) in self.params.iter().enumerate() {
            if let Some(g) = grads.get(p) {
                for b in self.buffers[i].iter_mut() {
                    if b.device() != p.device() {
                        *b = b.to_device(p.device())?;
                    }
                }
                update(i, p.tensor(), g, &self.buffers[i])?;
            }
        }
        Ok(())
    }

    /// `step`, then every parameter's buffers by name.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), step_tensor(self.step))];
        for ((name, _), bufs) in self.params.iter().zip(&self.buffers) {
            out.extend(self.suffixes.iter().zip(bufs).map(|(s, b)| (format!("{name}.{s}"), b.clone())));
        }
        out
    }

    /// Restores what [`Slots::state`] wrote, checking every buffer's shape and dtype.
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        for ((name, _), bufs) in self.params.iter().zip(&self.buffers) {
            for (s, b) in self.suffixes.iter().zip(bufs) {
                restore(&format!("{name}.{s}"), b, state)?;
            }
        }
        self.step = read_step(state)?;
        Ok(())
    }
}

/// Copies `saved` into the existing buffer `into` after checking its shape and dtype.
fn restore(name: &str, into: &Tensor, state: &BTreeMap<String, Tensor>) -> Result<()> {
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

fn read_step(state: &BTreeMap<String, Tensor>) -> Result<u64> {
    let t = state.get("step").ok_or_else(|| Error::invalid("load_state", "optimizer state has no `step`"))?;
    Ok(t.to_vec::<i64>()?.first().copied().unwrap_or(0).max(0) as u64)
}
