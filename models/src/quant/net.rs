//! A whole int8 network: a trained `Sequential` (LeNet, W2 plain or with BatchNorm) turned into a
//! list of int8 stages. BatchNorm is folded into the conv before it (`w' = w γ/σ`, `b' = (b - μ)
//! γ/σ + β`), dropout is dropped (identity at inference), a ReLU right after a conv or linear layer
//! is fused into its epilogue, max pooling and flatten stay in f32 (a max commutes with the
//! quantization grid). Calibration runs the f32 network, in evaluation mode, on the given batches
//! and observes every int8 layer's input. `QuantizedNet` is a [`Module`] (forward only, constant
//! output), so the evaluation code of the f32 models runs it unchanged. Must not: train, or record
//! gradients.

use super::affine::ActQuant;
use super::layers::{QConv2d, QLinear, QWeights};
use super::observer::{Observer, ObserverKind};
use crate::nn::{BatchNorm2d, Conv2d, LayerRef, Linear, Module, Sequential};
use kiln_autograd::{no_grad, Var};
use kiln_tensor::{Error, Result, Tensor};

const OP: &str = "quantize";

/// How a network is quantized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantConfig {
    pub observer: ObserverKind,
    /// One weight scale per output channel (else one per tensor).
    pub per_channel: bool,
}

/// One stage of an int8 network.
#[derive(Debug, Clone)]
pub enum Stage {
    Conv(QConv2d),
    Linear(QLinear),
    ReLU,
    MaxPool { kernel: usize, stride: usize },
    Flatten,
}

/// An int8 network (see the module docs).
#[derive(Debug, Clone)]
pub struct QuantizedNet {
    pub stages: Vec<Stage>,
}

/// A layer of the f32 network as the quantizer sees it (BatchNorm attached to its conv).
enum Float<'a> {
    Conv(&'a Conv2d, Option<&'a BatchNorm2d>),
    Linear(&'a Linear),
    ReLU,
    MaxPool(usize, usize),
    Flatten,
}

/// The f32 layers in order, nested Sequentials flattened, dropout skipped, BatchNorm attached.
fn plan(net: &Sequential) -> Result<Vec<Float<'_>>> {
    let mut out = Vec::new();
    for layer in net.layers() {
        match layer.as_layer() {
            LayerRef::Conv2d(c) => out.push(Float::Conv(c, None)),
            LayerRef::BatchNorm2d(bn) => match out.last_mut() {
                Some(Float::Conv(_, slot @ None)) => *slot = Some(bn),
                _ => return Err(Error::invalid(OP, "a BatchNorm2d that does not follow a conv cannot be folded")),
            },
            LayerRef::Linear(l) => out.push(Float::Linear(l)),
            LayerRef::ReLU => out.push(Float::ReLU),
            LayerRef::MaxPool2d(p) => out.push(Float::MaxPool(p.kernel, p.stride)),
            LayerRef::Flatten => out.push(Float::Flatten),
            LayerRef::Dropout => {}
            LayerRef::Sequential(inner) => out.extend(plan(inner)?),
            LayerRef::Other => {
                return Err(Error::invalid(OP, "the network has a layer int8 quantization does not know"))
            }
        }
    }
    Ok(out)
}

impl Float<'_> {
    /// The f32 forward (evaluation mode is the caller's business).
    fn forward(&self, x: &Var) -> Result<Var> {
        match self {
            Float::Conv(c, bn) => {
                let y = c.forward(x)?;
                bn.map_or(Ok(y.clone()), |bn| bn.forward(&y))
            }
            Float::Linear(l) => l.forward(x),
            Float::ReLU => x.relu(),
            Float::MaxPool(k, s) => x.max_pool2d(*k, *s),
            Float::Flatten => crate::nn::Flatten.forward(x),
        }
    }

    fn quantized(&self) -> bool {
        matches!(self, Float::Conv(..) | Float::Linear(_))
    }
}

fn host_f32(t: &Tensor) -> Result<Vec<f32>> {
    t.to_device(kiln_tensor::Device::Cpu)?.contiguous()?.to_vec::<f32>()
}

/// Conv weights `[O, C*KH*KW]` and bias with a BatchNorm (evaluation statistics) folded in.
fn folded(c: &Conv2d, bn: Option<&BatchNorm2d>) -> Result<(Vec<f32>, Vec<f32>, [usize; 4])> {
    let dims = c.weight.dims();
    let shape = [dims[0], dims[1], dims[2], dims[3]];
    let mut w = host_f32(c.weight.tensor())?;
    let mut b = match &c.bias {
        Some(b) => host_f32(b.tensor())?,
        None => vec![0.0; shape[0]],
    };
    if let Some(bn) = bn {
        let (gamma, beta) = (host_f32(bn.weight.tensor())?, host_f32(bn.bias.tensor())?);
        let (mean, var) = (host_f32(&bn.running_mean)?, host_f32(&bn.running_var)?);
        let per = w.len() / shape[0];
        for o in 0..shape[0] {
            let k = gamma[o] / (var[o] + bn.eps as f32).sqrt();
            w[o * per..(o + 1) * per].iter_mut().for_each(|v| *v *= k);
            b[o] = (b[o] - mean[o]) * k + beta[o];
        }
    }
    Ok((w, b, shape))
}

impl QuantizedNet {
    /// Calibrates `net` on `batches` (inputs as the network takes them) and quantizes it.
    pub fn quantize(
        net: &Sequential,
        batches: impl IntoIterator<Item = Tensor>,
        cfg: QuantConfig,
    ) -> Result<QuantizedNet> {
        let layers = plan(net)?;
        let mut observers: Vec<Observer> = layers.iter().map(|_| Observer::new(cfg.observer)).collect();
        let was_training = net.training();
        net.set_training(false);
        let seen = no_grad(|| -> Result<usize> {
            let mut seen = 0;
            for x in batches {
                let mut h = Var::constant(x);
                for (layer, ob) in layers.iter().zip(observers.iter_mut()) {
                    if layer.quantized() {
                        ob.observe(&host_f32(h.tensor())?);
                    }
                    h = layer.forward(&h)?;
                }
                seen += 1;
            }
            Ok(seen)
        });
        if let Some(t) = was_training {
            net.set_training(t);
        }
        if seen? == 0 {
            return Err(Error::invalid(OP, "calibration needs at least one batch"));
        }
        let mut stages = Vec::new();
        let mut i = 0;
        while i < layers.len() {
            let relu = matches!(layers.get(i + 1), Some(Float::ReLU));
            let input = || {
                observers[i]
                    .range()
                    .ok_or_else(|| Error::invalid(OP, "a layer saw no data"))
                    .and_then(|(lo, hi)| ActQuant::from_range(lo, hi))
            };
            let stage = match &layers[i] {
                Float::Conv(c, bn) => {
                    let (w, b, shape) = folded(c, *bn)?;
                    let weights = QWeights::quantize(&w, Some(&b), shape[0], cfg.per_channel)?;
                    Stage::Conv(QConv2d {
                        weights,
                        weight_shape: shape,
                        stride: c.stride,
                        padding: c.padding,
                        input: input()?,
                        relu,
                    })
                }
                Float::Linear(l) => {
                    let out = l.weight.dims()[0];
                    let bias = l.bias.as_ref().map(|b| host_f32(b.tensor())).transpose()?;
                    let weights =
                        QWeights::quantize(&host_f32(l.weight.tensor())?, bias.as_deref(), out, cfg.per_channel)?;
                    Stage::Linear(QLinear { weights, input: Some(input()?), relu })
                }
                Float::ReLU => Stage::ReLU,
                Float::MaxPool(k, s) => Stage::MaxPool { kernel: *k, stride: *s },
                Float::Flatten => Stage::Flatten,
            };
            let fused = relu && matches!(stage, Stage::Conv(_) | Stage::Linear(_));
            stages.push(stage);
            i += if fused { 2 } else { 1 };
        }
        Ok(QuantizedNet { stages })
    }

    /// The int8 forward of a host f32 batch.
    pub fn run(&self, x: &Tensor) -> Result<Tensor> {
        let mut dims = x.dims().to_vec();
        let mut h = host_f32(x)?;
        for stage in &self.stages {
            match stage {
                Stage::Conv(c) => (h, dims) = c.forward(&h, &dims)?,
                Stage::Linear(l) => {
                    if dims.len() != 2 {
                        return Err(Error::invalid(
                            OP,
                            format!("an int8 linear layer got a rank-{} input", dims.len()),
                        ));
                    }
                    h = l.forward(&h, dims[0])?;
                    dims[1] = l.weights.out_features;
                }
                Stage::ReLU => h.iter_mut().for_each(|v| *v = v.max(0.0)),
                Stage::MaxPool { kernel, stride } => {
                    let (y, _) = kiln_kernels::pool::max_pool2d(&Tensor::from_vec(h, dims.clone())?, *kernel, *stride)?;
                    dims = y.dims().to_vec();
                    h = y.to_vec::<f32>()?;
                }
                Stage::Flatten => dims = vec![dims[0], dims[1..].iter().product()],
            }
        }
        Tensor::from_vec(h, dims)
    }

    /// Bytes of the int8 weights, scales and biases.
    pub fn weight_bytes(&self) -> usize {
        self.stages
            .iter()
            .map(|s| match s {
                Stage::Conv(c) => c.weights.bytes(),
                Stage::Linear(l) => l.weights.bytes(),
                _ => 0,
            })
            .sum()
    }
}

impl Module for QuantizedNet {
    /// The int8 forward as a constant (no gradient flows through integer arithmetic).
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(Var::constant(self.run(x.tensor())?))
    }
}
