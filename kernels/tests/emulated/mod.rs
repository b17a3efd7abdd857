//! The CUDA device of the tensor-level device tests: `cuda:0` backed by the host shim (the same
//! `.cu` kernels, run on the CPU), or with `KILN_TEST_GPU=1` the real GPU, where a GPU that is not
//! usable fails the test instead of skipping it.

use kiln_tensor::Device;

pub const GPU: Device = Device::Cuda(0);

/// `cuda:0` for this binary; false (with a notice) only where the shim is not built.
pub fn device() -> bool {
    kiln_kernels::cuda::testing::tensor_device().unwrap_or_else(|e| panic!("{e}"))
}
