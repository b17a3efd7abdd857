//! The emulated CUDA device of the tensor-level device tests: `cuda:0` backed by the host shim
//! (the same `.cu` kernels, run on the CPU), switched on for the test binary's process.

use kiln_kernels::cuda::storage::emulate_on_host_shim;
use kiln_tensor::Device;

pub const GPU: Device = Device::Cuda(0);

/// Switches emulation on; false (with a notice) where the host shim is not built.
pub fn device() -> bool {
    match emulate_on_host_shim() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("NOTICE: skipped, {e}");
            false
        }
    }
}
