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
    // One forward pass and one PNG grid hold all samples: past this the grid (8 columns of 30 px)
    // passes 240 x 1.9M pixels and the pass needs gigabytes, so it is refused rather than let the
    // allocator abort.
    const MAX_SAMPLES: usize = 1 << 16;
    if a.n == 0 || a.n > MAX_SAMPLES {
        return Err(format!("--n {} is not in 1..={MAX_SAMPLES} (sample a larger set in several runs)", a.n).into());
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
