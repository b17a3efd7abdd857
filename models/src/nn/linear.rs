//! Linear: `y = x W^T + b` with W of shape [out, in] (PyTorch's layout, so `weight` and `bias`
//! load straight from a PyTorch state_dict). The transpose is a view; no copy is made.

use super::{init, join_name, Module};
use kiln_autograd::Var;
use kiln_tensor::{Result, Rng};

pub struct Linear {
    pub weight: Var,
    pub bias: Option<Var>,
}

impl Linear {
    pub fn new(in_features: usize, out_features: usize, bias: bool, rng: &mut Rng) -> Linear {
        let weight = init::fan_in_uniform([out_features, in_features], in_features, rng);
        let bias = bias.then(|| init::fan_in_uniform([out_features], in_features, rng));
        Linear { weight, bias }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Var) -> Result<Var> {
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        f(join_name(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(join_name(prefix, "bias"), b);
        }
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::Linear(self)
    }
}
