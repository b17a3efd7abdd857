//! Layers: the [`Module`] trait and the building blocks the model zoo is made of. Parameters are
//! leaf Vars named as PyTorch names them in a `state_dict` (so checkpoints map one to one);
//! gradients come from `backward`, never from the layers (no zero-grad step). No training loop
//! and no optimizer state here.

mod activation;
mod conv;
mod dropout;
mod embedding;
pub mod init;
mod linear;
mod lstm;
mod norm;
mod norm_check;
mod sequential;

pub use activation::{LeakyReLU, ReLU, Sigmoid, Tanh};
pub use conv::{Conv2d, Flatten, MaxPool2d};
pub use dropout::Dropout;
pub use embedding::Embedding;
pub use linear::Linear;
pub use lstm::{Lstm, LstmConfig, LstmOutput};
pub use norm::{BatchNorm2d, LayerNorm};
pub use sequential::Sequential;

use kiln_autograd::Var;
use kiln_tensor::{Device, Result, Tensor};

pub trait Module: Send + Sync {
    fn forward(&self, x: &Var) -> Result<Var>;

    /// Calls `f` with every trainable parameter and its dotted name under `prefix`.
    fn visit_parameters(&self, _prefix: &str, _f: &mut dyn FnMut(String, &Var)) {}

    /// Calls `f` with every non-trainable state tensor saved in checkpoints (running statistics).
    fn visit_buffers(&self, _prefix: &str, _f: &mut dyn FnMut(String, &Tensor)) {}

    /// Switches between training and evaluation behaviour (dropout, batch norm).
    fn set_training(&self, _training: bool) {}

    /// Whether the module is in training mode; `None` for one whose behaviour has no mode (the
    /// default). Lets a caller (an attack, an attribution) switch to evaluation and back.
    fn training(&self) -> Option<bool> {
        None
    }

    /// Restarts every random stream inside the module (dropout masks) from `seed`. Training loops
    /// call it at each epoch start with a seed derived from (run seed, epoch), so a run resumed
    /// from a checkpoint draws the same masks as an uninterrupted one.
    fn reseed(&self, _seed: u64) {}

    /// What kind of layer this is, for code that rebuilds a network in another form (int8
    /// quantization); `LayerRef::Other` for anything such code does not know.
    fn as_layer(&self) -> LayerRef<'_> {
        LayerRef::Other
    }
}

/// A layer seen through [`Module::as_layer`].
pub enum LayerRef<'a> {
    Linear(&'a Linear),
    Conv2d(&'a Conv2d),
    BatchNorm2d(&'a BatchNorm2d),
    MaxPool2d(&'a MaxPool2d),
    ReLU,
    Flatten,
    /// Dropout: the identity at inference.
    Dropout,
    Sequential(&'a Sequential),
    Other,
}

/// `prefix.name`, or `name` at the top level.
pub fn join_name(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Every parameter of `m` with its name, in a stable order.
pub fn parameters(m: &dyn Module) -> Vec<(String, Var)> {
    let mut out = Vec::new();
    m.visit_parameters("", &mut |name, v| out.push((name, v.clone())));
    out
}

/// Every buffer of `m` with its name.
pub fn buffers(m: &dyn Module) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    m.visit_buffers("", &mut |name, t| out.push((name, t.clone())));
    out
}

/// Moves every parameter and buffer of `m` to `device`, in place (optimizer state follows its
/// parameter at the next step).
pub fn to_device(m: &dyn Module, device: Device) -> Result<()> {
    for (_, v) in parameters(m) {
        v.tensor().relocate(device)?;
    }
    buffers(m).iter().try_for_each(|(_, t)| t.relocate(device))
}

/// The device `m`'s parameters live on (the CPU for a module without parameters).
pub fn device_of(m: &dyn Module) -> Device {
    parameters(m).first().map_or(Device::Cpu, |(_, p)| p.device())
}

/// The number of trainable scalars in `m`.
pub fn parameter_count(m: &dyn Module) -> usize {
    parameters(m).iter().map(|(_, v)| v.elem_count()).sum()
}
