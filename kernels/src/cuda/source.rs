//! Every CUDA source kiln ships, embedded in the binary: one `.cu` file per op family (compiled at
//! first use by NVRTC, with `kernels/cuda/kiln_cuda.h` in front) and the hand-written `.ptx` files
//! (loaded as they are). The list is the single registry the module cache, the NVRTC/ptxas check
//! and docs/CUDA.md work from.

/// How a source becomes a loadable module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// CUDA C++, compiled by NVRTC for the device's compute capability.
    CudaC,
    /// Hand-written PTX, loaded by the driver as is (it JIT-compiles it for the device).
    Ptx,
}

/// One module: a family's kernels, forward and backward together.
#[derive(Debug)]
pub struct KernelSource {
    /// Module name, also the cache key (`elementwise`, `matmul`, ...).
    pub name: &'static str,
    /// Path inside the kiln-kernels crate, for messages and docs.
    pub path: &'static str,
    pub kind: SourceKind,
    pub code: &'static str,
}

/// The prelude every `.cu` file is compiled with (also force-included by the host shim build).
pub const PRELUDE: &str = include_str!("../../cuda/kiln_cuda.h");

macro_rules! cu {
    ($name:ident) => {
        KernelSource {
            name: stringify!($name),
            path: concat!("src/", stringify!($name), "/", stringify!($name), ".cu"),
            kind: SourceKind::CudaC,
            code: include_str!(concat!("../", stringify!($name), "/", stringify!($name), ".cu")),
        }
    };
}

pub static ELEMENTWISE: KernelSource = cu!(elementwise);
pub static REDUCE: KernelSource = cu!(reduce);
pub static SOFTMAX: KernelSource = cu!(softmax);
pub static LOSS: KernelSource = cu!(loss);
pub static MATMUL: KernelSource = cu!(matmul);
pub static CONV: KernelSource = cu!(conv);
pub static POOL: KernelSource = cu!(pool);
pub static EMBEDDING: KernelSource = cu!(embedding);
pub static LSTM: KernelSource = cu!(lstm);
pub static DROPOUT: KernelSource = cu!(dropout);
pub static OPTIM: KernelSource = cu!(optim);
pub static NORM: KernelSource = cu!(norm);
/// Hand-written PTX: `y = a * x + y` (f32), a reference point for what NVRTC emits.
pub static AXPY_PTX: KernelSource = KernelSource {
    name: "axpy_ptx",
    path: "src/elementwise/axpy.ptx",
    kind: SourceKind::Ptx,
    code: include_str!("../elementwise/axpy.ptx"),
};

/// Every module, in the order docs/CUDA.md lists them.
pub static ALL: &[&KernelSource] = &[
    &ELEMENTWISE,
    &REDUCE,
    &SOFTMAX,
    &LOSS,
    &MATMUL,
    &CONV,
    &POOL,
    &EMBEDDING,
    &LSTM,
    &DROPOUT,
    &OPTIM,
    &NORM,
    &AXPY_PTX,
];

impl KernelSource {
    /// The text handed to NVRTC: the prelude, then the file with its own line numbers.
    pub fn nvrtc_text(&self) -> String {
        format!("{PRELUDE}\n#line 1 \"{}\"\n{}", self.path, self.code)
    }

    /// Names of the kernels this source defines (`extern "C" __global__` functions, or `.entry`
    /// directives of a PTX file), in source order.
    pub fn kernel_names(&self) -> Vec<&'static str> {
        let code: &'static str = self.code;
        match self.kind {
            SourceKind::CudaC => code
                .lines()
                .filter_map(|l| l.trim_start().strip_prefix("extern \"C\" __global__ void "))
                .filter_map(|rest| rest.split('(').next())
                .map(str::trim)
                .collect(),
            SourceKind::Ptx => code
                .lines()
                .filter_map(|l| l.split_once(".entry "))
                .filter_map(|(_, rest)| rest.split(|c: char| c == '(' || c.is_whitespace()).next())
                .collect(),
        }
    }
}
