//! The `kiln` command line. Subcommands (train, eval, sample, bench, data, inspect) are added as
//! their issues land; this file only parses arguments and dispatches.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "A from-scratch deep-learning engine: tensors, autograd, SIMD and CUDA kernels"
)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
