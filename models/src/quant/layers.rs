//! int8 layers: `QLinear` and `QConv2d` hold s8 weights (packed once for the CPU's integer GEMM),
//! their scales and the f32 bias; a forward quantizes its f32 input to u8 (with the calibrated
//! grid, or, for dynamic quantization, one measured on the batch), runs the integer kernel with the
//! zero point, scales, bias and ReLU fused in its epilogue, and returns f32. Must not: calibrate
//! (the grid comes from `net.rs`) or keep anything between calls.

use super::affine::{ActQuant, WeightQuant};
use kiln_kernels::conv::ConvGeom;
use kiln_kernels::gemm::{MatMut, MatRef};
use kiln_kernels::qgemm::{self, Epilogue, Output, PackedWeights};
use kiln_tensor::{Error, Result, Shape};

const OP: &str = "int8 layer";

/// The weights of an int8 layer: `[out, in]` (conv: `in = C*KH*KW`), quantized and packed.
#[derive(Debug, Clone)]
pub struct QWeights {
    pub out_features: usize,
    pub in_features: usize,
    pub quant: WeightQuant,
    pub bias: Vec<f32>,
    packed: PackedWeights,
}

impl QWeights {
    /// Quantizes f32 weights `[out, in]` (per output channel or per tensor).
    pub fn quantize(w: &[f32], bias: Option<&[f32]>, out_features: usize, per_channel: bool) -> Result<QWeights> {
        let quant = WeightQuant::new(w, out_features, per_channel)?;
        QWeights::from_quantized(quant, bias.map(<[f32]>::to_vec), out_features, w.len() / out_features.max(1))
    }

    /// Rebuilds from stored s8 values and scales (a loaded int8 checkpoint).
    pub fn from_quantized(
        quant: WeightQuant,
        bias: Option<Vec<f32>>,
        out_features: usize,
        in_features: usize,
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
        let packed = PackedWeights::pack(qgemm::qisa(), in_features, out_features, b)?;
        Ok(QWeights { out_features, in_features, quant, bias, packed })
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
            None => ActQuant::of(x)?,
        };
        let mut xq = vec![0u8; x.len()];
        act.quantize_into(x, &mut xq);
        let scale = w.scales(act);
        let epi = Epilogue { a_zero_point: act.zero_point, scale: &scale, bias: Some(&w.bias), relu: self.relu };
        let mut y = vec![0f32; batch * w.out_features];
        let out = Output::F32(MatMut::row_major(&mut y, w.out_features));
        qgemm::qgemm(MatRef::row_major(&xq, w.in_features), batch, &w.packed, &epi, out)?;
        Ok(y)
    }
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
    /// `x` is `[N, C, H, W]` (contiguous, dims given); returns the output and its dims.
    pub fn forward(&self, x: &[f32], dims: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
        let g = ConvGeom::new(
            "int8 conv2d",
            &Shape::from(dims.to_vec()),
            &Shape::from(self.weight_shape.to_vec()),
            self.stride,
            self.padding,
        )?;
        if g.in_shape().elem_count() != x.len() {
            return Err(Error::invalid(OP, format!("conv2d: {} inputs for shape {}", x.len(), g.in_shape())));
        }
        let mut xq = vec![0u8; x.len()];
        self.input.quantize_into(x, &mut xq);
        let scale = self.weights.scales(self.input);
        let w = &self.weights;
        let epi = Epilogue { a_zero_point: self.input.zero_point, scale: &scale, bias: Some(&w.bias), relu: self.relu };
        let mut y = vec![0f32; g.out_shape().elem_count()];
        qgemm::conv2d(&g, &xq, self.input.zero_point, &w.packed, &epi, &mut y)?;
        Ok((y, g.out_shape().dims().to_vec()))
    }
}
