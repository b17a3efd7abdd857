//! CUDA versions in the kernel lab. A case uploads its host inputs once to `cuda:0` (a GPU, or the
//! host shim when emulation is on), launches the version's kernel, and downloads the output so the
//! lab's validation compares it with the CPU reference like any other version. Timing uses CUDA
//! events around the launches alone, and only on a GPU: the host shim validates, it is not timed
//! (its speed says nothing about a GPU). Must not: hold kernel code (the family's `cuda.rs` does).

use super::timing::{median, Plan, Timing};
use crate::cuda::storage::runner_for;
use crate::cuda::{Buf, Runner};
use cudarc::driver::sys::CUevent_flags;
use kiln_tensor::{Device, Error, Result};
use std::time::Duration;

/// A case's operands on the device: inputs in the order uploaded, and one output buffer.
pub struct OnDevice {
    pub runner: Runner,
    pub inputs: Vec<Buf<f32>>,
    pub out: Buf<f32>,
}

impl OnDevice {
    /// Uploads `inputs` to `cuda:0` and allocates an output of `out_len` elements.
    pub fn upload(inputs: &[&[f32]], out_len: usize) -> Result<OnDevice> {
        let runner = runner_for(Device::Cuda(0))?;
        let inputs = inputs.iter().map(|d| runner.upload(d)).collect::<Result<Vec<_>>>()?;
        let out = runner.zeros(out_len)?;
        Ok(OnDevice { runner, inputs, out })
    }

    /// The output of a case's operands, copied to the host (this waits for the launches before
    /// it); an error when nothing was launched yet.
    pub fn fetch(dev: &Option<OnDevice>) -> Result<Vec<f32>> {
        let dev = dev.as_ref().ok_or_else(|| Error::invalid("kernel lab", "no CUDA version was launched"))?;
        dev.runner.download(&dev.out)
    }
}

/// `t` on `cuda:0`, for cases whose CUDA version is the tensor-level device path the models run
/// (conv2d as im2col + GEMM + bias, the LSTM sequence) rather than one kernel.
pub fn tensor_on_device(t: &kiln_tensor::Tensor) -> Result<kiln_tensor::Tensor> {
    lab_runner()?;
    crate::cuda::storage::install();
    t.to_device(Device::Cuda(0))
}

/// The runner a case's CUDA versions use: `cuda:0`, a GPU or the host shim (an error without either).
pub fn lab_runner() -> Result<Runner> {
    runner_for(Device::Cuda(0))
}

/// Times `launch` as `plan` says, with CUDA events recorded on the device's stream around batches
/// of launches (no host synchronisation inside a batch). An error on the host shim.
pub fn time_with_events(runner: &Runner, plan: &Plan, mut launch: impl FnMut() -> Result<()>) -> Result<Timing> {
    let Runner::Gpu(dev) = runner else {
        return Err(Error::invalid("kernel lab", "the host shim validates CUDA versions but cannot time them"));
    };
    let stream = dev.stream();
    let event = |what: &str| stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(|e| dev.error(what, e));
    let elapsed = |start: &cudarc::driver::CudaEvent, end: &cudarc::driver::CudaEvent| -> Result<Duration> {
        let ms = start.elapsed_ms(end).map_err(|e| dev.error("event timing", e))?;
        Ok(Duration::from_secs_f64(f64::from(ms.max(0.0)) / 1e3))
    };
    // Warm-up (module load, clocks), which also gives the first estimate of one launch.
    launch()?;
    let start = event("event")?;
    launch()?;
    let end = event("event")?;
    let one = elapsed(&start, &end)?.max(Duration::from_nanos(500));
    let per_sample = (super::timing::MIN_SAMPLE.as_nanos() / one.as_nanos()).max(1) as usize;
    let samples = ((plan.budget.as_nanos() / (one * per_sample as u32).as_nanos()) as usize)
        .clamp(plan.min_samples, plan.max_samples);
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = event("event")?;
        for _ in 0..per_sample {
            launch()?;
        }
        let end = event("event")?;
        times.push(elapsed(&start, &end)? / per_sample as u32);
    }
    let min = times.iter().copied().min().unwrap_or_default();
    Ok(Timing { median: median(&mut times), min, samples, runs: samples * per_sample })
}
