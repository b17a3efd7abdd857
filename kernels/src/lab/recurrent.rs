//! The LSTM recurrence in the kernel lab: one direction of a layer over a whole sequence, forward
//! and backward together (`lstm/cpu.rs` against `lstm/reference.rs`), on random pre-activations
//! with random per-row lengths (so padding is exercised). GFLOP/s counts the three `[B, 4H] x H`
//! products per step (the forward `h W_hhᵀ`, the backward `da W_hh` and the `dW_hh` accumulation):
//! 24 B T H². `cuda` is the device sequence the models run (`lstm/cuda.rs`: per step a GEMM, an add
//! and the fused cell kernel, then BPTT). Must not: time the input projection (that is a GEMM,
//! timed as `gemm`).

use super::device::tensor_on_device;
use super::{elements, uniform, unsupported, Case, Kernel, Unit, Version};
use crate::lstm::{backward, cpu, forward, reference, BackwardArgs, Dims, Steps};
use crate::simd;
use kiln_tensor::{Result, Tensor};

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "lstm",
        family: "lstm",
        about: "one LSTM direction over batch x steps, forward + backward; flops = 24 batch steps hidden^2",
        dims: &["batch", "steps", "hidden"],
        versions: &[Version::Reference, Version::Cpu, Version::Cuda],
        baseline: Version::Reference,
        default_versions: &[Version::Reference, Version::Cpu],
        unit: Unit::Gflops,
        // W3 (a batch of 32 reviews, 256 steps, hidden 64), and a wider, shorter one.
        default_shapes: &["32x256x64", "64x64x128"],
        transposes: false,
        strided: false,
        work: |p| 24.0 * (p.dims[0] * p.dims[1]) as f64 * (p.dims[2] * p.dims[2]) as f64,
        // The recurrence compounds the SIMD exp/tanh error over the steps; cpu_tests bound it.
        tolerance: |_| 1e-4,
        build: |p, _, rng| {
            let (batch, t_len, hidden) = (p.dims[0], p.dims[1], p.dims[2]);
            let d = Dims { batch, steps: t_len, hidden };
            let proj = uniform(rng, elements("lstm", &[batch, t_len, 4 * hidden])?, -2.0, 2.0);
            let w_hh = uniform(rng, elements("lstm", &[4 * hidden, hidden])?, -0.3, 0.3);
            let grad = uniform(rng, elements("lstm", &[batch, t_len, 2 * hidden])?, -1.0, 1.0);
            let lengths = Some((0..batch).map(|_| 1 + rng.below(t_len)).collect());
            let steps = Steps { lengths, reverse: true };
            Ok(Box::new(LstmCase { d, steps, proj, w_hh, grad, out: Default::default(), dev: None }))
        },
    }]
}

struct LstmCase {
    d: Dims,
    steps: Steps,
    proj: Vec<f32>,
    w_hh: Vec<f32>,
    grad: Vec<f32>,
    /// The last run's states, `d proj` and `d w_hh`, kept apart so timing excludes joining them.
    out: [Vec<f32>; 3],
    /// proj, w_hh and grad on cuda:0, and the last device run's three results.
    dev: Option<([Tensor; 3], Option<[Tensor; 3]>)>,
}

impl Case for LstmCase {
    fn run_host(&mut self, version: Version) -> Result<()> {
        let (d, steps) = (self.d, &self.steps);
        let fast = match version {
            Version::Cpu => true,
            Version::Reference => false,
            other => return Err(unsupported("lstm", other)),
        };
        let (states, gates) = match fast {
            true => cpu::forward(simd::isa(), &self.proj, &self.w_hh, d, steps),
            false => reference::forward(&self.proj, &self.w_hh, d, steps),
        };
        let args = BackwardArgs { grad: &self.grad, states: &states, gates: &gates, w_hh: &self.w_hh };
        let (dproj, dw) = match fast {
            true => cpu::backward(simd::isa(), &args, d, steps),
            false => reference::backward(&args, d, steps),
        };
        self.out = [states, dproj, dw];
        Ok(())
    }

    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        if version != Version::Cuda {
            return Err(unsupported("lstm", version));
        }
        let d = self.d;
        if self.dev.is_none() {
            let on = |v: &[f32], shape: [usize; 3]| tensor_on_device(&Tensor::from_slice(v, shape.to_vec())?);
            let proj = on(&self.proj, [d.batch, d.steps, 4 * d.hidden])?;
            let w_hh = tensor_on_device(&Tensor::from_slice(&self.w_hh, [4 * d.hidden, d.hidden])?)?;
            let grad = on(&self.grad, [d.batch, d.steps, 2 * d.hidden])?;
            self.dev = Some(([proj, w_hh, grad], None));
        }
        let ([proj, w_hh, grad], out) = self.dev.as_mut().expect("uploaded above");
        let fwd = forward(proj, w_hh, &self.steps)?;
        let back = backward(grad, &fwd, w_hh, &self.steps)?;
        *out = Some([fwd.states, back.proj, back.w_hh]);
        Ok(())
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        let out = self.dev.as_ref().and_then(|d| d.1.as_ref()).ok_or_else(|| unsupported("lstm", Version::Cuda))?;
        self.out = [out[0].to_vec()?, out[1].to_vec()?, out[2].to_vec()?];
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.concat()
    }
}
