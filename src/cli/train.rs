//! `kiln train MODEL`: fills a RunConfig from the flags and the model's defaults (the
//! configuration that meets its accuracy target) and runs the model's training function.

use super::{CliResult, ComputeArgs};
use clap::Args;
use kiln::models::zoo::cnn::CnnVariant;
use kiln::models::zoo::{cnn, gan, lenet, sentiment, ModelKind, RunConfig};
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// gan, cnn, sentiment or lenet.
    #[arg(default_value = "gan")]
    model: String,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (default runs/<model>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from a checkpoint written by an earlier run.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
    /// Train and test on a seeded, class-balanced subset of N samples each (quick looks, smoke tests).
    #[arg(long)]
    limit: Option<usize>,
    /// cnn only: `plain` (W2, the default) or `bn` (batch norm + dropout, 0.5 unless --dropout; cosine LR).
    #[arg(long, default_value = "plain")]
    variant: String,
    /// cnn `bn` only: the dropout probability before each linear layer.
    #[arg(long, default_value_t = 0.5)]
    dropout: f64,
    #[command(flatten)]
    compute: ComputeArgs,
}

pub fn run(a: TrainArgs) -> CliResult<()> {
    let kind: ModelKind = a.model.parse()?;
    let (data_dir, device) = a.compute.apply(a.json)?;
    let (epochs, batch, lr) = match kind {
        ModelKind::Gan => (gan::DEFAULT_EPOCHS, gan::DEFAULT_BATCH, gan::DEFAULT_LR),
        ModelKind::Cnn => (cnn::DEFAULT_EPOCHS, cnn::DEFAULT_BATCH, cnn::DEFAULT_LR),
        ModelKind::Sentiment => (sentiment::DEFAULT_EPOCHS, sentiment::DEFAULT_BATCH, sentiment::DEFAULT_LR),
        ModelKind::Lenet => (lenet::DEFAULT_EPOCHS, lenet::DEFAULT_BATCH, lenet::DEFAULT_LR),
    };
    let cfg = RunConfig {
        epochs: a.epochs.unwrap_or(epochs),
        batch_size: a.batch_size.unwrap_or(batch),
        lr: a.lr.unwrap_or(lr),
        seed: a.seed,
        data_dir,
        out_dir: a.out.unwrap_or_else(|| RunConfig::default_out_dir(kind)),
        resume: a.resume,
        json: a.json,
        limit: a.limit,
        device,
    };
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err("--epochs and --batch-size must be at least 1".into());
    }
    if !cfg.json {
        eprintln!(
            "training {} for {} epochs (batch {}, lr {}) -> {}",
            kind.name(),
            cfg.epochs,
            cfg.batch_size,
            cfg.lr,
            cfg.out_dir.display()
        );
    }
    match kind {
        ModelKind::Gan => gan::train(&cfg)?,
        ModelKind::Cnn => {
            let variant = match a.variant.as_str() {
                "plain" => CnnVariant::Plain,
                "bn" if (0.0..1.0).contains(&a.dropout) => CnnVariant::BatchNorm { dropout: a.dropout },
                "bn" => return Err(format!("--dropout must be in [0, 1), got {}", a.dropout).into()),
                v => return Err(format!("unknown cnn variant `{v}` (plain or bn)").into()),
            };
            cnn::train(&cfg, variant)?
        }
        ModelKind::Sentiment => sentiment::train(&cfg)?,
        ModelKind::Lenet => lenet::train(&cfg)?,
    };
    Ok(())
}
