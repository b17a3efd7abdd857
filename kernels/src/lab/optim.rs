//! The fused Adam step in the kernel lab: `optim/cpu.rs::adam_step` against
//! `optim/reference.rs::adam_step` on one flat parameter, updated in place (param, m, v) from a
//! fixed gradient. GB/s counts 4 slices read and 3 written. Must not: change the step count between
//! runs (bias correction would then differ between versions).

use super::device::OnDevice;
use super::{elements, uniform, unsupported, Case, Kernel, Unit, Version};
use crate::optim::{cpu, reference, AdamParams};
use kiln_tensor::{Result, Rng};

const VERSIONS: &[Version] = &[Version::Cpu, Version::Reference];
const WITH_CUDA: &[Version] = &[Version::Cpu, Version::Reference, Version::Cuda, Version::CudaVec4];

/// The models' Adam: lr 1e-3, betas (0.9, 0.999), no weight decay.
const HP: AdamParams =
    AdamParams { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false };
/// A step past the first, so both bias corrections are in play.
const STEP: u64 = 10;

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "adam",
        family: "optim",
        about: "one Adam step on n parameters in place (param, m, v; fixed grad); bytes = 28 n",
        dims: &["n"],
        versions: WITH_CUDA,
        baseline: Version::Reference,
        default_versions: VERSIONS,
        unit: Unit::Gbps,
        // W1's first layer (100 x 256), its largest (512 x 784), a 4M-parameter model.
        default_shapes: &["25600", "401408", "4194304"],
        transposes: false,
        strided: false,
        work: |p| 28.0 * p.dims[0] as f64,
        // Same formula in the same order; only vectorised division / sqrt rounding may differ.
        tolerance: |_| 1e-6,
        build: |p, _, rng| Ok(Box::new(AdamCase::new(p.dims[0], rng)?)),
    }]
}

struct AdamCase {
    p: Vec<f32>,
    g: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    /// p, g, m, v uploaded at the first CUDA run and updated in place there.
    dev: Option<OnDevice>,
}

impl AdamCase {
    fn new(n: usize, rng: &mut Rng) -> Result<AdamCase> {
        let n = elements("adam", &[n])?;
        Ok(AdamCase {
            p: uniform(rng, n, -1.0, 1.0),
            g: uniform(rng, n, -1e-2, 1e-2),
            m: uniform(rng, n, -1e-3, 1e-3),
            v: uniform(rng, n, 0.0, 1e-4),
            dev: None,
        })
    }
}

impl Case for AdamCase {
    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        let vec4 = match version {
            Version::Cuda => false,
            Version::CudaVec4 => true,
            other => return Err(unsupported("adam", other)),
        };
        if self.dev.is_none() {
            self.dev = Some(OnDevice::upload(&[&self.p, &self.g, &self.m, &self.v], 0)?);
        }
        let dev = self.dev.as_mut().expect("uploaded above");
        let [p, g, m, v] = dev.inputs.as_mut_slice() else { unreachable!("four buffers uploaded") };
        crate::cuda::optim::adam_step(&dev.runner, p, g, m, v, self.p.len(), HP, STEP, Some(vec4))
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        let dev = self.dev.as_ref().ok_or_else(|| unsupported("adam", Version::Cuda))?;
        self.p = dev.runner.download(&dev.inputs[0])?;
        self.m = dev.runner.download(&dev.inputs[2])?;
        self.v = dev.runner.download(&dev.inputs[3])?;
        Ok(())
    }

    fn run_host(&mut self, version: Version) -> Result<()> {
        let AdamCase { p, g, m, v, .. } = self;
        match version {
            Version::Cpu => cpu::adam_step(p, g, m, v, HP, STEP),
            Version::Reference => reference::adam_step(p, g, m, v, HP, STEP),
            other => return Err(unsupported("adam", other)),
        }
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        [&self.p, &self.m, &self.v].into_iter().flatten().copied().collect()
    }
}
