//! Every CUDA source kiln ships, embedded in the binary: one `.cu` file per op family, compiled at
//! first use by NVRTC with the definitions generated from `shared_defs.rs` and
//! `kernels/cuda/kiln_cuda.h` in front. The list is the single registry the module cache, the
//! NVRTC/ptxas check and docs/CUDA.md work from. (A hand-written `.ptx` kernel was here once; it
//! never ran anywhere, so it went: see docs/CUDA.md.)

/// One module: a family's kernels, forward and backward together.
#[derive(Debug)]
pub struct KernelSource {
    /// Module name, also the cache key (`elementwise`, `matmul`, ...).
    pub name: &'static str,
    /// Path inside the kiln-kernels crate, for messages and docs.
    pub path: &'static str,
    pub code: &'static str,
}

/// The prelude every `.cu` file is compiled with (also force-included by the host shim build).
pub const PRELUDE: &str = include_str!("../../cuda/kiln_cuda.h");

macro_rules! cu {
    ($name:ident) => {
        KernelSource {
            name: stringify!($name),
            path: concat!("src/", stringify!($name), "/", stringify!($name), ".cu"),
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

/// Every module, in the order docs/CUDA.md lists them.
pub static ALL: &[&KernelSource] =
    &[&ELEMENTWISE, &REDUCE, &SOFTMAX, &LOSS, &MATMUL, &CONV, &POOL, &EMBEDDING, &LSTM, &DROPOUT, &OPTIM, &NORM];

impl KernelSource {
    /// The text handed to NVRTC: the definitions generated from Rust, the prelude, then the file
    /// with its own line numbers.
    pub fn nvrtc_text(&self) -> String {
        format!("{}{PRELUDE}\n#line 1 \"{}\"\n{}", super::shared_defs::header(), self.path, self.code)
    }

    /// Names of the kernels this source defines (its `extern "C" __global__` functions), in
    /// source order.
    pub fn kernel_names(&self) -> Vec<&'static str> {
        let code: &'static str = self.code;
        code.lines()
            .filter_map(|l| l.trim_start().strip_prefix("extern \"C\" __global__ void "))
            .filter_map(|rest| rest.split('(').next())
            .map(str::trim)
            .collect()
    }
}
