//! `kiln bench kernel <name>` and `kiln bench kernel list`: validates each version of one kernel
//! against its reference on random inputs, times the versions that pass (the baseline always
//! among them) and prints a table or JSON lines: median time, GFLOP/s or GB/s, and the speed-up
//! over the baseline measured in the same run, and for compute-bound CPU versions the share of the
//! FMA peak of the run's threads (all busy at once), measured at the start of the run. The kernels, their inputs, validation and timing live
//! in `kiln_kernels::lab`; this file parses options and prints. Must not: time a version that
//! failed validation, time a debug build (`bench::check_release` decides), or exit 0 when any
//! version failed validation.

use clap::Args;
use kiln::kernels::lab::device as lab_device;
use kiln::kernels::lab::timing::{self, Plan, Timing};
use kiln::kernels::lab::{self, Kernel, Operands, Problem, Unit, Version};
use kiln::kernels::qgemm;
use kiln::kernels::simd::{self, Isa};
use kiln::tensor::Rng;
use serde_json::json;
use std::time::Duration;

use super::bench::check_release;
use super::bench_layouts::SweepArgs;
use super::{device, CliResult};

#[derive(Args)]
pub struct KernelArgs {
    /// A kernel (see `kiln bench kernel list`), or `list`.
    name: String,
    /// Versions to time, comma-separated (default: the kernel's default set). The baseline is
    /// always timed as well, for the speed-up column.
    #[arg(long, value_delimiter = ',')]
    versions: Option<Vec<String>>,
    /// Shapes, comma-separated, e.g. 64x100x256,512x512x512 (GEMM: m x k x n, optionally :nt, :tn
    /// or :tt to read B, A or both transposed). Default: the kernel's default shapes.
    #[arg(long)]
    shapes: Option<String>,
    /// Run everything inside a rayon pool of N threads (matrixmultiply gets N threads too).
    #[arg(long)]
    threads: Option<usize>,
    /// One JSON object per line: {"kernel", "version", "shape", "threads", "cpu", "median_us", "gflops",
    /// "gbps" or "gops", "validated"} (plus "transpose" for a transposed GEMM shape, and "peak_gflops"
    /// or "peak_gops" with "peak_fraction" for compute-bound kernels on the CPU).
    #[arg(long)]
    json: bool,
    /// cpu, or cuda / cuda:0 for the kernel's CUDA versions: validated against the CPU reference,
    /// timed with CUDA events on a GPU (with KILN_CUDA_HOST_SHIM=1: validated on the shim, untimed).
    #[arg(long, default_value = "cpu", value_parser = super::choices::parse_device)]
    device: String,
    /// SIMD back end: avx512, avx2 or scalar (default: the best this CPU has; as KILN_SIMD).
    #[arg(long)]
    isa: Option<String>,
    /// Timing budget per (shape, version) in milliseconds; repetitions adapt to it (at least 5).
    #[arg(long, default_value_t = 300)]
    budget_ms: u64,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The layout sweep instead: the kernel (or `all`) on one shape A x B x C (--shapes, default
    /// 64x32x900) with its operand contiguous, transposed, narrowed, broadcast over the middle axis
    /// and a broadcast scalar; GB/s per layout, flagged when > 2x slower per element than contiguous.
    #[arg(long)]
    layouts: bool,
}

pub fn run(a: KernelArgs) -> CliResult<()> {
    if a.layouts {
        let (name, shapes, threads) = (a.name.as_str(), a.shapes.as_deref(), a.threads);
        let sweep = SweepArgs { name, shapes, threads, budget_ms: a.budget_ms, seed: a.seed, json: a.json };
        return super::bench_layouts::run(sweep);
    }
    let on_cuda = !device::resolve(&a.device, true)?.is_cpu();
    if a.name == "list" {
        list();
        return Ok(());
    }
    let kernel = lab::find(&a.name)?;
    let mut requested: Vec<Version> = Vec::new();
    match &a.versions {
        Some(names) => {
            for name in names {
                let v = kernel.version(name)?;
                if !requested.contains(&v) {
                    requested.push(v);
                }
            }
        }
        None if on_cuda => requested.extend(kernel.versions.iter().filter(|v| v.is_cuda())),
        None => requested.extend_from_slice(kernel.default_versions),
    }
    if on_cuda && !requested.iter().any(|v| v.is_cuda()) {
        let cuda: Vec<&str> = kernel.versions.iter().filter(|v| v.is_cuda()).map(|v| v.name()).collect();
        return Err(match cuda.is_empty() {
            true => format!("{} has no CUDA version in the lab", kernel.name),
            false => format!("with --device cuda, time CUDA versions of {}: {}", kernel.name, cuda.join(", ")),
        }
        .into());
    }
    let problems = match &a.shapes {
        Some(list) => lab::parse_shapes(list, kernel)?,
        None => kernel.default_problems()?,
    };
    let smoke = check_release("kernel", true, "a smoke run (5 timed runs per row)")?;
    let plan = if smoke { Plan::smoke() } else { Plan::adaptive(Duration::from_millis(a.budget_ms.max(1))) };
    if let Some(name) = &a.isa {
        select_isa(name)?;
    }
    // On a CUDA device the first CUDA version (v1) is the baseline of the speed-up column.
    let baseline =
        if on_cuda { *requested.iter().find(|v| v.is_cuda()).expect("checked above") } else { kernel.baseline };
    let lab_run = LabRun { kernel, requested, problems, plan, seed: a.seed, json: a.json, baseline };
    match a.threads {
        None => lab_run.run(),
        Some(n) => {
            let n = n.max(1);
            // matrixmultiply keeps its own pool, sized once from this variable on first use.
            if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
                std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
            }
            kiln::kernels::denormals::pool_builder(n).build()?.install(|| lab_run.run())
        }
    }
}

/// Lowers the SIMD back end for the whole run: `simd::isa()` reads KILN_SIMD once, on first use,
/// and nothing has used it yet.
fn select_isa(name: &str) -> CliResult<()> {
    let wanted = Isa::parse(name).ok_or_else(|| format!("unknown --isa `{name}` (expected avx512, avx2 or scalar)"))?;
    std::env::set_var("KILN_SIMD", wanted.name());
    if simd::isa() != wanted {
        eprintln!("warning: this CPU has no {}; using {}", wanted.name(), simd::isa().name());
    }
    Ok(())
}

/// The run's exit status: an error naming every version that failed validation at some shape
/// (the passing ones were still timed and printed), so scripts and the GPU check cannot mistake a
/// wrong kernel for a pass.
fn validation_outcome(kernel: &str, requested: &[Version], refused: &[Version]) -> CliResult<()> {
    let failed: Vec<&str> = requested.iter().filter(|v| refused.contains(v)).map(|v| v.name()).collect();
    match failed.len() {
        0 => Ok(()),
        n if n == requested.len() => {
            Err(format!("every requested version of {kernel} failed validation ({})", failed.join(", ")).into())
        }
        _ => {
            Err(format!("{kernel}: {} failed validation (see above; the others were timed)", failed.join(", ")).into())
        }
    }
}

/// `kiln bench kernel list`.
fn list() {
    for k in lab::kernels() {
        println!("{} ({}, {}): {}", k.name, k.family, k.unit.label(), k.about);
        let versions: Vec<String> = k
            .versions
            .iter()
            .map(|&v| if v == k.baseline { format!("{v} (baseline)") } else { v.to_string() })
            .collect();
        let note = if !k.has_fast_version() {
            " - no fast version exists yet".to_string()
        } else if k.default_versions != k.versions {
            let timed: Vec<&str> = k.default_versions.iter().map(|v| v.name()).collect();
            format!("; timed by default: {}", timed.join(", "))
        } else {
            String::new()
        };
        println!("  versions: {}{note}", versions.join(", "));
        let suffix = if k.transposes { ", suffix :nt / :tn / :tt reads B / A / both transposed" } else { "" };
        println!("  shapes {}{suffix}; default: {}", k.dims.join(" x "), k.default_shapes.join(", "));
    }
}

/// One `kiln bench kernel <name>` run, inside the thread pool.
struct LabRun {
    kernel: &'static Kernel,
    requested: Vec<Version>,
    problems: Vec<Problem>,
    plan: Plan,
    seed: u64,
    json: bool,
    /// What the speed-up column divides by.
    baseline: Version,
}

/// How long the FMA peak of the run's threads is measured before the table (GFLOP/s kernels).
const PEAK_SECONDS: f64 = 0.4;

impl LabRun {
    fn run(&self) -> CliResult<()> {
        let k = self.kernel;
        let mut timed = self.requested.clone();
        if !timed.contains(&self.baseline) {
            timed.push(self.baseline);
        }
        let threads = rayon::current_num_threads();
        // The ceiling of a compute-bound CPU kernel on these threads, all of them busy at once.
        // Not measured for a smoke run (its numbers mean nothing) or for CUDA versions.
        // For the int8 GEMM: the dot-product peak of the best integer version this CPU has.
        let measure = !self.baseline.is_cuda() && !self.plan.budget.is_zero();
        let peak = match k.unit {
            Unit::Gflops if measure => Some(simd::peak::peak_gflops_on(simd::isa(), PEAK_SECONDS, threads)),
            Unit::Gops if measure => Some(qgemm::peak::peak_gops_on(qgemm::qisa(), PEAK_SECONDS, threads)),
            _ => None,
        };
        if !self.json {
            println!("{}: {}", k.name, k.about);
            println!("CPU: {}", simd::machine::describe());
            let budget = match self.plan.budget.as_millis() {
                0 => "debug smoke run".to_string(),
                ms => format!("~{ms} ms each row"),
            };
            let on = if self.baseline.is_cuda() {
                let runner = lab_device::lab_runner()?;
                format!("device {}, CUDA events around batches of launches", runner.name())
            } else {
                format!("threads {threads}, SIMD {}", simd::isa().name())
            };
            println!(
                "{on}, median of >= {} timed samples ({budget}); speed-up = {} median / median",
                self.plan.min_samples, self.baseline
            );
            match peak {
                Some(p) if k.unit == Unit::Gops => println!(
                    "int8 peak of {threads} busy thread(s): {p:.1} GOP/s ({} dot products, qgemm::peak); % peak = GOP/s / that",
                    qgemm::qisa()
                ),
                Some(p) => {
                    println!("FMA peak of {threads} busy thread(s): {p:.1} GFLOP/s (simd::peak); % peak = GFLOP/s / that")
                }
                None => {}
            }
            let peak_header = if peak.is_some() { "% peak" } else { "" };
            println!(
                "{:<18} {:<15} {:>12} {:>10} {:>10} {peak_header:>7}",
                "shape",
                "version",
                "median",
                k.unit.label(),
                "speed-up"
            );
        }
        let mut refused: Vec<Version> = Vec::new();
        for problem in &self.problems {
            let verdicts = lab::validate(k, problem, &timed, self.seed)?;
            let mut passed = Vec::new();
            for (&version, verdict) in timed.iter().zip(verdicts) {
                match verdict {
                    Ok(()) => passed.push(version),
                    Err(why) => {
                        eprintln!("{} {version} at {problem}: refused, not timed: failed validation {why}", k.name);
                        refused.push(version);
                    }
                }
            }
            let mut case = k.case(problem, Operands::Dense, &mut Rng::new(self.seed))?;
            let mut results: Vec<(Version, Timing)> = Vec::new();
            for &version in &passed {
                if !version.is_cuda() {
                    results.push((version, timing::time(&self.plan, || case.run(version))?));
                    continue;
                }
                let runner = lab_device::lab_runner()?;
                if runner.is_host() {
                    self.report_untimed(problem, version);
                    continue;
                }
                case.run(version)?; // uploads the operands outside the timed region
                results.push((version, lab_device::time_with_events(&runner, &self.plan, || case.launch(version))?));
            }
            let baseline = results.iter().find(|(v, _)| *v == self.baseline).map(|(_, t)| t.median);
            for (version, t) in results {
                self.report(problem, version, &t, baseline, threads, peak);
            }
        }
        validation_outcome(k.name, &self.requested, &refused)
    }

    /// A CUDA version validated on the host shim: it passed, and the shim's speed means nothing.
    fn report_untimed(&self, problem: &Problem, version: Version) {
        if self.json {
            let line = json!({
                "kernel": self.kernel.name, "version": version.name(), "shape": problem.dims,
                "validated": true, "timed": false, "runner": "host shim",
            });
            println!("{line}");
        } else {
            println!(
                "{:<18} {:<15} {:>12} (validated on the host shim, not timed)",
                problem.to_string(),
                version.name(),
                "-"
            );
        }
    }

    fn report(
        &self,
        problem: &Problem,
        version: Version,
        t: &Timing,
        baseline: Option<Duration>,
        threads: usize,
        peak: Option<f64>,
    ) {
        let k = self.kernel;
        let seconds = t.median.as_secs_f64();
        let rate = (k.work)(problem) / seconds / 1e9;
        // The CPU's peak says nothing about a CUDA version timed beside it.
        let peak = peak.filter(|_| !version.is_cuda());
        if self.json {
            let mut line = json!({
                "kernel": k.name, "version": version.name(), "shape": problem.dims, "threads": threads, "cpu": simd::machine::cpu_model(),
                "median_us": seconds * 1e6,
            });
            line[k.unit.key()] = json!(rate);
            line["validated"] = json!(true);
            if let Some(tag) = problem.transpose_tag() {
                line["transpose"] = json!(tag);
            }
            if let Some(p) = peak {
                line[format!("peak_{}", k.unit.key())] = json!(p);
                line["peak_fraction"] = json!(rate / p);
            }
            println!("{line}");
            return;
        }
        let speedup = match baseline {
            Some(b) => format!("{:.2}x", b.as_secs_f64() / seconds),
            None => "-".to_string(),
        };
        let median = format_duration(t.median);
        let of_peak = peak.map(|p| format!("{:.0}%", 100.0 * rate / p)).unwrap_or_default();
        println!(
            "{:<18} {:<15} {median:>12} {rate:>10.2} {speedup:>10} {of_peak:>7}",
            problem.to_string(),
            version.name()
        );
    }
}

/// `12.34 us`, `1.234 ms` or `1.234 s`.
fn format_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.2} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_failed_validation_is_an_error_naming_the_versions() {
        let gemm = lab::find("gemm").unwrap();
        let v: Vec<Version> = gemm.versions.to_vec();
        assert!(validation_outcome("gemm", &v, &[]).is_ok());
        let one = validation_outcome("gemm", &v, &[v[1], v[1]]).unwrap_err().to_string();
        assert!(one.contains(v[1].name()) && one.contains("failed validation"), "{one}");
        let all = validation_outcome("gemm", &v, &v).unwrap_err().to_string();
        assert!(all.contains("every requested version"), "{all}");
    }
}
