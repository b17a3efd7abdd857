//! BatchNorm2d in the kernel lab (NCHW f32, training mode): one run is the whole fused family a
//! training step calls per layer — channel statistics, normalise + affine, then the backward's
//! channel sums and input gradient — so its GB/s says how close the four passes come to the
//! memory speed the elementwise kernels reach on the same bytes. `cpu` is `norm/cpu.rs`,
//! `reference` `norm/reference.rs`. W2-BN runs these passes with the fused ReLU's gate
//! (`relu: true`); the lab times them without it, so a flip of the gate at a pre-activation within
//! rounding of zero cannot fail the validation of a large shape. Must not: set the process-wide
//! backend, or time a pass the models do not run.

use super::{elements, uniform, unsupported, Case, Kernel, Problem, Unit, Version};
use crate::norm::{cpu as norm_cpu, reference as norm_reference};
use kiln_tensor::{Result, Rng};

/// BatchNorm's epsilon (PyTorch's default).
const EPS: f64 = 1e-5;

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "batch_norm",
        family: "norm",
        about: "BatchNorm2d of x [n, c, h, w] in training mode, forward (statistics, normalise + affine) \
                and backward (dx, dweight, dbias) from a given dy; bytes = 32 n c h w (statistics read \
                x; normalise reads x, writes y; the backward sums read dy and x; dx reads dy and x, \
                writes dx)",
        dims: &["n", "c", "h", "w"],
        versions: &[Version::Cpu, Version::Reference],
        baseline: Version::Reference,
        default_versions: &[Version::Cpu, Version::Reference],
        unit: Unit::Gbps,
        // W2-BN's three BatchNorm2d layers at batch 64.
        default_shapes: &["64x32x30x30", "64x64x13x13", "64x128x4x4"],
        transposes: false,
        strided: false,
        work: |p| 32.0 * p.dims.iter().product::<usize>() as f64,
        // Sums over n h w values: both versions accumulate across blocks in f64, the fast one in
        // f32 lanes within a block, so a few ulps of the inputs' scale, plus the cancellation in
        // dx = k (dy - mean(dy) - x_hat mean(dy x_hat)).
        tolerance: |_| 1e-4,
        build: |p, _, rng| Ok(Box::new(BatchNormCase::new(p, rng)?)),
    }]
}

struct BatchNormCase {
    x: Vec<f32>,
    dy: Vec<f32>,
    weight: Vec<f32>,
    bias: Vec<f32>,
    /// `[n, c, h * w]`.
    dims: (usize, usize, usize),
    /// y, dx, dweight and dbias of the last run (concatenated only by `output`, outside the timing).
    out: [Vec<f32>; 4],
}

impl BatchNormCase {
    fn new(p: &Problem, rng: &mut Rng) -> Result<BatchNormCase> {
        let count = elements("batch_norm", &p.dims)?;
        let (n, c, inner) = (p.dims[0], p.dims[1], p.dims[2] * p.dims[3]);
        // Activations with an offset per tensor, as after a convolution: the statistics must not
        // rely on a zero mean.
        let x = uniform(rng, count, -1.0, 3.0);
        let dy = uniform(rng, count, -1.0, 1.0);
        let weight = uniform(rng, c, 0.5, 1.5);
        let bias = uniform(rng, c, -0.5, 0.5);
        Ok(BatchNormCase { x, dy, weight, bias, dims: (n, c, inner), out: Default::default() })
    }
}

impl Case for BatchNormCase {
    fn run_host(&mut self, version: Version) -> Result<()> {
        let (x, dy, w, b, dims) = (&self.x, &self.dy, &self.weight, &self.bias, self.dims);
        let (y, (dx, dw, db)) = match version {
            Version::Cpu => {
                let s = norm_cpu::batch_stats(x, dims, EPS);
                let y = norm_cpu::batch_apply(x, dims, (&s.mean, &s.invstd), (w, b), false);
                (y, norm_cpu::batch_backward(x, dims, (&s.mean, &s.invstd), (w, b), dy, (true, false)))
            }
            Version::Reference => {
                let s = norm_reference::batch_stats(x, dims, EPS);
                let y = norm_reference::batch_apply(x, dims, (&s.mean, &s.invstd), (w, b), false);
                (y, norm_reference::batch_backward(x, dims, (&s.mean, &s.invstd), (w, b), dy, (true, false)))
            }
            other => return Err(unsupported("batch_norm", other)),
        };
        self.out = [y, dx, dw, db];
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.concat()
    }
}
