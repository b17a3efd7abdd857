//! `kiln bench step <gan|cnn|sentiment>`: times whole training steps of W1 / W2 / W3 on random data
//! (`kiln::models::zoo::bench`), optionally alternating with the PyTorch twin of each step
//! (`benches/pytorch/workloads.py`, embedded in the binary) and printing the ratio. Also home to the
//! `bench` subcommand list and the debug-build check every benchmark shares; `kiln bench kernel`
//! lives in `bench_kernel.rs`.

use clap::{Args, Subcommand};
use kiln::kernels::simd;
use kiln::models::zoo::bench::{time_steps, StepStats, Workload};
use serde_json::json;

use super::bench_pytorch::{run_pytorch, torch_version, TorchSetting};
use super::{bench_kernel, CliResult};

/// How long the FMA peak of the run's threads is measured before the timing (CPU runs).
const PEAK_SECONDS: f64 = 0.6;

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
    /// Time batch inference of an image classifier, f32 against int8 (`--int8`).
    Infer(super::bench_infer::InferArgs),
    /// Time one PGD step against one training step of an image classifier on the same batch.
    Attack(super::bench_attack::AttackBenchArgs),
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
    /// One JSON line: {"workload", "median_ms", "min_ms", "steps", "threads", "cpu", "isa",
    /// "gemm_gflop_per_step", "gflops", "peak_gflops", "peak_fraction", "floor_ms"; with
    /// --compare-pytorch "pytorch" (the faster setting), "pytorch_settings", "ratio", "ratio_min"}.
    #[arg(long)]
    json: bool,
    /// Also run benches/pytorch/workloads.py with $KILN_PYTHON (else python3), alternating runs; on
    /// a CPU PyTorch runs both as installed and with torch.set_flush_denormal(True), and the ratio
    /// divides by the faster of the two.
    #[arg(long)]
    compare_pytorch: bool,
    /// Rounds of kiln then PyTorch with --compare-pytorch.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// cpu, cuda, cuda:N or auto: where kiln's (and with --compare-pytorch PyTorch's) step runs.
    #[arg(long, default_value = "cpu", value_parser = super::choices::parse_device)]
    device: String,
}

pub fn run(a: BenchArgs) -> CliResult<()> {
    match a.command {
        BenchCommand::Step(s) => step(s),
        BenchCommand::Kernel(k) => bench_kernel::run(k),
        BenchCommand::Infer(i) => super::bench_infer::run(i),
        BenchCommand::Attack(x) => super::bench_attack::run(x),
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
        Workload::Cnn | Workload::CnnBn => 10,
        Workload::Sentiment => 5,
    });
    if steps == 0 || a.rounds == 0 {
        return Err("--steps and --rounds must be at least 1".into());
    }
    let smoke = check_release("step", steps <= 2, "a smoke run of --steps 2")?;
    if let Some(n) = a.threads {
        let n = n.max(1);
        kiln::kernels::denormals::pool_builder(n).build_global()?;
        // The matrixmultiply GEMM keeps its own pool, sized once from this variable on first use.
        if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
            std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
        }
    }
    let threads = rayon::current_num_threads();
    let python = a.compare_pytorch.then(|| std::env::var("KILN_PYTHON").unwrap_or_else(|_| "python3".into()));
    let torch = python.as_deref().and_then(|py| match torch_version(py) {
        Ok(v) => Some((py.to_string(), v)),
        Err(why) => {
            eprintln!("--compare-pytorch: {why}; printing kiln's numbers only");
            None
        }
    });

    let device = super::device::resolve(&a.device, a.json)?;
    if !device.is_cpu() && kiln::kernels::cuda::storage::emulated() {
        return Err("bench step times a GPU; the host shim (KILN_CUDA_HOST_SHIM=1) emulates one for \
                    study and its times mean nothing (train with --device cuda to exercise it)"
            .into());
    }
    // The floor's denominator: measured here, now, on this run's threads (not for a smoke run, whose
    // times mean nothing, nor for a GPU).
    let peak = (device.is_cpu() && !smoke).then(|| simd::peak::peak_gflops_on(simd::isa(), PEAK_SECONDS, threads));
    let mut kiln_step = workload.step_fn(0, device)?;
    time_steps(&mut kiln_step, a.warmup, 0)?;
    let settings: &[TorchSetting] = if torch.is_some() { TorchSetting::for_device(device) } else { &[] };
    let rounds = if torch.is_some() { a.rounds } else { 1 };
    let mut kiln_ms = Vec::new();
    let mut torch_ms: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
    for round in 1..=rounds {
        let k = time_steps(&mut kiln_step, 0, steps)?;
        let mut said = vec![format!("kiln {:.2} ms", StepStats::of(&k).ok_or("no steps timed")?.median_ms)];
        kiln_ms.extend(k);
        if let Some((py, _)) = &torch {
            for (all, &setting) in torch_ms.iter_mut().zip(settings) {
                let t = run_pytorch(py, workload, (steps, a.warmup, threads), device, setting)?;
                let median = StepStats::of(&t).ok_or("PyTorch timed no steps")?.median_ms;
                said.push(format!("PyTorch {} {median:.2} ms", setting.name()));
                all.extend(t);
            }
            if !a.json {
                eprintln!("round {round}/{rounds}: {} (medians of {steps} steps)", said.join(", "));
            }
        }
    }
    let report = StepReport {
        workload,
        kiln: StepStats::of(&kiln_ms).ok_or("no steps timed")?,
        torch: settings.iter().zip(&torch_ms).filter_map(|(&s, ms)| Some((s, StepStats::of(ms)?))).collect(),
        torch_version: torch.map(|(_, v)| v),
        threads,
        warmup: a.warmup,
        peak_gflops: peak,
    };
    if a.json {
        println!("{}", report.json());
    } else {
        report.print();
    }
    Ok(())
}

/// What one `bench step` measured, and the machine facts it is read against.
struct StepReport {
    workload: Workload,
    kiln: StepStats,
    /// PyTorch's steps per setting it ran in (empty without --compare-pytorch).
    torch: Vec<(TorchSetting, StepStats)>,
    torch_version: Option<String>,
    threads: usize,
    warmup: usize,
    /// The FMA peak of the run's threads, all busy (CPU runs, not smoke runs).
    peak_gflops: Option<f64>,
}

impl StepReport {
    /// The faster PyTorch setting (by median): the ratio's denominator.
    fn yardstick(&self) -> Option<&(TorchSetting, StepStats)> {
        self.torch.iter().min_by(|a, b| a.1.median_ms.total_cmp(&b.1.median_ms))
    }

    fn gflops(&self, s: &StepStats) -> f64 {
        self.workload.gemm_flops_per_step() / (s.median_ms * 1e6)
    }

    /// The step's time at the FMA peak: its matrix-product FLOPs and nothing else.
    fn floor_ms(&self) -> Option<f64> {
        self.peak_gflops.map(|p| self.workload.gemm_flops_per_step() / (p * 1e6))
    }

    fn json(&self) -> serde_json::Value {
        let w = self.workload;
        let mut line = json!({
            "workload": w.name(), "median_ms": self.kiln.median_ms, "min_ms": self.kiln.min_ms,
            "steps": self.kiln.steps, "threads": self.threads,
            "cpu": simd::machine::cpu_model(), "isa": simd::isa().name(),
            "denormals": format!("{:?}", kiln::kernels::denormals::mode()).to_lowercase(),
            "gemm_gflop_per_step": w.gemm_flops_per_step() / 1e9, "gflops": self.gflops(&self.kiln),
        });
        if let (Some(p), Some(floor)) = (self.peak_gflops, self.floor_ms()) {
            line["peak_gflops"] = json!(p);
            line["peak_fraction"] = json!(self.gflops(&self.kiln) / p);
            line["floor_ms"] = json!(floor);
        }
        if let (Some((setting, t)), Some(version)) = (self.yardstick(), &self.torch_version) {
            let stats = |s: &StepStats| json!({ "median_ms": s.median_ms, "min_ms": s.min_ms, "steps": s.steps });
            let mut faster = stats(t);
            faster["torch"] = json!(version);
            faster["setting"] = json!(setting.name());
            line["pytorch"] = faster;
            line["pytorch_settings"] = self.torch.iter().map(|(s, st)| (s.name().to_string(), stats(st))).collect();
            line["ratio"] = json!(self.kiln.median_ms / t.median_ms);
            let fastest_min = self.torch.iter().map(|(_, s)| s.min_ms).fold(f64::INFINITY, f64::min);
            line["ratio_min"] = json!(self.kiln.min_ms / fastest_min);
        }
        line
    }

    fn print(&self) {
        let w = self.workload;
        println!("CPU: {}", simd::machine::describe());
        println!(
            "{} (batch {}), {} timed steps after {} warmup, {} threads; {:.3} GFLOP of matrix products a step",
            w.name(),
            w.batch(),
            self.kiln.steps,
            self.warmup,
            self.threads,
            w.gemm_flops_per_step() / 1e9
        );
        if let (Some(p), Some(floor)) = (self.peak_gflops, self.floor_ms()) {
            println!(
                "FMA peak of {} busy thread(s): {p:.1} GFLOP/s (simd::peak): the step's floor is {floor:.2} ms",
                self.threads
            );
        }
        let line = |who: &str, s: &StepStats| {
            let of_peak = self.peak_gflops.map(|p| format!("{:>4.0}% of peak", 100.0 * self.gflops(s) / p));
            format!(
                "{who:<36} median {:>9.2} ms/step   min {:>9.2} ms   {:>8.1} {}/s   {:>6.1} GFLOP/s {}",
                s.median_ms,
                s.min_ms,
                s.per_second(w.batch()),
                w.unit(),
                self.gflops(s),
                of_peak.unwrap_or_default()
            )
        };
        println!("{}", line("kiln", &self.kiln));
        let version = self.torch_version.as_deref().unwrap_or("?");
        for (setting, t) in &self.torch {
            println!("{}", line(&format!("PyTorch {version} {}", setting.name()), t));
        }
        if let Some((setting, t)) = self.yardstick() {
            let fastest_min = self.torch.iter().map(|(_, s)| s.min_ms).fold(f64::INFINITY, f64::min);
            // On a loaded machine the minimum is the steadier of the two (PyTorch's OpenMP threads
            // spin at barriers and suffer most from sharing cores).
            println!(
                "kiln / PyTorch ({}, the faster)   {:.2}x median, {:.2}x min (below 1: kiln is faster)",
                setting.name(),
                self.kiln.median_ms / t.median_ms,
                self.kiln.min_ms / fastest_min
            );
        }
        if let Some(floor) = self.floor_ms() {
            println!("kiln's median step is {:.2}x its floor", self.kiln.median_ms / floor);
        }
    }
}
