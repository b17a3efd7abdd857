//! `--device`: which device a command runs on, through the CUDA backend's discovery
//! (`kiln_kernels::cuda::resolve_device`): `cuda` without a GPU is a clean error naming the
//! reason, `auto` picks CUDA when a GPU is there and says which it took. With
//! `KILN_CUDA_HOST_SHIM=1`, `cuda:0` is the host shim (the CUDA kernels run on the CPU, slowly).

use super::CliResult;
use kiln::kernels::cuda::resolve_device;
use kiln::tensor::Device;

pub fn resolve(spec: &str, quiet: bool) -> CliResult<Device> {
    let resolved = resolve_device(spec)?;
    // On stderr, so it never mixes with --json lines; always said when the answer is not the cpu
    // or was chosen by `auto`.
    if !resolved.device.is_cpu() || spec == "auto" || (!quiet && spec != "cpu") {
        eprintln!("device: {} ({})", resolved.device, resolved.note);
    }
    Ok(resolved.device)
}
