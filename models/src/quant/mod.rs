//! Post-training int8 quantization of kiln's image classifiers (LeNet, W2 plain and BatchNorm):
//! per-output-channel (or per-tensor) symmetric s8 weights, per-tensor asymmetric u8 activations
//! calibrated on training batches by a min/max or percentile observer, layers that run the integer
//! GEMM (`kiln_kernels::qgemm`) with the zero point, scales, bias and ReLU in its epilogue, and
//! int8 checkpoints. Linear layers also run with dynamic quantization (the activation grid
//! measured per batch), which is how W3 is quantized (`lstm.rs`: its LSTM and classifier). Files:
//! `affine.rs` (the maps), `observer.rs`, `layers.rs`, `net.rs` (a network from a `Sequential`),
//! `lstm.rs` (W3), `file.rs` (checkpoints). Must not: hold integer kernels (they
//! live in kiln-kernels) or train.

mod affine;
mod file;
mod layers;
mod lstm;
mod net;
mod observer;

pub use affine::{ActQuant, WeightQuant};
pub use file::{is_quantized, is_quantized_sentiment, QUANTIZED_KEY};
pub use layers::{GemmOrder, LayerOutput, QConv2d, QLinear, QWeights};
pub use lstm::{QLstmDirection, QuantizedSentiment};
pub use net::{QuantConfig, QuantizedNet, Stage};
pub use observer::{Observer, ObserverKind};

#[cfg(test)]
mod tests;
