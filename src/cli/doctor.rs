//! `kiln doctor [--gpu]`: what this machine offers kiln, in a few lines: CPU threads and SIMD, the
//! CUDA driver and its devices, and which NVRTC kiln found (or everything it tried and the fix).
//! With `--gpu` it also proves the GPU path end to end on `cuda:0`: every kernel module compiled
//! for the device and loaded by the driver, then a small computation checked against the CPU;
//! any failure is a non-zero exit. `scripts/gpu-check` runs it first on a GPU machine.
//! This file reports; it must not change settings or fall back to the CPU.

use super::CliResult;
use kiln::kernels::cuda::{self, compile, diagnose, source, CudaDevice};
use kiln::kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln::tensor::{DType, Device, Rng, Tensor};
use std::time::Instant;

#[derive(clap::Args)]
pub struct DoctorArgs {
    /// Also compile and load every kernel module on cuda:0 and check a computation there;
    /// exits non-zero when anything fails (no usable GPU included).
    #[arg(long)]
    gpu: bool,
}

pub fn run(a: DoctorArgs) -> CliResult<()> {
    println!("kiln {}", env!("CARGO_PKG_VERSION"));
    println!("cpu: {} threads, SIMD {}", rayon::current_num_threads(), kiln::kernels::simd::isa().name());
    let devices = cuda::cuda_available();
    match &devices {
        Ok(n) => {
            println!("CUDA driver: supports CUDA {}", diagnose::driver_version().unwrap_or_else(|| "?".into()));
            for i in 0..*n {
                match CudaDevice::get(i) {
                    Ok(d) => {
                        let (major, minor) = d.compute_capability();
                        println!("cuda:{i}: {} (sm_{major}{minor}, kernels compiled for {})", d.name(), d.arch());
                    }
                    Err(e) => println!("cuda:{i}: {e}"),
                }
            }
        }
        Err(e) => println!("CUDA: {e}"),
    }
    println!("{}", compile::nvrtc_report());
    if !a.gpu {
        return Ok(());
    }
    devices.map_err(|e| format!("--gpu: no usable GPU: {e}"))?;
    let dev = CudaDevice::get(0)?;
    let mut failed = Vec::new();
    for src in source::ALL {
        let t = Instant::now();
        match dev.module(src) {
            Ok(_) => println!("module {:<12} loaded on cuda:0 ({:.0} ms)", src.name, t.elapsed().as_secs_f64() * 1e3),
            Err(e) => {
                println!("module {:<12} FAILED: {e}", src.name);
                failed.push(src.name);
            }
        }
    }
    if !failed.is_empty() {
        return Err(format!("--gpu: {} module(s) failed to load: {}", failed.len(), failed.join(", ")).into());
    }
    check_computation()?;
    println!("GPU path: OK");
    Ok(())
}

/// `tanh(x) * y + x` on 1000 random values, on cuda:0 and on the CPU: a launch, copies both ways
/// and the strided elementwise kernels, compared to 1e-5.
fn check_computation() -> CliResult<()> {
    cuda::resolve_device("cuda:0")?;
    let mut rng = Rng::new(5);
    let x = Tensor::randn([10, 100], 0.0, 1.0, DType::F32, &mut rng);
    let y = Tensor::randn([100], 0.0, 1.0, DType::F32, &mut rng);
    let f = |x: &Tensor, y: &Tensor| -> kiln::tensor::Result<Vec<f32>> {
        let t = binary(BinaryOp::Mul, &unary(UnaryOp::Tanh, x)?, y)?;
        binary(BinaryOp::Add, &t, x)?.to_vec::<f32>()
    };
    let want = f(&x, &y)?;
    let got = f(&x.to_device(Device::Cuda(0))?, &y.to_device(Device::Cuda(0))?)?;
    let worst = got.iter().zip(&want).map(|(g, w)| (g - w).abs() / w.abs().max(1.0)).fold(0.0f32, f32::max);
    if worst.is_nan() || worst > 1e-5 {
        return Err(format!("--gpu: tanh(x) * y + x on cuda:0 differs from the cpu by {worst:e} (relative)").into());
    }
    println!("computation on cuda:0 matches the cpu (worst relative difference {worst:.1e})");
    Ok(())
}
