//! The PyTorch yardstick of `kiln bench step --compare-pytorch`: runs `benches/pytorch/workloads.py`
//! (embedded in the binary) with `$KILN_PYTHON` in each of its settings and reads its step times.
//!
//! A fair yardstick is PyTorch configured well: on Intel CPUs its W3 step is ~7x slower with
//! subnormals kept (its default) than with `torch.set_flush_denormal(True)` (what kiln does by
//! default), while on AMD Zen 4 the two are alike. So it is timed both ways and the caller divides
//! by the faster. This file only runs PyTorch; it must not time kiln or print the report.

use kiln::models::zoo::bench::Workload;
use kiln::tensor::Device;
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

use super::CliResult;

/// The PyTorch reference, piped to the interpreter so the binary needs no source tree.
const PYTORCH_SCRIPT: &str = include_str!("../../benches/pytorch/workloads.py");

/// How PyTorch is configured for one of its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchSetting {
    /// As installed: subnormals kept.
    Default,
    /// `torch.set_flush_denormal(True)`.
    FlushDenormal,
}

impl TorchSetting {
    pub const ALL: [TorchSetting; 2] = [TorchSetting::Default, TorchSetting::FlushDenormal];

    /// The name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            TorchSetting::Default => "default",
            TorchSetting::FlushDenormal => "flush_denormal",
        }
    }

    /// Which settings a run times: both on a CPU, the default only on a GPU (flush-denormal is a
    /// CPU control-register setting).
    pub fn for_device(device: Device) -> &'static [TorchSetting] {
        if device.is_cpu() {
            &TorchSetting::ALL
        } else {
            &TorchSetting::ALL[..1]
        }
    }
}

/// The torch version `python` imports, or why it cannot.
pub fn torch_version(python: &str) -> Result<String, String> {
    let out = Command::new(python)
        .args(["-c", "import torch; print(torch.__version__)"])
        .output()
        .map_err(|e| format!("cannot run `{python}` ({e}); set KILN_PYTHON to a python with torch"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("torch is not importable by `{python}` ({last}); set KILN_PYTHON to a python with torch"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One run of the PyTorch script (a fresh process, its own warmup) in `setting`; its per-step
/// times in ms. `(steps, warmup, threads)` as for kiln, on the same device.
pub fn run_pytorch(
    python: &str,
    w: Workload,
    (steps, warmup, threads): (usize, usize, usize),
    device: Device,
    setting: TorchSetting,
) -> CliResult<Vec<f64>> {
    // PyTorch names GPUs as kiln does (`cuda:N`).
    let device = device.to_string();
    let mut cmd = Command::new(python);
    cmd.arg("-")
        .arg(w.name())
        .args(["--steps", &steps.to_string(), "--warmup", &warmup.to_string(), "--threads", &threads.to_string()])
        .args(["--device", &device]);
    if setting == TorchSetting::FlushDenormal {
        cmd.arg("--flush-denormal");
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()?;
    child.stdin.take().ok_or("no stdin for python")?.write_all(PYTORCH_SCRIPT.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("the PyTorch benchmark ({}) failed ({})", setting.name(), out.status).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().ok_or("the PyTorch benchmark printed nothing")?;
    let v: Value = serde_json::from_str(last).map_err(|e| format!("PyTorch benchmark output `{last}`: {e}"))?;
    if setting == TorchSetting::FlushDenormal && v["flush_denormal"] != Value::Bool(true) {
        // torch.set_flush_denormal returns False where the CPU cannot flush: say so, keep the run.
        eprintln!("note: torch.set_flush_denormal(True) was refused on this CPU; that run kept subnormals");
    }
    let times = v["times_ms"].as_array().ok_or_else(|| format!("no times_ms in `{last}`"))?;
    Ok(times.iter().filter_map(Value::as_f64).collect())
}
