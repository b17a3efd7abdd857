//! Subcommand definitions (clap) and dispatch. Each subcommand's work is in its own file.

mod bench;
mod bench_kernel;
mod bench_layouts;
mod bench_pytorch;
mod data;
mod device;
mod eval;
mod inspect;
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
    /// Train a model (fetches its data when missing).
    Train(train::TrainArgs),
    /// Evaluate a checkpoint: test accuracy, or for a GAN the LeNet judge's verdict.
    Eval(eval::EvalArgs),
    /// Write a grid of samples from a GAN checkpoint.
    Sample(sample::SampleArgs),
    /// Datasets: `kiln data fetch <mnist|fashion-mnist|cifar10|imdb>`.
    Data(data::DataArgs),
    /// Parameter table and the autograd graph of one training step (Graphviz DOT).
    Inspect(inspect::InspectArgs),
    /// Benchmarks: `kiln bench step <gan|cnn|sentiment>` times whole training steps, `kiln bench
    /// kernel <name>` validates and times one kernel's versions.
    Bench(bench::BenchArgs),
}

/// Options every command that computes shares.
#[derive(clap::Args, Clone)]
pub struct ComputeArgs {
    /// Worker threads for the CPU kernels (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Where datasets live (else $KILN_DATA, else ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl ComputeArgs {
    /// Sets up the thread pool and resolves the device; returns the data dir and the device.
    fn apply(&self, quiet: bool) -> CliResult<(PathBuf, kiln::tensor::Device)> {
        if let Some(n) = self.threads {
            kiln::kernels::denormals::pool_builder(n.max(1)).build_global()?;
        }
        let device = device::resolve(&self.device, quiet)?;
        Ok((kiln::models::data::resolve_data_dir(self.data_dir.as_deref()), device))
    }
}

pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Data(a) => data::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Bench(a) => bench::run(a),
    }
}
