//! Sequential: layers applied in order, named by their position ("0.weight", "2.bias", ...) as
//! PyTorch's nn.Sequential names them. Two rewrites happen here, each giving the same values and
//! gradients as the layers one by one, with the layers kept in the list (names, checkpoints and
//! `layers()` do not change):
//! - a BatchNorm2d directly followed by a ReLU runs as the single `batch_norm_relu` op (two passes
//!   over the activation fewer);
//! - a ReLU directly followed by a MaxPool2d runs after the pool: `max(relu(x)) = relu(max(x))`
//!   for every window (ReLU is monotone and keeps NaN), and the gradients agree (a window whose
//!   maximum is positive has the same arg-max either way and passes its gradient there; one whose
//!   maximum is not positive passes none either way), so the ReLU and its backward touch a
//!   quarter of the elements for 2x2 windows.

use super::{join_name, LayerRef, Module};
use kiln_autograd::Var;
use kiln_tensor::{Result, Tensor};

#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer (builder style).
    pub fn push(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layers, in order.
    pub fn layers(&self) -> impl Iterator<Item = &dyn Module> {
        self.layers.iter().map(|l| l.as_ref())
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Var) -> Result<Var> {
        let mut h = x.clone();
        let mut i = 0;
        while i < self.layers.len() {
            let next = self.layers.get(i + 1).map(|l| l.as_layer());
            h = match (self.layers[i].as_layer(), next) {
                (LayerRef::BatchNorm2d(bn), Some(LayerRef::ReLU)) => {
                    i += 1;
                    bn.forward_relu(&h)?
                }
                (LayerRef::ReLU, Some(LayerRef::MaxPool2d(pool))) => {
                    i += 1;
                    pool.forward(&h)?.relu()?
                }
                _ => self.layers[i].forward(&h)?,
            };
            i += 1;
        }
        Ok(h)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit_parameters(&join_name(prefix, &i.to_string()), f);
        }
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(String, &Tensor)) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.visit_buffers(&join_name(prefix, &i.to_string()), f);
        }
    }

    fn set_training(&self, training: bool) {
        for layer in &self.layers {
            layer.set_training(training);
        }
    }

    /// The first layer with a mode speaks for all (`set_training` keeps them alike).
    fn training(&self) -> Option<bool> {
        self.layers.iter().find_map(|l| l.training())
    }

    fn reseed(&self, seed: u64) {
        for (i, layer) in self.layers.iter().enumerate() {
            layer.reseed(seed.wrapping_add(i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::Sequential(self)
    }
}
