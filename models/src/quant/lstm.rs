//! W3 with dynamic int8 quantization, as PyTorch's `quantize_dynamic` treats an LSTM and a Linear:
//! the weights (both directions' `W_ih` and `W_hh`, and the classifier's) stored as s8 with one
//! scale per gate row (or per tensor), the activations quantized to u8 at run time, on a grid
//! measured on what each product actually sees: the embedded batch once for the input projection
//! of every step, the hidden state at every step for the recurrent product, the final states for
//! the classifier. The products run on the integer GEMM; the gate nonlinearities and the cell
//! update stay f32 (the f32 LSTM's own cell kernel), as does the embedding table (a lookup, no
//! arithmetic to speed up). Padding follows the f32 network: steps past a review's end leave its
//! state unchanged, so the reverse direction starts at the last real token. Must not: calibrate
//! (nothing is static here) or record gradients.

use super::layers::{GemmOrder, QLinear, QWeights};
use crate::nn::{Embedding, Module};
use crate::zoo::sentiment::model::{lengths, HIDDEN};
use crate::zoo::sentiment::SentimentNet;
use kiln_autograd::{no_grad, Var};
use kiln_kernels::lstm::cpu::cell_forward;
use kiln_tensor::{Error, Result, Tensor};

const OP: &str = "int8 lstm";

/// One direction: the input projection (bias `b_ih + b_hh` folded in) and the recurrent product.
#[derive(Debug, Clone)]
pub struct QLstmDirection {
    pub input: QLinear,
    pub recurrent: QLinear,
    pub reverse: bool,
}

/// W3 with its LSTM and classifier dynamically quantized.
pub struct QuantizedSentiment {
    pub embedding: Embedding,
    pub directions: [QLstmDirection; 2],
    pub fc: QLinear,
}

fn host_f32(v: &Var) -> Result<Vec<f32>> {
    v.tensor().to_device(kiln_tensor::Device::Cpu)?.contiguous()?.to_vec::<f32>()
}

/// A dynamic int8 linear layer from f32 weights `[out, in]`; `grids` = (per-channel weight
/// scales, 7-bit activation grids).
fn dynamic(w: &[f32], bias: Option<&[f32]>, out: usize, grids: (bool, bool)) -> Result<QLinear> {
    let weights = QWeights::quantize(w, bias, out, grids, GemmOrder::Linear)?;
    Ok(QLinear { weights, input: None, relu: false })
}

impl QuantizedSentiment {
    /// Quantizes a trained W3 (its parameters read by their PyTorch names): one weight scale per
    /// row if `per_channel`, activations measured on 7-bit grids if `seven_bit`.
    pub fn quantize(net: &SentimentNet, per_channel: bool, seven_bit: bool) -> Result<QuantizedSentiment> {
        let grids = (per_channel, seven_bit);
        let mut params = std::collections::BTreeMap::new();
        net.lstm.visit_parameters("", &mut |name, v| {
            params.insert(name, v.clone());
        });
        let get = |name: &str| -> Result<Vec<f32>> {
            params
                .get(name)
                .map(host_f32)
                .unwrap_or_else(|| Err(Error::invalid(OP, format!("no LSTM parameter {name}"))))
        };
        let direction = |suffix: &str, reverse: bool| -> Result<QLstmDirection> {
            let (w_ih, w_hh) = (get(&format!("weight_ih_l0{suffix}"))?, get(&format!("weight_hh_l0{suffix}"))?);
            let (b_ih, b_hh) = (get(&format!("bias_ih_l0{suffix}"))?, get(&format!("bias_hh_l0{suffix}"))?);
            let bias: Vec<f32> = b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect();
            Ok(QLstmDirection {
                input: dynamic(&w_ih, Some(&bias), 4 * HIDDEN, grids)?,
                recurrent: dynamic(&w_hh, None, 4 * HIDDEN, grids)?,
                reverse,
            })
        };
        let fc_bias = net.fc.bias.as_ref().map(host_f32).transpose()?;
        Ok(QuantizedSentiment {
            embedding: Embedding {
                weight: Var::constant(net.embedding.weight.tensor().clone()),
                padding_idx: net.embedding.padding_idx,
            },
            directions: [direction("", false)?, direction("_reverse", true)?],
            fc: dynamic(&host_f32(&net.fc.weight)?, fc_bias.as_deref(), 1, grids)?,
        })
    }

    /// Logits `[B, 1]` of token ids `[B, T]`.
    pub fn run(&self, ids: &Tensor) -> Result<Tensor> {
        let lens = lengths(ids)?;
        let x = no_grad(|| self.embedding.lookup(ids))?;
        let dims = x.dims().to_vec();
        let (b, t, e) = (dims[0], dims[1], dims[2]);
        let x = host_f32(&x)?;
        let mut features = vec![0f32; b * 2 * HIDDEN];
        for (d, dir) in self.directions.iter().enumerate() {
            let h = dir.run(&x, (b, t, e), &lens)?;
            for (row, state) in h.chunks_exact(HIDDEN).enumerate() {
                features[row * 2 * HIDDEN + d * HIDDEN..][..HIDDEN].copy_from_slice(state);
            }
        }
        Tensor::from_vec(self.fc.forward(&features, b)?, [b, 1])
    }

    /// Bytes of the int8 weights, their scales and the f32 biases (the embedding table excluded).
    pub fn weight_bytes(&self) -> usize {
        let dirs: usize = self.directions.iter().map(|d| d.input.weights.bytes() + d.recurrent.weights.bytes()).sum();
        dirs + self.fc.weights.bytes()
    }
}

impl QLstmDirection {
    /// The final hidden state `[B, H]` of this direction over `x [B, T, E]` (rows `lens` long).
    fn run(&self, x: &[f32], (b, t, e): (usize, usize, usize), lens: &[usize]) -> Result<Vec<f32>> {
        let g = 4 * HIDDEN;
        if self.input.weights.in_features != e || lens.len() != b {
            return Err(Error::invalid(OP, format!("an input [{b}, {t}, {e}] with {} lengths", lens.len())));
        }
        // Every step's input projection at once: [B*T, 4H].
        let proj = self.input.forward(x, b * t)?;
        let isa = kiln_kernels::simd::isa();
        let (mut h, mut c) = (vec![0f32; b * HIDDEN], vec![0f32; b * HIDDEN]);
        for i in 0..t {
            let s = if self.reverse { t - 1 - i } else { i };
            // The state is zero before the first step: no recurrent term then.
            let rec = if i == 0 { vec![0f32; b * g] } else { self.recurrent.forward(&h, b)? };
            for row in 0..b {
                if s >= lens[row] {
                    continue; // padding: the state stays as it was
                }
                let mut act: Vec<f32> =
                    proj[(row * t + s) * g..][..g].iter().zip(&rec[row * g..][..g]).map(|(p, r)| p + r).collect();
                let (hr, cr) = (&mut h[row * HIDDEN..][..HIDDEN], &mut c[row * HIDDEN..][..HIDDEN]);
                cell_forward(isa, &mut act, hr, cr);
            }
        }
        Ok(h)
    }
}

impl Module for QuantizedSentiment {
    /// Token ids to logits, as a constant (no gradient flows through integer arithmetic).
    fn forward(&self, ids: &Var) -> Result<Var> {
        Ok(Var::constant(self.run(ids.tensor())?))
    }
}
