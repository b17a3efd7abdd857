//! The one switch every device test binary reads: `KILN_TEST_GPU=1` makes `cuda:0` the real GPU
//! and turns "no usable GPU" (no driver, no device, no NVRTC) into an error the tests fail on;
//! without it `cuda:0` is the host shim (the same `.cu` kernels run on the CPU), as in plain
//! `cargo test`. Shared by kernels/tests/{cuda_shim,cuda_tensor,cuda_device}.rs,
//! autograd/tests/device.rs and models/tests/device.rs so they cannot drift apart.
//!
//! This file picks a runner for tests; it must not skip anything on its own: the only `None` is
//! "the host shim is not built on this platform" (non-Linux), and only without the switch.

use super::{compile, cuda_available, Runner};

/// The environment variable that sends the device tests to the real GPU.
pub const SWITCH: &str = "KILN_TEST_GPU";

/// Whether `KILN_TEST_GPU=1` is set.
pub fn gpu_requested() -> bool {
    std::env::var(SWITCH).is_ok_and(|v| v == "1")
}

/// Why the GPU asked for cannot be used: the driver's or device's error, or NVRTC's (what was
/// tried and the fix), prefixed with the switch so a failing test says why it ran on a GPU at all.
fn gpu_unusable(reason: impl std::fmt::Display) -> String {
    format!("{SWITCH}=1 asks for the real cuda:0, but it is not usable: {reason}")
}

/// The real GPU 0 with NVRTC loaded, or why not.
fn real_gpu() -> Result<Runner, String> {
    cuda_available().map_err(gpu_unusable)?;
    let runner = Runner::gpu(0).map_err(gpu_unusable)?;
    if !compile::nvrtc_available() {
        return Err(gpu_unusable(compile::nvrtc_report()));
    }
    Ok(runner)
}

/// The runner kernel-level device tests launch on: the GPU with the switch (an error when it is
/// unusable), else the host shim; `Ok(None)` only where the shim is not built and no GPU was asked.
pub fn kernel_runner() -> Result<Option<Runner>, String> {
    if gpu_requested() {
        return real_gpu().map(Some);
    }
    match Runner::host() {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            eprintln!("NOTICE: CUDA host-shim test skipped: {e}");
            Ok(None)
        }
    }
}

/// Prepares `cuda:0` for tensor-level device tests (`Tensor::to_device(Device::Cuda(0))`): the
/// GPU with the switch (an error when it is unusable), else host-shim emulation. `Ok(false)` only
/// where the shim is not built and no GPU was asked.
pub fn tensor_device() -> Result<bool, String> {
    if gpu_requested() {
        real_gpu()?;
        super::storage::install();
        return Ok(true);
    }
    match super::storage::emulate_on_host_shim() {
        Ok(()) => Ok(true),
        Err(e) => {
            eprintln!("NOTICE: CUDA device test skipped: {e}");
            Ok(false)
        }
    }
}
