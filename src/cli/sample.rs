//! `kiln sample gan CHECKPOINT --out grid.png`: a grid of generator samples from fresh noise.

use super::CliResult;
use clap::Args;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::zoo::gan::{self, step::noise};
use kiln::models::zoo::run::checkpoint_info;
use kiln::models::zoo::ModelKind;
use kiln::tensor::Rng;
use std::path::PathBuf;

#[derive(Args)]
pub struct SampleArgs {
    /// Only `gan` can be sampled.
    model: String,
    checkpoint: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 64)]
    n: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(a: SampleArgs) -> CliResult<()> {
    if a.model != "gan" {
        return Err(format!("only a gan can be sampled, not `{}`", a.model).into());
    }
    if a.n == 0 {
        return Err("--n must be at least 1".into());
    }
    let ck = Checkpoint::load(&a.checkpoint)?;
    let (kind, epoch) = checkpoint_info(&ck, &a.checkpoint)?;
    if kind != ModelKind::Gan {
        return Err(format!("{}: a {} checkpoint, not a gan", a.checkpoint.display(), kind.name()).into());
    }
    let generator = gan::load_generator(&ck)?;
    gan::save_samples(&generator, &noise(a.n, &mut Rng::new(a.seed)), &a.out)?;
    println!("{} samples from epoch {epoch} -> {}", a.n, a.out.display());
    Ok(())
}
