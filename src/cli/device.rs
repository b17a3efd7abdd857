//! `--device`: which device a command runs on. kiln's tensors hold CPU storage only until the
//! CUDA backend's device storage lands, so `cuda` is a clean error naming the reason and `auto`
//! picks the CPU and says so.

use super::CliResult;
use kiln::tensor::{Device, Error};

pub fn resolve(spec: &str, quiet: bool) -> CliResult<Device> {
    let cuda = |n: usize| -> CliResult<Device> {
        Err(Box::new(Error::DeviceUnavailable {
            device: Device::Cuda(n),
            reason: "this build of kiln runs models on the CPU only (the CUDA kernels are built and checked, \
                     but device storage is not wired into the tensor yet); use --device cpu"
                .into(),
        }))
    };
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => {
            if !quiet {
                eprintln!("device: cpu (auto)");
            }
            Ok(Device::Cpu)
        }
        "cuda" => cuda(0),
        s => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => cuda(n),
            None => Err(format!("unknown device `{s}` (expected cpu, cuda, cuda:N or auto)").into()),
        },
    }
}
