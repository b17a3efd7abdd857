//! Convolution and pooling in the kernel lab (NCHW f32). `conv2d`: `cpu` is what `Backend::Cpu`
//! runs (the fast conv2d, falling back to im2col + GEMM) and `reference` the direct loops, each
//! picked per call through `conv::conv2d_with` (stride 1, no padding, as W2's layers); strided
//! validation reads the input through a narrowed view.
//! `max_pool2d` (2 x 2, stride 2): `cpu` is `pool/cpu.rs`, `reference` `pool/reference.rs`, `cuda`
//! the `max_pool2d_f32` kernel (values and argmax). Must not: set the process-wide backend.

use super::device::{tensor_on_device, OnDevice};
use super::{elements, uniform, unsupported, Case, Kernel, Operands, Problem, Unit, Version};
use crate::conv::conv2d;
use crate::cuda::Buf;
use crate::pool::{cpu as pool_cpu, reference as pool_reference};
use crate::{with_backend, Backend};
use kiln_tensor::{Error, Layout, Result, Rng, Tensor};

/// Output side of a stride-1, unpadded convolution: `size - k + 1`.
fn conv_out(size: usize, k: usize) -> usize {
    size.saturating_sub(k) + 1
}

/// `2 N O OH OW C K K` for dims `[n, c, h, w, o, k]`.
fn conv_flops(p: &Problem) -> f64 {
    let [n, c, h, w, o, k] = <[usize; 6]>::try_from(p.dims.as_slice()).expect("checked: 6 dims");
    2.0 * (n * o * conv_out(h, k) * conv_out(w, k) * c * k * k) as f64
}

pub(super) fn kernels() -> Vec<Kernel> {
    vec![
        Kernel {
            name: "conv2d",
            family: "conv",
            about: "x [n, c, h, w] conv w [o, c, k, k] + bias, stride 1, no padding; FLOPs = 2 n o oh ow c k k",
            dims: &["n", "c", "h", "w", "o", "k"],
            versions: &[Version::Cpu, Version::Reference, Version::Cuda],
            baseline: Version::Reference,
            default_versions: &[Version::Cpu, Version::Reference],
            unit: Unit::Gflops,
            // W2's three convolutions at batch 64.
            default_shapes: &["64x3x32x32x32x3", "64x32x15x15x64x3", "64x64x6x6x128x3"],
            transposes: false,
            strided: true,
            work: conv_flops,
            // A GEMM over c k k products: the same rounding argument as gemm's tolerance.
            tolerance: |p| 1e-5 * ((p.dims[1] * p.dims[5] * p.dims[5]) as f32).sqrt(),
            build: |p, operands, rng| Ok(Box::new(ConvCase::new(p, operands, rng)?)),
        },
        Kernel {
            name: "max_pool2d",
            family: "pool",
            about: "2 x 2 max pooling, stride 2, of x [n, c, h, w], with argmax indices; \
                    bytes = 4 n c h w + 12 n c oh ow",
            dims: &["n", "c", "h", "w"],
            versions: &[Version::Cpu, Version::Reference, Version::Cuda],
            baseline: Version::Reference,
            default_versions: &[Version::Cpu, Version::Reference],
            unit: Unit::Gbps,
            // After W2's convolutions, batch 64.
            default_shapes: &["64x32x30x30", "64x64x13x13", "64x128x4x4"],
            transposes: false,
            strided: false,
            work: |p| {
                let (planes, h, w) = ((p.dims[0] * p.dims[1]) as f64, p.dims[2], p.dims[3]);
                planes * (4.0 * (h * w) as f64 + 12.0 * ((h / 2) * (w / 2)) as f64)
            },
            tolerance: |_| 0.0,
            build: |p, _, rng| Ok(Box::new(PoolCase::new(p, rng)?)),
        },
    ]
}

struct ConvCase {
    x: Tensor,
    w: Tensor,
    bias: Tensor,
    out: Vec<f32>,
    /// x, w and bias on cuda:0, and the last device result.
    dev: Option<([Tensor; 3], Option<Tensor>)>,
}

impl ConvCase {
    fn new(p: &Problem, operands: Operands, rng: &mut Rng) -> Result<ConvCase> {
        let [n, c, h, w, o, k] = <[usize; 6]>::try_from(p.dims.as_slice()).expect("checked: 6 dims");
        // Strided: the input is the first `w` columns of a wider image.
        let stored_w = if operands == Operands::Strided { w + 3 } else { w };
        let x =
            Tensor::from_vec(uniform(rng, elements("conv2d", &[n, c, h, stored_w])?, -1.0, 1.0), [n, c, h, stored_w])?
                .narrow(3, 0, w)?;
        let weights = Tensor::from_vec(uniform(rng, elements("conv2d", &[o, c, k, k])?, -1.0, 1.0), [o, c, k, k])?;
        let bias = Tensor::from_vec(uniform(rng, o, -1.0, 1.0), [o])?;
        Ok(ConvCase { x, w: weights, bias, out: Vec::new(), dev: None })
    }
}

impl Case for ConvCase {
    fn run_host(&mut self, version: Version) -> Result<()> {
        let backend = match version {
            Version::Cpu => Backend::Cpu,
            Version::Reference => Backend::Reference,
            other => return Err(unsupported("conv2d", other)),
        };
        self.out = with_backend(backend, || conv2d(&self.x, &self.w, Some(&self.bias), 1, 0))?.to_vec::<f32>()?;
        Ok(())
    }

    /// The device conv2d the models run (`conv/cuda.rs`: im2col_f32, batched gemm_tiled_f32, the
    /// bias add), each launch allocating its output as the models' steps do.
    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        if version != Version::Cuda {
            return Err(unsupported("conv2d", version));
        }
        if self.dev.is_none() {
            let on = |t: &Tensor| tensor_on_device(t);
            self.dev = Some(([on(&self.x)?, on(&self.w)?, on(&self.bias)?], None));
        }
        let ([x, w, b], out) = self.dev.as_mut().expect("uploaded above");
        *out = Some(conv2d(x, w, Some(b), 1, 0)?);
        Ok(())
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        let out = self.dev.as_ref().and_then(|d| d.1.as_ref()).ok_or_else(|| unsupported("conv2d", Version::Cuda))?;
        self.out = out.to_vec::<f32>()?;
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }
}

struct PoolCase {
    x: Vec<f32>,
    xl: Layout,
    /// Pooled values, then the argmax indices (as f32, exact below 2^24).
    out: Vec<f32>,
    /// x uploaded (values written to its `out`) and the argmax buffer, at the first CUDA run.
    dev: Option<(OnDevice, Buf<i64>)>,
}

impl PoolCase {
    fn new(p: &Problem, rng: &mut Rng) -> Result<PoolCase> {
        if p.dims[2] < 2 || p.dims[3] < 2 {
            return Err(Error::invalid("kernel lab", format!("max_pool2d: a 2 x 2 window does not fit {:?}", p.dims)));
        }
        let x = uniform(rng, elements("max_pool2d", &p.dims)?, -1.0, 1.0);
        Ok(PoolCase { x, xl: Layout::contiguous(p.dims.as_slice()), out: Vec::new(), dev: None })
    }
}

impl PoolCase {
    fn pooled(&self) -> usize {
        let d = self.xl.dims();
        d[0] * d[1] * (d[2] / 2) * (d[3] / 2)
    }

    fn keep(&mut self, values: Vec<f32>, indices: Vec<i64>) {
        self.out = values.into_iter().chain(indices.into_iter().map(|i| i as f32)).collect();
    }
}

impl Case for PoolCase {
    fn run_host(&mut self, version: Version) -> Result<()> {
        let d = self.xl.dims();
        let (oh, ow) = (d[2] / 2, d[3] / 2);
        let (values, indices) = match version {
            Version::Cpu => pool_cpu::max_pool2d(&self.x, &self.xl, 2, 2, oh, ow),
            Version::Reference => pool_reference::max_pool2d(&self.x, &self.xl, 2, 2, oh, ow),
            other => return Err(unsupported("max_pool2d", other)),
        };
        self.keep(values, indices);
        Ok(())
    }

    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        if version != Version::Cuda {
            return Err(unsupported("max_pool2d", version));
        }
        if self.dev.is_none() {
            let dev = OnDevice::upload(&[&self.x], self.pooled())?;
            let idx = dev.runner.zeros(self.pooled())?;
            self.dev = Some((dev, idx));
        }
        let (dev, idx) = self.dev.as_mut().expect("uploaded above");
        crate::cuda::pool::max_pool2d(&dev.runner, (&dev.inputs[0], &self.xl), 2, 2, &mut dev.out, idx)
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        let (dev, idx) = self.dev.as_ref().ok_or_else(|| unsupported("max_pool2d", Version::Cuda))?;
        let (values, indices) = (dev.runner.download(&dev.out)?, dev.runner.download(idx)?);
        self.keep(values, indices);
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }
}
