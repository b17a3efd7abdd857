//! `kiln data fetch NAME`: find, download or unpack a dataset into the data dir and say where it
//! came from.

use super::CliResult;
use clap::{Args, Subcommand};
use kiln::models::data::{fetch, resolve_data_dir};
use std::path::PathBuf;

#[derive(Args)]
pub struct DataArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Fetch mnist, fashion-mnist, cifar10 or imdb.
    Fetch {
        name: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(args: DataArgs) -> CliResult<()> {
    match args.command {
        DataCommand::Fetch { name, data_dir } => {
            let dir = resolve_data_dir(data_dir.as_deref());
            let report = fetch(&name, &dir)?;
            let how = if report.reused { "already there, validated" } else { "fetched and validated" };
            println!(
                "{}: {} ({how}) from {} in {:.1} s",
                name,
                report.dir.display(),
                report.source,
                report.elapsed.as_secs_f64()
            );
            for attempt in &report.attempts {
                println!("  tried first: {attempt}");
            }
            Ok(())
        }
    }
}
