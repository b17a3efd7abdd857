//! The `kiln` command line: parses arguments and hands each subcommand to its file in `cli/`.
//! No training or kernel logic lives here.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    kiln_tensor::alloc::keep_freed_memory();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
