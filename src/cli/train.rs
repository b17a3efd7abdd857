//! `kiln train MODEL`: fills a RunConfig from the flags and the model's defaults (the
//! configuration that meets its accuracy target) and runs the model's training function.

use super::choices::{ModelArg, VariantArg};
use super::{CliResult, ComputeArgs};
use clap::Args;
use kiln::models::zoo::cnn::CnnVariant;
use kiln::models::zoo::{cnn, gan, lenet, sentiment, ModelKind, RunConfig};
use std::path::PathBuf;

/// Each model's (epochs, batch size, learning rate): the configuration that meets its target.
pub fn model_defaults(kind: ModelKind) -> (usize, usize, f64) {
    match kind {
        ModelKind::Gan => (gan::DEFAULT_EPOCHS, gan::DEFAULT_BATCH, gan::DEFAULT_LR),
        ModelKind::Cnn => (cnn::DEFAULT_EPOCHS, cnn::DEFAULT_BATCH, cnn::DEFAULT_LR),
        ModelKind::Sentiment => (sentiment::DEFAULT_EPOCHS, sentiment::DEFAULT_BATCH, sentiment::DEFAULT_LR),
        ModelKind::Lenet => (lenet::DEFAULT_EPOCHS, lenet::DEFAULT_BATCH, lenet::DEFAULT_LR),
    }
}

/// "`what` [default per model: gan 50, cnn 40, ...]" for `--help`, from the models' constants.
fn per_model_help(what: &str, pick: fn((usize, usize, f64)) -> String) -> String {
    let each: Vec<String> =
        ModelKind::ALL.iter().map(|&k| format!("{} {}", k.name(), pick(model_defaults(k)))).collect();
    format!("{what} [default per model: {}]", each.join(", "))
}

#[derive(Args)]
pub struct TrainArgs {
    #[arg(value_enum, default_value_t = ModelArg::Gan)]
    model: ModelArg,
    #[arg(long, help = per_model_help("Epochs to train", |d| d.0.to_string()))]
    epochs: Option<usize>,
    #[arg(long, help = per_model_help("Samples per batch", |d| d.1.to_string()))]
    batch_size: Option<usize>,
    #[arg(long, help = per_model_help("Learning rate", |d| format!("{:e}", d.2)))]
    lr: Option<f64>,
    /// Seed of the weights, the shuffling, the augmentation and dropout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder [default: runs/<model>-<YYYYMMDD-HHMMSS>, UTC].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from a checkpoint written by an earlier run.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// One JSON object per line on stdout instead of progress bars and human lines.
    #[arg(long)]
    json: bool,
    /// Train and test on a seeded, class-balanced subset of N samples each (quick looks, smoke tests) [default: all].
    #[arg(long)]
    limit: Option<usize>,
    /// cnn only: which W2 network.
    #[arg(long, value_enum, default_value_t = VariantArg::Plain)]
    variant: VariantArg,
    /// cnn `bn` only: the dropout probability before each linear layer.
    #[arg(long, default_value_t = 0.5)]
    dropout: f64,
    #[command(flatten)]
    compute: ComputeArgs,
}

pub fn run(a: TrainArgs) -> CliResult<()> {
    let kind = ModelKind::from(a.model);
    let (data_dir, device) = a.compute.apply(a.json)?;
    let (epochs, batch, lr) = model_defaults(kind);
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
    cfg.validate()?;
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
            let variant = match (CnnVariant::from(a.variant), a.dropout) {
                (CnnVariant::BatchNorm { .. }, p) if (0.0..1.0).contains(&p) => CnnVariant::BatchNorm { dropout: p },
                (CnnVariant::BatchNorm { .. }, p) => return Err(format!("--dropout must be in [0, 1), got {p}").into()),
                (plain, _) => plain,
            };
            cnn::train(&cfg, variant)?
        }
        ModelKind::Sentiment => sentiment::train(&cfg)?,
        ModelKind::Lenet => lenet::train(&cfg)?,
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_states_each_models_defaults() {
        let mut cli = super::super::Cli::command();
        let help = cli.find_subcommand_mut("train").unwrap().render_long_help().to_string();
        for kind in ModelKind::ALL {
            let (epochs, batch, lr) = model_defaults(kind);
            for shown in [
                format!("{} {epochs}", kind.name()),
                format!("{} {batch}", kind.name()),
                format!("{} {lr:e}", kind.name()),
            ] {
                assert!(help.contains(&shown), "--help lacks `{shown}`:\n{help}");
            }
        }
        for listed in ["gan", "cnn", "sentiment", "lenet", "plain", "bn", "cuda:N", "runs/<model>-<YYYYMMDD-HHMMSS>"] {
            assert!(help.contains(listed), "--help lacks `{listed}`");
        }
    }
}
