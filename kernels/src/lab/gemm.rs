//! GEMM in the kernel lab: `C = A B` in f32 through `gemm::gemm_with`, one version per
//! [`GemmImpl`] chosen per call (no process-wide switch). Dense cases are row-major (operands
//! marked transposed are stored transposed, as the W1 layers store their weights); strided cases pad
//! every leading dimension and write a column-major C. Must not: call `set_gemm_impl`.

use super::device::OnDevice;
use super::{elements, uniform, unsupported, Case, Expected, Kernel, Operands, Problem, Unit, Version};
use crate::gemm::{gemm_with, reference, GemmImpl, GemmOptions, MatMut, MatRef};
use kiln_tensor::{Error, Result, Rng};

/// Square sizes, then the 18 GEMMs of a W1 GAN step (batch 64; G 100-256-512-784, D 784-512-256-1)
/// laid out as the Linear layers run them, weight stored `[out, in]`: forward `X Wᵀ` (`:nt`),
/// input gradient `dY W`, weight gradient `dYᵀ X` (`:tn`).
const SHAPES: &[&str] = &[
    "128x128x128",
    "256x256x256",
    "512x512x512",
    "1024x1024x1024",
    "2048x2048x2048",
    "64x100x256:nt",
    "64x256x100",
    "256x64x100:tn",
    "64x256x512:nt",
    "64x512x256",
    "512x64x256:tn",
    "64x512x784:nt",
    "64x784x512",
    "784x64x512:tn",
    "64x784x512:nt",
    "64x512x784",
    "512x64x784:tn",
    "64x512x256:nt",
    "64x256x512",
    "256x64x512:tn",
    "64x256x1:nt",
    "64x1x256",
    "1x64x256:tn",
];

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "gemm",
        family: "gemm",
        about: "C = A B in f32 (m x k times k x n); FLOPs = 2 m k n",
        dims: &["m", "k", "n"],
        versions: &[Version::Kiln, Version::MatrixMultiply, Version::Reference, Version::CudaNaive, Version::CudaTiled],
        baseline: Version::MatrixMultiply,
        // The naive loop takes about a minute at 2048^3; it is timed only when asked for.
        default_versions: &[Version::Kiln, Version::MatrixMultiply],
        unit: Unit::Gflops,
        default_shapes: SHAPES,
        transposes: true,
        strided: true,
        work: |p| 2.0 * p.dims.iter().map(|&d| d as f64).product::<f64>(),
        // Both sides round k products into f32 sums in different orders (blocked, FMA vs not);
        // the difference grows like sqrt(k) times the partial sums, which the result may cancel.
        // 1e-5 sqrt(k) (4.5e-4 at k = 2048) is ~10x the typical difference there and still
        // refuses a single wrong term of the sum (|a b| ~ 0.25 on average).
        tolerance: |p| 1e-5 * (p.dims[1] as f32).sqrt().max(1.0),
        build: |p, operands, rng| Ok(Box::new(GemmCase::new(p, operands, rng)?)),
    }]
}

/// A strided matrix view over its own buffer.
struct Mat {
    data: Vec<f32>,
    rs: usize,
    cs: usize,
}

impl Mat {
    /// A random `rows x cols` operand, stored transposed (column-major) when `transposed`, each
    /// stored row padded by `pad` unused elements.
    fn random(rng: &mut Rng, rows: usize, cols: usize, transposed: bool, pad: usize) -> Result<Mat> {
        let (outer, inner) = if transposed { (cols, rows) } else { (rows, cols) };
        let ld = inner + pad;
        let data = uniform(rng, elements("gemm", &[outer, ld])?, -1.0, 1.0);
        Ok(if transposed { Mat { data, rs: 1, cs: ld } } else { Mat { data, rs: ld, cs: 1 } })
    }

    fn view(&self) -> MatRef<'_, f32> {
        MatRef::new(&self.data, self.rs, self.cs)
    }
}

struct GemmCase {
    m: usize,
    k: usize,
    n: usize,
    a: Mat,
    b: Mat,
    c: Mat,
    /// A and B uploaded (as stored, strides and padding included) at the first CUDA run.
    dev: Option<OnDevice>,
}

/// Above this many multiply-adds the reference checks a sample of C's rows, not all of them:
/// the naive loop runs at about 0.3 GFLOP/s at 2048^3 (a minute per check).
pub(super) const FULL_REFERENCE_MACS: usize = 1 << 28;
/// Rows of C the sampled check covers (evenly spaced, plus the last few, where edge tiles live).
const SAMPLED_ROWS: usize = 48;

impl GemmCase {
    fn new(p: &Problem, operands: Operands, rng: &mut Rng) -> Result<GemmCase> {
        let (m, k, n) = (p.dims[0], p.dims[1], p.dims[2]);
        let pad = if operands == Operands::Strided { 3 } else { 0 };
        let a = Mat::random(rng, m, k, p.transpose.0, pad)?;
        let b = Mat::random(rng, k, n, p.transpose.1, pad)?;
        // C starts as NaN: with beta = 0 no version may read it (BLAS semantics).
        let c = match operands {
            Operands::Dense => Mat { data: vec![f32::NAN; elements("gemm", &[m, n])?], rs: n, cs: 1 },
            Operands::Strided => Mat { data: vec![f32::NAN; elements("gemm", &[n, m + 2])?], rs: 1, cs: m + 2 },
        };
        Ok(GemmCase { m, k, n, a, b, c, dev: None })
    }
}

/// The rows of an `m`-row output a sampled check covers: evenly spaced, plus the last few (where
/// edge tiles live).
pub(super) fn sampled_rows(m: usize) -> Vec<usize> {
    let step = m.div_ceil(SAMPLED_ROWS - 8).max(1);
    let mut rows: Vec<usize> = (0..m).step_by(step).chain(m.saturating_sub(8)..m).collect();
    rows.sort_unstable();
    rows.dedup();
    rows
}

impl Case for GemmCase {
    /// C is written row-major on the device.
    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        use crate::cuda::matmul::{gemm, GemmDims, Mat as DevMat, Version as V};
        if self.dev.is_none() {
            self.dev = Some(OnDevice::upload(&[&self.a.data, &self.b.data], self.m * self.n)?);
        }
        let dev = self.dev.as_mut().expect("uploaded above");
        let v = if version == Version::CudaNaive { V::Naive } else { V::Tiled };
        let d = GemmDims { batch: 1, m: self.m, n: self.n, k: self.k };
        let mat = |m: &Mat| DevMat { offset: 0, rs: m.rs, cs: m.cs, bs: 0 };
        let (a, b) = ((&dev.inputs[0], mat(&self.a)), (&dev.inputs[1], mat(&self.b)));
        gemm(&dev.runner, v, d, a, b, (&mut dev.out, DevMat::row_major(self.m, self.n)), 1.0, 0.0)
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        let row_major = OnDevice::fetch(&self.dev)?;
        let (c, n) = (&mut self.c, self.n);
        for (e, v) in row_major.into_iter().enumerate() {
            c.data[(e / n) * c.rs + (e % n) * c.cs] = v;
        }
        Ok(())
    }

    fn run_host(&mut self, version: Version) -> Result<()> {
        let imp = match version {
            Version::Kiln => GemmImpl::Kiln,
            Version::MatrixMultiply => GemmImpl::MatrixMultiply,
            Version::Reference => GemmImpl::Reference,
            other => return Err(unsupported("gemm", other)),
        };
        let opts = GemmOptions { imp, ..GemmOptions::default() };
        let c = MatMut::new(&mut self.c.data, self.c.rs, self.c.cs);
        gemm_with(opts, self.m, self.k, self.n, 1.0, self.a.view(), self.b.view(), 0.0, c)
            .map_err(|e| Error::invalid("kernel lab", e.to_string()))
    }

    fn output(&self) -> Vec<f32> {
        let (c, n) = (&self.c, self.n);
        (0..self.m * n).map(|e| c.data[(e / n) * c.rs + (e % n) * c.cs]).collect()
    }

    fn expected(&mut self) -> Result<Expected> {
        if self.m * self.k * self.n <= FULL_REFERENCE_MACS {
            self.run(Version::Reference)?;
            return Ok(Expected::all(self.output()));
        }
        let (a, b, n) = (&self.a, &self.b, self.n);
        let rows = sampled_rows(self.m);
        let mut values = vec![0.0f32; rows.len() * n];
        for (&i, out) in rows.iter().zip(values.chunks_mut(n)) {
            // Row i of C is row i of A (A's view shifted by i rows) times B.
            reference::gemm(
                1,
                self.k,
                n,
                1.0,
                (&a.data[i * a.rs..], a.rs, a.cs),
                (&b.data, b.rs, b.cs),
                0.0,
                (out, n, 1),
            );
        }
        let positions = rows.iter().flat_map(|&i| i * n..(i + 1) * n).collect();
        Ok(Expected { values, positions: Some(positions), len: self.m * n })
    }
}
