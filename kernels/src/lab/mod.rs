//! The kernel lab's registry: every timed kernel with its versions, default shapes, unit, and the
//! means to build random inputs for a shape and run any version on them. `kiln bench kernel` and
//! the criterion bench (`benches/kernels.rs`) drive it; `validate.rs` checks a version against the
//! reference, `timing.rs` times it.
//!
//! Versions are called directly: the `cpu.rs` / `reference.rs` functions of each family, or the
//! GEMM's per-call [`crate::gemm::GemmOptions`]. Must not: change a process-wide setting
//! (`set_backend`, `set_gemm_impl`), print, or hold a second copy of a kernel (the lab calls the
//! engine's code, so the two cannot drift apart).

/// A memory-bound `[rows, cols]` kernel with `cpu` and `reference` versions (timed by default) and
/// `$versions` in all (the CUDA ones added), reported in GB/s. The invoking module supplies
/// `VERSIONS` (the default set), `bytes(op, problem)` and the case type `$case` (with
/// `$case::new(name, op, problem, rng)`); `build` and `work` are written out per kernel because they
/// must be plain function pointers (no captured op).
macro_rules! rows_cols_kernel {
    ($name:literal, $family:literal, $about:literal, $case:ident, $op:expr, $shapes:expr, $tolerance:expr, $versions:expr) => {
        Kernel {
            name: $name,
            family: $family,
            about: $about,
            dims: &["rows", "cols"],
            versions: $versions,
            baseline: Version::Reference,
            default_versions: VERSIONS,
            unit: Unit::Gbps,
            default_shapes: $shapes,
            transposes: false,
            strided: false,
            work: |p| bytes($op, p),
            tolerance: $tolerance,
            build: |p, _, rng| Ok(Box::new($case::new($name, $op, p, rng)?)),
        }
    };
}

mod conv;
pub mod device;
mod embedding;
mod gemm;
pub mod layouts;
mod norm;
mod optim;
mod pointwise;
mod qgemm;
mod recurrent;
mod rows;
mod shape;
pub mod timing;
mod validate;

#[cfg(test)]
mod tests;

pub use shape::{parse_shapes, Problem};
pub use validate::{validate, Expected, Failure, Operands, Verdict};

use kiln_tensor::{Error, Result, Rng};
use std::fmt;
use std::sync::OnceLock;

/// The `op` named in the lab's errors.
const OP: &str = "kernel lab";

/// One implementation of a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// The scalar oracle in the family's `reference.rs`.
    Reference,
    /// The family's fast CPU kernel (`cpu.rs`; for conv2d whatever `Backend::Cpu` runs).
    Cpu,
    /// kiln's packed GEMM.
    Kiln,
    /// The `matrixmultiply` crate.
    MatrixMultiply,
    /// CUDA v1: gemm_naive_f32, one thread per output element (see `device.rs`).
    CudaNaive,
    /// CUDA v2: gemm_tiled_f32, shared-memory tiles with register blocking.
    CudaTiled,
    /// CUDA v1 of an elementwise kernel: indexing through strides.
    CudaStrided,
    /// CUDA v2 of an elementwise kernel: float4 loads and stores.
    CudaVec4,
    /// CUDA v1 of a row reduction: a shared-memory tree.
    CudaSmem,
    /// CUDA v2 of a row reduction: warp shuffles.
    CudaWarp,
    /// The column reduction: one thread per output.
    CudaCols,
    /// A kernel's only CUDA version.
    Cuda,
    /// The integer GEMM's packed loop in plain Rust (`qgemm::QIsa::Scalar`).
    QScalar,
    /// The integer GEMM on AVX2, operands widened to i16 (`qgemm::QIsa::Avx2`).
    QAvx2,
    /// The integer GEMM on AVX2 bytes for 7-bit activations, `vpmaddubsw` (`qgemm::QIsa::Avx2U7`).
    QAvx2U7,
    /// The integer GEMM on AVX-VNNI, 256-bit `vpdpbusd`.
    QAvxVnni,
    /// The integer GEMM on AVX-512 VNNI, 512-bit `vpdpbusd`.
    QAvx512Vnni,
}

impl Version {
    pub const ALL: [Version; 17] = [
        Version::Reference,
        Version::Cpu,
        Version::Kiln,
        Version::MatrixMultiply,
        Version::CudaNaive,
        Version::CudaTiled,
        Version::CudaStrided,
        Version::CudaVec4,
        Version::CudaSmem,
        Version::CudaWarp,
        Version::CudaCols,
        Version::Cuda,
        Version::QScalar,
        Version::QAvx2,
        Version::QAvx2U7,
        Version::QAvxVnni,
        Version::QAvx512Vnni,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Version::Reference => "reference",
            Version::Cpu => "cpu",
            Version::Kiln => "kiln",
            Version::MatrixMultiply => "matrixmultiply",
            Version::CudaNaive => "cuda-naive",
            Version::CudaTiled => "cuda-tiled",
            Version::CudaStrided => "cuda-strided",
            Version::CudaVec4 => "cuda-vec4",
            Version::CudaSmem => "cuda-smem",
            Version::CudaWarp => "cuda-warp",
            Version::CudaCols => "cuda-cols",
            Version::Cuda => "cuda",
            Version::QScalar => "scalar",
            Version::QAvx2 => "avx2",
            Version::QAvx2U7 => "avx2-u7",
            Version::QAvxVnni => "avx-vnni",
            Version::QAvx512Vnni => "avx512-vnni",
        }
    }

    /// Whether this version runs on a CUDA device (validated there, timed with CUDA events).
    pub fn is_cuda(self) -> bool {
        self.name().starts_with("cuda")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a kernel's speed is reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Floating-point operations per second (compute-bound kernels).
    Gflops,
    /// Bytes read + written per second (memory-bound kernels).
    Gbps,
    /// Integer operations per second (a multiply-add is 2), for the int8 GEMM.
    Gops,
}

impl Unit {
    /// As printed in tables (`GFLOP/s`, `GB/s`).
    pub fn label(self) -> &'static str {
        match self {
            Unit::Gflops => "GFLOP/s",
            Unit::Gbps => "GB/s",
            Unit::Gops => "GOP/s",
        }
    }

    /// As used for JSON keys (`gflops`, `gbps`).
    pub fn key(self) -> &'static str {
        match self {
            Unit::Gflops => "gflops",
            Unit::Gbps => "gbps",
            Unit::Gops => "gops",
        }
    }
}

/// One kernel's inputs at one shape, built once; any of the kernel's versions can then be run on
/// them as often as timing wants.
pub trait Case {
    /// Runs a host (CPU or reference) version once, keeping its output for [`Case::output`].
    fn run_host(&mut self, version: Version) -> Result<()>;

    /// Launches a CUDA version on the case's device operands (`device::OnDevice`), no download.
    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        Err(unsupported("this kernel", version))
    }

    /// Copies the last CUDA launch's result to where [`Case::output`] reads it.
    fn fetch_cuda(&mut self) -> Result<()> {
        Ok(())
    }

    /// Runs `version` once, keeping its output for [`Case::output`] (a CUDA version downloads it).
    fn run(&mut self, version: Version) -> Result<()> {
        if version.is_cuda() {
            self.launch_cuda(version)?;
            self.fetch_cuda()
        } else {
            self.run_host(version)
        }
    }

    /// Only the work that is timed: for a CUDA version the launch without the download (timed
    /// with events by `device::time_with_events`); for the others the same as [`Case::run`].
    fn launch(&mut self, version: Version) -> Result<()> {
        if version.is_cuda() {
            self.launch_cuda(version)
        } else {
            self.run_host(version)
        }
    }

    /// What the last [`Case::run`] produced, flattened (several outputs are concatenated).
    fn output(&self) -> Vec<f32>;

    /// The largest accepted error of `version` on this case, given the kernel's tolerance: the
    /// integer GEMM demands exact results from its integer versions and allows its f32 baseline
    /// the usual rounding.
    fn tolerance(&self, _version: Version, kernel_tolerance: f32) -> f32 {
        kernel_tolerance
    }

    /// The reference's answer on these inputs. The default runs the reference version in full; a
    /// kernel whose reference would take minutes at large shapes (GEMM) computes a sample instead.
    fn expected(&mut self) -> Result<Expected> {
        self.run(Version::Reference)?;
        Ok(Expected::all(self.output()))
    }
}

/// A registered kernel.
#[derive(Clone, Copy)]
pub struct Kernel {
    pub name: &'static str,
    /// Its folder under `kernels/src/`.
    pub family: &'static str,
    /// What one run computes and how its work is counted.
    pub about: &'static str,
    /// What the numbers of a shape are, e.g. `["m", "k", "n"]`.
    pub dims: &'static [&'static str],
    /// Every version, the reference included.
    pub versions: &'static [Version],
    /// What the other versions are compared with: the reference, or matrixmultiply for GEMM.
    pub baseline: Version,
    /// The versions timed when `--versions` is not given.
    pub default_versions: &'static [Version],
    pub unit: Unit,
    pub default_shapes: &'static [&'static str],
    /// Whether a shape may end in `:nt`, `:tn` or `:tt` (GEMM operands read transposed).
    pub transposes: bool,
    /// Whether every version reads strided operands, so validation also runs on non-contiguous ones.
    pub strided: bool,
    /// FLOPs (for GFLOP/s) or bytes read + written (for GB/s) of one run.
    pub work: fn(&Problem) -> f64,
    /// Largest accepted `|got - expected| / (1 + |expected|)`.
    pub tolerance: fn(&Problem) -> f32,
    /// Random inputs for a (checked) problem, laid out as asked.
    pub build: fn(&Problem, Operands, &mut Rng) -> Result<Box<dyn Case>>,
}

impl Kernel {
    /// The version called `name`, if this kernel has it.
    pub fn version(&self, name: &str) -> Result<Version> {
        let wanted = name.trim();
        self.versions.iter().copied().find(|v| v.name().eq_ignore_ascii_case(wanted)).ok_or_else(|| {
            let known: Vec<&str> = self.versions.iter().map(|v| v.name()).collect();
            Error::invalid(
                OP,
                format!("kernel `{}` has no version `{wanted}` (it has: {})", self.name, known.join(", ")),
            )
        })
    }

    /// Whether a faster version than the reference exists.
    pub fn has_fast_version(&self) -> bool {
        self.versions.iter().any(|&v| v != Version::Reference)
    }

    /// The default shapes, parsed.
    pub fn default_problems(&self) -> Result<Vec<Problem>> {
        self.default_shapes.iter().map(|s| Problem::parse(s, self)).collect()
    }

    /// Random inputs for `problem` (checked against this kernel first).
    pub fn case(&self, problem: &Problem, operands: Operands, rng: &mut Rng) -> Result<Box<dyn Case>> {
        problem.check(self)?;
        (self.build)(problem, operands, rng)
    }
}

/// Every registered kernel, in listing order.
pub fn kernels() -> &'static [Kernel] {
    static ALL: OnceLock<Vec<Kernel>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut v = gemm::kernels();
        v.extend(qgemm::kernels());
        v.extend(pointwise::kernels());
        v.extend(rows::kernels());
        v.extend(optim::kernels());
        v.extend(conv::kernels());
        v.extend(norm::kernels());
        v.extend(embedding::kernels());
        v.extend(recurrent::kernels());
        v
    })
}

/// The kernel called `name`.
pub fn find(name: &str) -> Result<&'static Kernel> {
    let wanted = name.trim();
    kernels().iter().find(|k| k.name.eq_ignore_ascii_case(wanted)).ok_or_else(|| {
        let known: Vec<&str> = kernels().iter().map(|k| k.name).collect();
        Error::invalid(
            OP,
            format!("unknown kernel `{wanted}` (known: {}; see `kiln bench kernel list`)", known.join(", ")),
        )
    })
}

/// The largest buffer a case may allocate, in f32 elements (4 GiB): a typo in `--shapes` becomes an
/// error instead of an allocation failure.
const MAX_ELEMENTS: usize = 1 << 30;

/// `dims` multiplied, or an error if the product overflows or exceeds [`MAX_ELEMENTS`].
pub(crate) fn elements(kernel: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| Error::invalid(OP, format!("{kernel}: a buffer of {dims:?} elements is too large for the lab")))
}

/// `n` values uniform in `[lo, hi)`.
pub(crate) fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| lo + (hi - lo) * rng.next_f32()).collect()
}

/// The error for a version a case does not implement (the registry and the case disagree).
pub(crate) fn unsupported(kernel: &str, version: Version) -> Error {
    Error::invalid(OP, format!("kernel `{kernel}` has no version `{version}`"))
}

/// A fast kernel's result, or the error saying it does not cover these operands (the engine would
/// fall back to the reference there, which the lab must not time under the fast version's name).
pub(crate) fn fast_path<T>(kernel: &str, result: Option<T>) -> Result<T> {
    result.ok_or_else(|| Error::invalid(OP, format!("{kernel}: the cpu version has no fast path for these operands")))
}
