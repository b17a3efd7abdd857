//! A whole int8 network: a trained `Sequential` (LeNet, W2 plain or with BatchNorm) turned into a
//! list of int8 stages. BatchNorm is folded into the conv before it (`w' = w γ/σ`, `b' = (b - μ)
//! γ/σ + β`), dropout is dropped (identity at inference), a ReLU right after a conv or linear layer
//! is fused into its epilogue. Calibration runs the f32 network, in evaluation mode, on the given
//! batches and observes every int8 layer's input. `QuantizedNet` is a [`Module`] (forward only,
//! constant output), so the evaluation code of the f32 models runs it unchanged.
//!
//! The forward ([`QuantizedNet::run`]) keeps activations in u8 between int8 layers: a layer whose
//! output reaches the next int8 layer through ReLU, max pooling and flatten alone requantizes
//! straight onto that layer's input grid in its epilogue, and the ReLU (`max(q, zero point)`) and
//! pooling run on the codes. Quantization is monotone and maps 0.0 to the zero point exactly, so
//! this is bit for bit what quantizing each layer's f32 input gives
//! ([`QuantizedNet::run_layer_by_layer`], the oracle the tests hold it to). The stages before the
//! first linear layer act on one sample at a time and run sample by sample in parallel, so a
//! sample's activations stay in cache from the input to the classifier. Must not: train, or
//! record gradients.

use super::affine::{ActQuant, FULL_LEVELS, SEVEN_BIT_LEVELS};
use super::layers::{GemmOrder, LayerOutput, QConv2d, QLinear, QWeights};
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
    /// Activation grids of 7 bits over the calibrated ranges (PyTorch's `reduce_range`), for
    /// AVX2's byte kernel (`qgemm::QIsa::Avx2U7`); else the whole byte.
    pub reduce_range: bool,
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
        let levels = if cfg.reduce_range { SEVEN_BIT_LEVELS } else { FULL_LEVELS };
        let grids = (cfg.per_channel, cfg.reduce_range);
        let mut stages = Vec::new();
        let mut i = 0;
        while i < layers.len() {
            let relu = matches!(layers.get(i + 1), Some(Float::ReLU));
            let input = || {
                observers[i]
                    .range()
                    .ok_or_else(|| Error::invalid(OP, "a layer saw no data"))
                    .and_then(|(lo, hi)| ActQuant::from_range_levels(lo, hi, levels))
            };
            let stage = match &layers[i] {
                Float::Conv(c, bn) => {
                    let (w, b, shape) = folded(c, *bn)?;
                    let weights = QWeights::quantize(&w, Some(&b), shape[0], grids, GemmOrder::Conv)?;
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
                    let w = host_f32(l.weight.tensor())?;
                    let weights = QWeights::quantize(&w, bias.as_deref(), out, grids, GemmOrder::Linear)?;
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

    /// The int8 forward of a host f32 batch (see the module docs).
    pub fn run(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let x = host_f32(x)?;
        // Everything before the first linear layer acts on samples independently.
        let split = self.stages.iter().position(|s| matches!(s, Stage::Linear(_))).unwrap_or(self.stages.len());
        let (mut h, mut dims, first) = if split > 0 && dims.len() == 4 && !x.is_empty() {
            let (h, d) = self.run_per_sample(&x, &dims, split)?;
            (h, d, split)
        } else {
            (Act::F32(x), dims, 0)
        };
        for i in first..self.stages.len() {
            (h, dims) = self.stage(i, h, dims)?;
        }
        Tensor::from_vec(h.into_f32(), dims)
    }

    /// Stages `0..end` on each sample of `x` (`[N, ...]`) in parallel; the samples' results joined.
    fn run_per_sample(&self, x: &[f32], dims: &[usize], end: usize) -> Result<(Act, Vec<usize>)> {
        use rayon::prelude::*;
        let per: usize = dims[1..].iter().product();
        let one = [&[1], &dims[1..]].concat();
        let results: Vec<(Act, Vec<usize>)> = x
            .par_chunks(per.max(1))
            .map(|sample| {
                let mut state = (Act::F32(sample.to_vec()), one.clone());
                for i in 0..end {
                    state = self.stage(i, state.0, state.1)?;
                }
                Ok(state)
            })
            .collect::<Result<_>>()?;
        let Some((first, first_dims)) = results.first() else {
            return Err(Error::invalid(OP, format!("an empty batch {dims:?} has no samples to run")));
        };
        let mut out_dims = first_dims.clone();
        out_dims[0] = dims[0];
        // Every sample went through the same stages, so all are u8 on one grid or all f32.
        let grid = match first {
            Act::U8(_, q) if results.iter().all(|(a, _)| matches!(a, Act::U8(_, r) if r == q)) => Some(*q),
            _ => None,
        };
        let joined = match grid {
            Some(q) => {
                let mut all = Vec::with_capacity(results.iter().map(|(a, _)| a.len()).sum());
                results.iter().for_each(|(a, _)| all.extend_from_slice(&a.on_grid(q)));
                Act::U8(all, q)
            }
            None => {
                let mut all = Vec::with_capacity(results.iter().map(|(a, _)| a.len()).sum());
                results.iter().for_each(|(a, _)| all.extend_from_slice(&a.to_f32()));
                Act::F32(all)
            }
        };
        Ok((joined, out_dims))
    }

    /// Stage `i` on `h` of shape `dims`.
    fn stage(&self, i: usize, h: Act, mut dims: Vec<usize>) -> Result<(Act, Vec<usize>)> {
        let next = self.output_grid(i);
        Ok(match &self.stages[i] {
            Stage::Conv(c) => {
                let g = c.geometry(&dims)?;
                let xq = h.on_grid(c.input);
                let len = g.out_shape().elem_count();
                let y = produce(next, len, |out| c.forward_u8(&g, &xq, out))?;
                (y, g.out_shape().dims().to_vec())
            }
            Stage::Linear(l) => {
                if dims.len() != 2 {
                    return Err(Error::invalid(OP, format!("an int8 linear layer got a rank-{} input", dims.len())));
                }
                let len = dims[0] * l.weights.out_features;
                let y = match l.input {
                    Some(grid) => produce(next, len, |out| l.forward_u8(&h.on_grid(grid), dims[0], out))?,
                    None => Act::F32(l.forward(&h.into_f32(), dims[0])?),
                };
                dims[1] = l.weights.out_features;
                (y, dims)
            }
            Stage::ReLU => match h {
                Act::F32(mut v) => {
                    v.iter_mut().for_each(|v| *v = v.max(0.0));
                    (Act::F32(v), dims)
                }
                // 0.0 is exactly the zero point: ReLU on the codes is a max with it.
                Act::U8(mut v, q) => {
                    v.iter_mut().for_each(|v| *v = (*v).max(q.zero_point));
                    (Act::U8(v, q), dims)
                }
            },
            Stage::MaxPool { kernel, stride } => match h {
                Act::F32(v) => {
                    let (y, _) = kiln_kernels::pool::max_pool2d(&Tensor::from_vec(v, dims)?, *kernel, *stride)?;
                    (Act::F32(y.to_vec::<f32>()?), y.dims().to_vec())
                }
                Act::U8(v, q) => {
                    let d: [usize; 4] = dims[..].try_into().map_err(|_| {
                        Error::invalid(OP, format!("max pooling needs an [N, C, H, W] input, got {dims:?}"))
                    })?;
                    let (y, d) = kiln_kernels::pool::quantized::max_pool2d_u8(&v, d, *kernel, *stride)?;
                    (Act::U8(y, q), d.to_vec())
                }
            },
            Stage::Flatten => (h, vec![dims[0], dims[1..].iter().product()]),
        })
    }

    /// The grid stage `i`'s output is requantized onto: the next int8 layer's input grid when only
    /// ReLU, pooling and flatten lie between them (`None`: f32 output).
    fn output_grid(&self, i: usize) -> Option<ActQuant> {
        for stage in &self.stages[i + 1..] {
            match stage {
                Stage::Conv(c) => return Some(c.input),
                Stage::Linear(l) => return l.input,
                Stage::ReLU | Stage::MaxPool { .. } | Stage::Flatten => {}
            }
        }
        None
    }

    /// The forward with every layer quantizing its f32 input and returning f32 (the stages one by
    /// one, the whole batch at a time): what [`QuantizedNet::run`] must equal bit for bit.
    pub fn run_layer_by_layer(&self, x: &Tensor) -> Result<Tensor> {
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
    /// Whether the activations are on 7-bit grids (`QuantConfig::reduce_range`).
    pub fn seven_bit(&self) -> bool {
        self.stages.iter().any(|s| match s {
            Stage::Conv(c) => c.weights.seven_bit,
            Stage::Linear(l) => l.weights.seven_bit,
            _ => false,
        })
    }

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

/// Activations between stages: f32, or u8 codes on a grid.
enum Act {
    F32(Vec<f32>),
    U8(Vec<u8>, ActQuant),
}

impl Act {
    /// The codes on `grid`: as they are if already on it, else quantized from the f32 values.
    fn on_grid(&self, grid: ActQuant) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Act::U8(v, q) if *q == grid => std::borrow::Cow::Borrowed(v),
            other => {
                let f = other.to_f32();
                let mut q = vec![0u8; f.len()];
                grid.quantize_into(&f, &mut q);
                std::borrow::Cow::Owned(q)
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Act::F32(v) => v.len(),
            Act::U8(v, _) => v.len(),
        }
    }

    fn to_f32(&self) -> std::borrow::Cow<'_, [f32]> {
        match self {
            Act::F32(v) => std::borrow::Cow::Borrowed(v),
            Act::U8(v, q) => std::borrow::Cow::Owned(v.iter().map(|&c| q.dequantize(c)).collect()),
        }
    }

    fn into_f32(self) -> Vec<f32> {
        match self {
            Act::F32(v) => v,
            other => other.to_f32().into_owned(),
        }
    }
}

/// Runs `layer` into a fresh output of `len` values: u8 on `grid`, or f32 without one.
fn produce(grid: Option<ActQuant>, len: usize, layer: impl FnOnce(LayerOutput) -> Result<()>) -> Result<Act> {
    Ok(match grid {
        Some(q) => {
            let mut y = vec![0u8; len];
            layer(LayerOutput::U8(&mut y, q))?;
            Act::U8(y, q)
        }
        None => {
            let mut y = vec![0f32; len];
            layer(LayerOutput::F32(&mut y))?;
            Act::F32(y)
        }
    })
}
