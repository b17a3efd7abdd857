//! int8 layers: `QLinear` and `QConv2d` hold s8 weights (packed once for the CPU's integer GEMM,
//! in the order each layer runs: the linear order for `QLinear`, the swapped one for `QConv2d`),
//! their scales and the f32 bias. `forward` quantizes an f32 input to u8 (with the calibrated
//! grid, or, for dynamic quantization, one measured on the batch), runs the integer kernel with the
//! zero point, scales, bias and ReLU fused in its epilogue, and returns f32; `forward_u8` takes an
//! input already on the layer's grid and writes f32 or u8 on the next layer's grid (what a whole
//! int8 network chains). Must not: calibrate (the grid comes from `net.rs`) or keep anything
//! between calls.

use super::affine::{ActQuant, WeightQuant, FULL_LEVELS, SEVEN_BIT_LEVELS};
use kiln_kernels::conv::ConvGeom;
use kiln_kernels::gemm::{MatMut, MatRef};
use kiln_kernels::qgemm::{self, ConvOutput, ConvWeights, Epilogue, Output, PackedWeights};
use kiln_tensor::{Error, Result, Shape};

const OP: &str = "int8 layer";

/// Which integer GEMM order a layer's weights are packed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmOrder {
    /// `qgemm::qgemm`: a batch of rows times the weights (linear layers).
    Linear,
    /// `qgemm::conv2d`: output positions in the vector lanes (convolutions).
    Conv,
}

#[derive(Debug, Clone)]
enum Packed {
    Linear(PackedWeights),
    Conv(ConvWeights),
}

/// The weights of an int8 layer: `[out, in]` (conv: `in = C*KH*KW`), quantized and packed.
#[derive(Debug, Clone)]
pub struct QWeights {
    pub out_features: usize,
    pub in_features: usize,
    pub quant: WeightQuant,
    pub bias: Vec<f32>,
    /// The layer's activations are quantized on 7-bit grids (`reduce_range`): its weights are
    /// packed for [`qgemm::qisa_for`]`(true)` and a dynamic layer measures 127-step grids.
    pub seven_bit: bool,
    packed: Packed,
}

impl QWeights {
    /// Quantizes f32 weights `[out, in]` (per output channel or per tensor) for `order`, beside
    /// activations on 7-bit grids if `seven_bit`.
    pub fn quantize(
        w: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        (per_channel, seven_bit): (bool, bool),
        order: GemmOrder,
    ) -> Result<QWeights> {
        let quant = WeightQuant::new(w, out_features, per_channel)?;
        let inputs = w.len() / out_features.max(1);
        QWeights::from_quantized(quant, bias.map(<[f32]>::to_vec), [out_features, inputs], seven_bit, order)
    }

    /// Rebuilds from stored s8 values and scales (a loaded int8 checkpoint).
    pub fn from_quantized(
        quant: WeightQuant,
        bias: Option<Vec<f32>>,
        [out_features, in_features]: [usize; 2],
        seven_bit: bool,
        order: GemmOrder,
    ) -> Result<QWeights> {
        let expected = out_features.checked_mul(in_features);
        if expected != Some(quant.values.len()) || !(quant.scales.len() == 1 || quant.scales.len() == out_features) {
            return Err(Error::invalid(
                OP,
                format!(
                    "{} weights and {} scales do not make a [{out_features}, {in_features}] layer",
                    quant.values.len(),
                    quant.scales.len()
                ),
            ));
        }
        let bias = bias.unwrap_or_else(|| vec![0.0; out_features]);
        if bias.len() != out_features {
            return Err(Error::invalid(OP, format!("{} biases for {out_features} outputs", bias.len())));
        }
        // B = Wᵀ: element (k, j) is w[j, k].
        let b = MatRef::row_major(&quant.values, in_features).t();
        let isa = qgemm::qisa_for(seven_bit);
        let packed = match order {
            GemmOrder::Linear => Packed::Linear(PackedWeights::pack(isa, in_features, out_features, b)?),
            GemmOrder::Conv => Packed::Conv(ConvWeights::pack(isa, in_features, out_features, b)?),
        };
        Ok(QWeights { out_features, in_features, quant, bias, seven_bit, packed })
    }

    /// The epilogue's per-column scale: activation scale times each channel's weight scale.
    fn scales(&self, act: ActQuant) -> Vec<f32> {
        (0..self.out_features).map(|j| act.scale * self.quant.scale(j)).collect()
    }

    /// Bytes of the int8 form (s8 weights, f32 scales and bias).
    pub fn bytes(&self) -> usize {
        self.quant.values.len() + 4 * (self.quant.scales.len() + self.bias.len())
    }
}

/// `y = relu?(x Wᵀ + b)` with int8 weights.
#[derive(Debug, Clone)]
pub struct QLinear {
    pub weights: QWeights,
    /// The calibrated input grid; `None` = dynamic (measured on each batch).
    pub input: Option<ActQuant>,
    pub relu: bool,
}

impl QLinear {
    /// `x` is `[batch, in]` row-major; returns `[batch, out]`.
    pub fn forward(&self, x: &[f32], batch: usize) -> Result<Vec<f32>> {
        let w = &self.weights;
        if batch.checked_mul(w.in_features) != Some(x.len()) {
            return Err(Error::invalid(
                OP,
                format!("linear: {} inputs for batch {batch} x {} features", x.len(), w.in_features),
            ));
        }
        let act = match self.input {
            Some(a) => a,
            None => ActQuant::of(x, if w.seven_bit { SEVEN_BIT_LEVELS } else { FULL_LEVELS })?,
        };
        let mut xq = vec![0u8; x.len()];
        act.quantize_into(x, &mut xq);
        let mut y = vec![0f32; batch * w.out_features];
        self.run(&xq, batch, act, LayerOutput::F32(&mut y))?;
        Ok(y)
    }

    /// `xq` is `[batch, in]` on the calibrated input grid (a dynamic layer has none: an error).
    pub fn forward_u8(&self, xq: &[u8], batch: usize, out: LayerOutput) -> Result<()> {
        let act = self.input.ok_or_else(|| Error::invalid(OP, "linear: a dynamic layer takes f32 input"))?;
        if batch.checked_mul(self.weights.in_features) != Some(xq.len()) {
            return Err(Error::invalid(
                OP,
                format!("linear: {} inputs for batch {batch} x {} features", xq.len(), self.weights.in_features),
            ));
        }
        self.run(xq, batch, act, out)
    }

    fn run(&self, xq: &[u8], batch: usize, act: ActQuant, out: LayerOutput) -> Result<()> {
        let w = &self.weights;
        let Packed::Linear(packed) = &w.packed else {
            return Err(Error::invalid(OP, "linear: the weights are packed for a convolution"));
        };
        let scale = w.scales(act);
        let epi = Epilogue { a_zero_point: act.zero_point, scale: &scale, bias: Some(&w.bias), relu: self.relu };
        let n = w.out_features;
        let out = match out {
            LayerOutput::F32(y) => Output::F32(MatMut::row_major(y, n)),
            LayerOutput::U8(y, q) => {
                Output::U8 { out: MatMut::row_major(y, n), scale: q.scale, zero_point: q.zero_point }
            }
        };
        qgemm::qgemm(MatRef::row_major(xq, w.in_features), batch, packed, &epi, out)
    }
}

/// Where an int8 layer writes: f32, or u8 on a grid (the next int8 layer's input grid).
#[derive(Debug)]
pub enum LayerOutput<'a> {
    F32(&'a mut [f32]),
    U8(&'a mut [u8], ActQuant),
}

/// A 2-D convolution with int8 weights `[O, C, KH, KW]` (stored as `[O, C*KH*KW]`).
#[derive(Debug, Clone)]
pub struct QConv2d {
    pub weights: QWeights,
    /// `[O, C, KH, KW]`.
    pub weight_shape: [usize; 4],
    pub stride: usize,
    pub padding: usize,
    pub input: ActQuant,
    pub relu: bool,
}

impl QConv2d {
    /// The geometry of an input of `dims` (`[N, C, H, W]`).
    pub fn geometry(&self, dims: &[usize]) -> Result<ConvGeom> {
        ConvGeom::new(
            "int8 conv2d",
            &Shape::from(dims.to_vec()),
            &Shape::from(self.weight_shape.to_vec()),
            self.stride,
            self.padding,
        )
    }

    /// `x` is `[N, C, H, W]` (contiguous, dims given); returns the output and its dims.
    pub fn forward(&self, x: &[f32], dims: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        let g = self.geometry(dims)?;
        if g.in_shape().elem_count() != x.len() {
            return Err(Error::invalid(OP, format!("conv2d: {} inputs for shape {}", x.len(), g.in_shape())));
        }
        let mut xq = vec![0u8; x.len()];
        self.input.quantize_into(x, &mut xq);
        let mut y = vec![0f32; g.out_shape().elem_count()];
        self.forward_u8(&g, &xq, LayerOutput::F32(&mut y))?;
        Ok((y, g.out_shape().dims().to_vec()))
    }

    /// `xq` is the input of geometry `g` on the layer's input grid; writes `[N, O, OH, OW]`.
    pub fn forward_u8(&self, g: &ConvGeom, xq: &[u8], out: LayerOutput) -> Result<()> {
        let w = &self.weights;
        let Packed::Conv(packed) = &w.packed else {
            return Err(Error::invalid(OP, "conv2d: the weights are packed for a linear layer"));
        };
        let scale = w.scales(self.input);
        let epi = Epilogue { a_zero_point: self.input.zero_point, scale: &scale, bias: Some(&w.bias), relu: self.relu };
        let out = match out {
            LayerOutput::F32(y) => ConvOutput::F32(y),
            LayerOutput::U8(y, q) => ConvOutput::U8 { out: y, scale: q.scale, zero_point: q.zero_point },
        };
        qgemm::conv2d(g, xq, self.input.zero_point, packed, &epi, out)
    }
}
