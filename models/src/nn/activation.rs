//! Parameter-free activation layers, so they can sit in a [`super::Sequential`]. Each forwards to
//! the Var op of the same name; nothing else belongs here.

use super::Module;
use kiln_autograd::Var;
use kiln_tensor::Result;

pub struct ReLU;
pub struct LeakyReLU(pub f64);
pub struct Tanh;
pub struct Sigmoid;

impl Module for ReLU {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.relu()
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::ReLU
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.leaky_relu(self.0)
    }
}

impl Module for Tanh {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.tanh()
    }
}

impl Module for Sigmoid {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.sigmoid()
    }
}
