//! `kiln pretrain sentiment`: masked-token pretraining of W3's embedding and BiLSTM on the training
//! reviews without their labels (`zoo::sentiment::pretrain`); `kiln train sentiment --init` then
//! fine-tunes from the checkpoint it writes.

use super::{CliResult, ComputeArgs};
use clap::{Args, ValueEnum};
use kiln::models::zoo::sentiment::pretrain::{self, MASK_RATE};
use kiln::models::zoo::{ModelKind, RunConfig};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PretrainModel {
    /// W3's encoder (embedding + BiLSTM) on the IMDB training reviews.
    Sentiment,
}

#[derive(Args)]
pub struct PretrainArgs {
    #[arg(value_enum)]
    model: PretrainModel,
    /// Epochs over the training reviews (less the 1,000 held out).
    #[arg(long, default_value_t = pretrain::DEFAULT_EPOCHS)]
    epochs: usize,
    /// Probability that a token is chosen for the loss (80% of them become [MASK], 10% a random
    /// word, 10% stay).
    #[arg(long, default_value_t = MASK_RATE)]
    mask_rate: f64,
    #[arg(long, default_value_t = pretrain::DEFAULT_BATCH)]
    batch_size: usize,
    /// Adam's learning rate, decayed by a cosine over the run.
    #[arg(long, default_value_t = pretrain::DEFAULT_LR)]
    lr: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder [default: runs/pretrain-sentiment-<YYYYMMDD-HHMMSS>, UTC].
    #[arg(long)]
    out: Option<PathBuf>,
    /// One JSON object per line on stdout instead of progress bars and human lines.
    #[arg(long)]
    json: bool,
    /// Pretrain on N training reviews spread over the split (smoke tests) [default: all].
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    compute: ComputeArgs,
}

pub fn run(a: PretrainArgs) -> CliResult<()> {
    let (data_dir, device) = a.compute.apply(a.json)?;
    let out_dir = a.out.unwrap_or_else(|| {
        let dir = RunConfig::default_out_dir(ModelKind::Sentiment);
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        dir.with_file_name(format!("pretrain-{name}"))
    });
    let cfg = RunConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        data_dir,
        out_dir,
        resume: None,
        json: a.json,
        limit: a.limit,
        device,
        adversarial: None,
        eval_every: 1,
    };
    if !cfg.json {
        eprintln!(
            "pretraining sentiment's encoder for {} epochs (batch {}, lr {}, mask rate {}) -> {}",
            cfg.epochs,
            cfg.batch_size,
            cfg.lr,
            a.mask_rate,
            cfg.out_dir.display()
        );
    }
    let model = match a.model {
        PretrainModel::Sentiment => pretrain::pretrain(&cfg, a.mask_rate),
    };
    model?;
    Ok(())
}
