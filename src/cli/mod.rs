//! Subcommand definitions (clap) and dispatch. Each subcommand's work is in its own file.

mod attack;
mod bench;
mod bench_attack;
mod bench_infer;
mod bench_kernel;
mod bench_layouts;
mod bench_pytorch;
mod checkpoints;
mod choices;
mod data;
mod device;
mod distill;
mod doctor;
mod eval;
mod explain;
mod explain_sanity;
mod inspect;
mod pretrain;
mod quantize;
mod report;
mod sample;
mod train;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub type CliResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "A from-scratch deep-learning engine: tensors, autograd, SIMD and CUDA kernels"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (fetches its data when missing); writes runs/<model>-<YYYYMMDD-HHMMSS>/.
    Train(train::TrainArgs),
    /// Self-supervised pretraining: `kiln pretrain sentiment` learns W3's encoder from the training
    /// reviews by predicting masked tokens; `kiln train sentiment --init` fine-tunes from it.
    Pretrain(pretrain::PretrainArgs),
    /// Rebuild a run's report.html and charts; with several run folders, one report overlaying them.
    Report(report::ReportArgs),
    /// Evaluate a checkpoint: test accuracy, or for a GAN the LeNet judge's verdict.
    Eval(eval::EvalArgs),
    /// Clean and robust accuracy of an image classifier under FGSM, PGD or the Adam attack.
    Attack(attack::AttackArgs),
    /// Post-training int8 quantization of an image classifier: calibrate, write an int8 checkpoint.
    Quantize(quantize::QuantizeArgs),
    /// Why a classifier answered as it did: saliency, gradient x input, integrated gradients or
    /// SmoothGrad as a PNG grid (images) or an HTML page (reviews); `--sanity` checks them.
    Explain(explain::ExplainArgs),
    /// Write a grid of samples from a GAN checkpoint.
    Sample(sample::SampleArgs),
    /// Datasets: `kiln data fetch <mnist|fashion-mnist|cifar10|imdb>`.
    Data(data::DataArgs),
    /// Parameter table and the autograd graph of one training step (Graphviz DOT).
    Inspect(inspect::InspectArgs),
    /// Benchmarks: `kiln bench step <gan|cnn|sentiment>` times whole training steps, `kiln bench
    /// kernel <name>` validates and times one kernel's versions.
    Bench(bench::BenchArgs),
    /// What this machine offers kiln (CPU, CUDA driver and devices, NVRTC); `--gpu` proves the GPU path.
    Doctor(doctor::DoctorArgs),
}

/// Options every command that computes shares.
#[derive(clap::Args, Clone)]
pub struct ComputeArgs {
    /// Worker threads for the CPU kernels [default: all cores].
    #[arg(long)]
    threads: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu", value_parser = choices::parse_device)]
    device: String,
    /// Where datasets live [default: $KILN_DATA, else ./data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ComputeArgs {
    /// Sets up the thread pool and resolves the device; returns the data dir and the device.
    fn apply(&self, quiet: bool) -> CliResult<(PathBuf, kiln::tensor::Device)> {
        if let Some(n) = self.threads {
            if n == 0 {
                // rayon reads 0 as "all cores"; a user who typed 0 meant something else.
                return Err("--threads must be at least 1".into());
            }
            kiln::kernels::denormals::pool_builder(n).build_global()?;
        }
        let device = device::resolve(&self.device, quiet)?;
        Ok((kiln::models::data::resolve_data_dir(self.data_dir.as_deref()), device))
    }
}

pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Pretrain(a) => pretrain::run(a),
        Command::Report(a) => report::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Attack(a) => attack::run(a),
        Command::Quantize(a) => quantize::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Data(a) => data::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Doctor(a) => doctor::run(a),
    }
}
