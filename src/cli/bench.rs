//! `kiln bench step <gan|cnn|sentiment>`: times whole training steps of W1 / W2 / W3 on random data
//! (`kiln::models::zoo::bench`), optionally alternating with the PyTorch twin of each step
//! (`benches/pytorch/workloads.py`, embedded in the binary) and printing the ratio. Also home to the
//! `bench` subcommand list and the debug-build check every benchmark shares; `kiln bench kernel`
//! lives in `bench_kernel.rs`.

use clap::{Args, Subcommand};
use kiln::models::zoo::bench::{time_steps, StepStats, Workload};
use kiln::tensor::Device;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

use super::{bench_kernel, CliResult};

/// The PyTorch reference, piped to the interpreter so the binary needs no source tree.
const PYTORCH_SCRIPT: &str = include_str!("../../benches/pytorch/workloads.py");

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time whole training steps of a workload (W1 gan, W2 cnn, W3 sentiment) on random data.
    Step(StepArgs),
    /// Validate and time the versions of one kernel (`kiln bench kernel list` lists them).
    Kernel(bench_kernel::KernelArgs),
}

#[derive(Args)]
pub struct StepArgs {
    /// gan, cnn or sentiment.
    workload: String,
    /// Timed steps, per round with --compare-pytorch (default: 20 gan, 10 cnn, 5 sentiment).
    #[arg(long)]
    steps: Option<usize>,
    /// Untimed steps first (per PyTorch run; once for kiln, whose model persists across rounds).
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Worker threads for kiln's kernels and for PyTorch (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// One JSON line: {"workload", "median_ms", "min_ms", "steps", "threads"}.
    #[arg(long)]
    json: bool,
    /// Also run benches/pytorch/workloads.py with $KILN_PYTHON (else python3), alternating runs.
    #[arg(long)]
    compare_pytorch: bool,
    /// Rounds of kiln then PyTorch with --compare-pytorch.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// cpu, cuda, cuda:N or auto: where kiln's (and with --compare-pytorch PyTorch's) step runs.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(a: BenchArgs) -> CliResult<()> {
    match a.command {
        BenchCommand::Step(s) => step(s),
        BenchCommand::Kernel(k) => bench_kernel::run(k),
    }
}

/// A timing of a debug build would be 10-50x off (candle #1383); only CI's smoke runs may use one.
/// `Ok(true)` for a debug build let through by KILN_BENCH_ALLOW_DEBUG=1 (the caller keeps the run
/// small), `Ok(false)` for a release build. `smoke_fits`: the run is small enough to be a smoke run,
/// described by `smoke_rule`; `command` is the subcommand, for the hint.
pub(super) fn check_release(command: &str, smoke_fits: bool, smoke_rule: &str) -> CliResult<bool> {
    if !cfg!(debug_assertions) {
        return Ok(false);
    }
    if std::env::var("KILN_BENCH_ALLOW_DEBUG").as_deref() == Ok("1") && smoke_fits {
        eprintln!("warning: debug build; times are meaningless (KILN_BENCH_ALLOW_DEBUG=1 smoke run)");
        return Ok(true);
    }
    Err(format!(
        "kiln bench refuses to time a debug build; use `cargo run --release -- bench {command} ...` \
         ({smoke_rule} is allowed with KILN_BENCH_ALLOW_DEBUG=1)"
    )
    .into())
}

fn step(a: StepArgs) -> CliResult<()> {
    let workload: Workload = a.workload.parse()?;
    // Enough steps for a steady median without making the slow workload (W3) take minutes a round.
    let steps = a.steps.unwrap_or(match workload {
        Workload::Gan => 20,
        Workload::Cnn => 10,
        Workload::Sentiment => 5,
    });
    if steps == 0 || a.rounds == 0 {
        return Err("--steps and --rounds must be at least 1".into());
    }
    check_release("step", steps <= 2, "a smoke run of --steps 2")?;
    if let Some(n) = a.threads {
        let n = n.max(1);
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global()?;
        // The matrixmultiply GEMM keeps its own pool, sized once from this variable on first use.
        if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
            std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
        }
    }
    let threads = rayon::current_num_threads();
    let python = a.compare_pytorch.then(|| std::env::var("KILN_PYTHON").unwrap_or_else(|_| "python3".into()));
    let torch = match &python {
        Some(py) => match torch_version(py) {
            Ok(v) => Some(v),
            Err(why) => {
                eprintln!("--compare-pytorch: {why}; printing kiln's numbers only");
                None
            }
        },
        None => None,
    };

    let device = super::device::resolve(&a.device, a.json)?;
    if !device.is_cpu() && kiln::kernels::cuda::storage::emulated() {
        return Err("bench step times a GPU; the host shim (KILN_CUDA_HOST_SHIM=1) emulates one for \
                    study and its times mean nothing (train with --device cuda to exercise it)"
            .into());
    }
    let mut kiln_step = workload.step_fn(0, device)?;
    time_steps(&mut kiln_step, a.warmup, 0)?;
    let rounds = if torch.is_some() { a.rounds } else { 1 };
    let (mut kiln_ms, mut torch_ms) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let k = time_steps(&mut kiln_step, 0, steps)?;
        let kr = StepStats::of(&k).ok_or("no steps timed")?;
        kiln_ms.extend(k);
        if let (Some(py), Some(_)) = (&python, &torch) {
            let t = run_pytorch(py, workload, (steps, a.warmup, threads), device)?;
            let tr = StepStats::of(&t).ok_or("PyTorch timed no steps")?;
            torch_ms.extend(t);
            if !a.json {
                eprintln!(
                    "round {round}/{rounds}: kiln {:.2} ms, PyTorch {:.2} ms (median of {} steps)",
                    kr.median_ms, tr.median_ms, steps
                );
            }
        }
    }
    let kiln = StepStats::of(&kiln_ms).ok_or("no steps timed")?;
    let pytorch = StepStats::of(&torch_ms);
    report(workload, &kiln, pytorch.as_ref().zip(torch.as_deref()), threads, a.warmup, a.json);
    Ok(())
}

fn report(w: Workload, kiln: &StepStats, torch: Option<(&StepStats, &str)>, threads: usize, warmup: usize, js: bool) {
    let ratio = torch.map(|(t, _)| kiln.median_ms / t.median_ms);
    if js {
        let mut line = json!({
            "workload": w.name(), "median_ms": kiln.median_ms, "min_ms": kiln.min_ms,
            "steps": kiln.steps, "threads": threads,
        });
        if let Some((t, version)) = torch {
            line["pytorch"] =
                json!({ "median_ms": t.median_ms, "min_ms": t.min_ms, "steps": t.steps, "torch": version });
            line["ratio"] = json!(ratio);
            line["ratio_min"] = json!(kiln.min_ms / t.min_ms);
        }
        println!("{line}");
        return;
    }
    let line = |who: &str, s: &StepStats| {
        format!(
            "{who:<16} median {:>9.2} ms/step   min {:>9.2} ms   {:>8.1} {}/s",
            s.median_ms,
            s.min_ms,
            s.per_second(w.batch()),
            w.unit()
        )
    };
    println!(
        "{} (batch {}), {} timed steps after {} warmup, {} threads",
        w.name(),
        w.batch(),
        kiln.steps,
        warmup,
        threads
    );
    println!("{}", line("kiln", kiln));
    if let (Some((t, version)), Some(r)) = (torch, ratio) {
        println!("{}", line(&format!("PyTorch {version}"), t));
        // On a loaded machine the minimum is the steadier of the two (PyTorch's OpenMP threads
        // spin at barriers and suffer most from sharing cores).
        println!("kiln / PyTorch   {r:.2}x median, {:.2}x min (below 1: kiln is faster)", kiln.min_ms / t.min_ms);
    }
}

/// The torch version `python` imports, or why it cannot.
fn torch_version(python: &str) -> Result<String, String> {
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

/// One run of the PyTorch script (a fresh process, its own warmup); its per-step times in ms.
/// PyTorch's step times: `(steps, warmup, threads)` as for kiln, on the same device.
fn run_pytorch(
    python: &str,
    w: Workload,
    (steps, warmup, threads): (usize, usize, usize),
    device: Device,
) -> CliResult<Vec<f64>> {
    // PyTorch names GPUs as kiln does (`cuda:N`).
    let device = device.to_string();
    let mut child = Command::new(python)
        .arg("-")
        .arg(w.name())
        .args(["--steps", &steps.to_string(), "--warmup", &warmup.to_string(), "--threads", &threads.to_string()])
        .args(["--device", &device])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    child.stdin.take().ok_or("no stdin for python")?.write_all(PYTORCH_SCRIPT.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("the PyTorch benchmark failed ({})", out.status).into());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().ok_or("the PyTorch benchmark printed nothing")?;
    let v: Value = serde_json::from_str(last).map_err(|e| format!("PyTorch benchmark output `{last}`: {e}"))?;
    let times = v["times_ms"].as_array().ok_or_else(|| format!("no times_ms in `{last}`"))?;
    Ok(times.iter().filter_map(Value::as_f64).collect())
}
