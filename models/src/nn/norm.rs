//! BatchNorm2d (per-channel statistics over N, H, W; running mean and unbiased running variance
//! updated in place with momentum in training, used in evaluation) and LayerNorm (over the last
//! dim). Both run the fused norm kernels (`kiln_autograd::batch_norm` / `layer_norm`) on the CPU
//! and on a GPU (norm.cu); `composite` below composes the same math from autograd ops, the tests'
//! yardstick for the fused ops.

use super::{init, join_name, Module};
use kiln_autograd::{batch_norm, batch_norm_relu, layer_norm, no_grad, BatchNormMode, Var};
use kiln_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln_tensor::{DType, Result, Tensor};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct BatchNorm2d {
    pub weight: Var,
    pub bias: Var,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub eps: f64,
    pub momentum: f64,
    training: AtomicBool,
}

impl BatchNorm2d {
    pub fn new(channels: usize) -> BatchNorm2d {
        BatchNorm2d {
            weight: init::constant([channels], 1.0),
            bias: init::constant([channels], 0.0),
            running_mean: Tensor::zeros([channels], DType::F32),
            running_var: Tensor::ones([channels], DType::F32),
            eps: 1e-5,
            momentum: 0.1,
            training: AtomicBool::new(true),
        }
    }

    /// `stat = (1 - momentum) * stat + momentum * scale * batch`, in place, on the statistics'
    /// device (two affine maps and an add: no host round trip on a GPU).
    fn update_running(&self, stat: &Tensor, batch: &Tensor, scale: f64) -> Result<()> {
        let m = self.momentum;
        let kept = unary(UnaryOp::Affine { mul: 1.0 - m, add: 0.0 }, stat)?;
        let new = unary(UnaryOp::Affine { mul: m * scale, add: 0.0 }, &batch.reshape(stat.shape().clone())?)?;
        stat.assign(&binary(BinaryOp::Add, &kept, &new)?)
    }
}

impl BatchNorm2d {
    /// The fused kernels: batch statistics from one pass, the running ones updated from them; with
    /// `relu` the ReLU that follows is applied in the same op (`batch_norm_relu`).
    fn fused(&self, x: &Var, relu: bool) -> Result<Var> {
        let op = if relu { batch_norm_relu } else { batch_norm };
        if !self.training.load(Ordering::Relaxed) {
            let mode = BatchNormMode::Running { mean: &self.running_mean, var: &self.running_var };
            return Ok(op(x, &self.weight, &self.bias, mode, self.eps)?.0);
        }
        let (y, stats) = op(x, &self.weight, &self.bias, BatchNormMode::Batch, self.eps)?;
        let stats = stats.expect("batch mode returns the batch statistics");
        let n = x.elem_count() / self.weight.elem_count().max(1);
        no_grad(|| -> Result<()> {
            self.update_running(&self.running_mean, &stats.mean, 1.0)?;
            // Running variance is unbiased, the normalisation uses the biased one (PyTorch).
            self.update_running(&self.running_var, &stats.var, n as f64 / (n.max(2) - 1) as f64)
        })?;
        Ok(y)
    }

    /// The same from autograd ops (any device).
    pub fn composite(&self, x: &Var) -> Result<Var> {
        let c = self.weight.elem_count();
        super::norm_check::batch_norm_2d_input(x, c, self.training.load(Ordering::Relaxed))?;
        let (mean, var) = if self.training.load(Ordering::Relaxed) {
            let mean = x.mean(&[0, 2, 3], true)?;
            let diff = x.sub(&mean)?;
            let var = diff.mul(&diff)?.mean(&[0, 2, 3], true)?;
            let n = x.elem_count() / c.max(1);
            no_grad(|| -> Result<()> {
                self.update_running(&self.running_mean, mean.tensor(), 1.0)?;
                // Running variance is unbiased, the normalisation uses the biased one (PyTorch).
                self.update_running(&self.running_var, var.tensor(), n as f64 / (n.max(2) - 1) as f64)
            })?;
            (mean, var)
        } else {
            let as_4d = |t: &Tensor| -> Result<Var> { Ok(Var::constant(t.reshape([1, c, 1, 1])?)) };
            (as_4d(&self.running_mean)?, as_4d(&self.running_var)?)
        };
        let xhat = x.sub(&mean)?.div(&var.affine(1.0, self.eps)?.sqrt()?)?;
        xhat.mul(&self.weight.reshape([1, c, 1, 1])?)?.add(&self.bias.reshape([1, c, 1, 1])?)
    }
}

impl BatchNorm2d {
    /// `relu(self.forward(x))` as one fused op: what [`super::Sequential`] runs for a BatchNorm2d
    /// followed by a ReLU (the two layers keep their places and names).
    pub fn forward_relu(&self, x: &Var) -> Result<Var> {
        super::norm_check::batch_norm_2d_input(x, self.weight.elem_count(), self.training.load(Ordering::Relaxed))?;
        self.fused(x, true)
    }
}

impl Module for BatchNorm2d {
    fn forward(&self, x: &Var) -> Result<Var> {
        super::norm_check::batch_norm_2d_input(x, self.weight.elem_count(), self.training.load(Ordering::Relaxed))?;
        self.fused(x, false)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        f(join_name(prefix, "weight"), &self.weight);
        f(join_name(prefix, "bias"), &self.bias);
    }

    fn visit_buffers(&self, prefix: &str, f: &mut dyn FnMut(String, &Tensor)) {
        f(join_name(prefix, "running_mean"), &self.running_mean);
        f(join_name(prefix, "running_var"), &self.running_var);
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn training(&self) -> Option<bool> {
        Some(self.training.load(Ordering::Relaxed))
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::BatchNorm2d(self)
    }
}

pub struct LayerNorm {
    pub weight: Var,
    pub bias: Var,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(dim: usize) -> LayerNorm {
        LayerNorm { weight: init::constant([dim], 1.0), bias: init::constant([dim], 0.0), eps: 1e-5 }
    }
}

impl LayerNorm {
    /// LayerNorm from autograd ops (any device).
    pub fn composite(&self, x: &Var) -> Result<Var> {
        super::norm_check::layer_norm_input(x, self.weight.elem_count())?;
        let mean = x.mean(&[-1], true)?;
        let diff = x.sub(&mean)?;
        let var = diff.mul(&diff)?.mean(&[-1], true)?;
        let xhat = diff.div(&var.affine(1.0, self.eps)?.sqrt()?)?;
        xhat.mul(&self.weight)?.add(&self.bias)
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Var) -> Result<Var> {
        super::norm_check::layer_norm_input(x, self.weight.elem_count())?;
        layer_norm(x, &self.weight, &self.bias, self.eps)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        f(join_name(prefix, "weight"), &self.weight);
        f(join_name(prefix, "bias"), &self.bias);
    }
}
