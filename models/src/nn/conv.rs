//! Conv2d (weight [O, C, KH, KW], bias [O], zero padding), MaxPool2d and Flatten: the layers of
//! the CNN workloads. Square kernels, one stride and one padding per layer, as the models use.

use super::{init, join_name, Module};
use kiln_autograd::Var;
use kiln_tensor::{Result, Rng};

pub struct Conv2d {
    pub weight: Var,
    pub bias: Option<Var>,
    pub stride: usize,
    pub padding: usize,
}

impl Conv2d {
    pub fn new(in_ch: usize, out_ch: usize, kernel: usize, stride: usize, padding: usize, rng: &mut Rng) -> Conv2d {
        let fan_in = in_ch * kernel * kernel;
        let weight = init::fan_in_uniform([out_ch, in_ch, kernel, kernel], fan_in, rng);
        let bias = Some(init::fan_in_uniform([out_ch], fan_in, rng));
        Conv2d { weight, bias, stride, padding }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.conv2d(&self.weight, self.bias.as_ref(), self.stride, self.padding)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        f(join_name(prefix, "weight"), &self.weight);
        if let Some(b) = &self.bias {
            f(join_name(prefix, "bias"), b);
        }
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::Conv2d(self)
    }
}

pub struct MaxPool2d {
    pub kernel: usize,
    pub stride: usize,
}

impl MaxPool2d {
    pub fn new(kernel: usize) -> MaxPool2d {
        MaxPool2d { kernel, stride: kernel }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        x.max_pool2d(self.kernel, self.stride)
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::MaxPool2d(self)
    }
}

/// [N, ...] -> [N, product of the rest].
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Var) -> Result<Var> {
        let n = x.dims().first().copied().unwrap_or(1);
        let rest = x.elem_count().checked_div(n).unwrap_or(0);
        x.reshape([n, rest])
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::Flatten
    }
}
