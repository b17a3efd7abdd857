//! `kiln eval CHECKPOINT`: test-set accuracy for a classifier checkpoint; for a GAN checkpoint,
//! 10,000 samples judged by a LeNet checkpoint (`--judge`).

use super::checkpoints::{evaluation_config, image_classifier, sentiment_model};
use super::{CliResult, ComputeArgs};
use clap::Args;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{Augment, Split};
use kiln::models::zoo::classifier::{evaluate, Objective};
use kiln::models::zoo::gan::{self, judge::judge};
use kiln::models::zoo::run::{checkpoint_info, load_module};
use kiln::models::zoo::{images, lenet, sentiment, ModelKind};
use kiln::tensor::Rng;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    checkpoint: PathBuf,
    /// LeNet checkpoint that judges a GAN's samples.
    #[arg(long)]
    judge: Option<PathBuf>,
    /// Number of GAN samples to judge.
    #[arg(long, default_value_t = 10_000)]
    samples: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
    /// Evaluate on the first N test samples only.
    #[arg(long)]
    limit: Option<usize>,
    #[command(flatten)]
    compute: ComputeArgs,
}

/// A LeNet restored from its checkpoint.
pub fn load_lenet(path: &Path) -> CliResult<kiln::models::nn::Sequential> {
    let ck = Checkpoint::load(path)?;
    let (kind, _) = checkpoint_info(&ck, path)?;
    if kind != ModelKind::Lenet {
        return Err(format!("{}: --judge needs a lenet checkpoint, this is a {}", path.display(), kind.name()).into());
    }
    let net = lenet::model(&mut Rng::new(0));
    load_module(&ck, "model", &net)?;
    Ok(net)
}

pub fn run(a: EvalArgs) -> CliResult<()> {
    let (data_dir, device) = a.compute.apply(a.json)?;
    let ck = Checkpoint::load(&a.checkpoint)?;
    let (kind, epoch) = checkpoint_info(&ck, &a.checkpoint)?;
    let cfg = evaluation_config(data_dir, device, 256, a.seed, a.json, a.limit);
    let test_accuracy = match kind {
        ModelKind::Lenet | ModelKind::Cnn => {
            let (model, dataset, norm) = image_classifier(&ck, &a.checkpoint)?;
            kiln::models::nn::to_device(model.as_ref(), cfg.device)?;
            let test = images::loader(
                images::load_split(dataset, &cfg, Split::Test)?,
                &cfg,
                false,
                Augment::default(),
                &norm,
            )?;
            evaluate(model.as_ref(), &test, Objective::CrossEntropy)?.1
        }
        ModelKind::Sentiment => {
            let (net, vocab) = sentiment_model(&ck, &a.checkpoint)?;
            kiln::models::nn::to_device(net.as_ref(), cfg.device)?;
            let fetch = kiln::models::data::FetchOptions::from_env();
            let texts =
                sentiment::subsample(kiln::models::data::load_texts(&cfg.data_dir, Split::Test, &fetch)?, a.limit);
            evaluate(net.as_ref(), &sentiment::loader(&texts, &vocab, &cfg, false)?, Objective::BinaryLogits)?.1
        }
        ModelKind::Gan => {
            let judge_path = a.judge.as_ref().ok_or("judging a GAN needs --judge <lenet checkpoint>")?;
            let lenet = load_lenet(judge_path)?;
            let generator = gan::load_generator(&ck)?;
            kiln::models::nn::to_device(&lenet, cfg.device)?;
            kiln::models::nn::to_device(&generator, cfg.device)?;
            let report = judge(&generator, &lenet, a.samples, a.seed)?;
            let mut out = report.to_json();
            out["final"] = json!(true);
            out["epoch"] = json!(epoch);
            if a.json {
                println!("{out}");
            } else {
                let shares: Vec<String> = report.class_share.iter().map(|s| format!("{:.1}%", s * 100.0)).collect();
                println!("gan after {epoch} epochs, {} samples judged by {}", report.samples, judge_path.display());
                println!("  class share (0..9): {}", shares.join(" "));
                println!(
                    "  mean max-probability {:.4}, confident (p > 0.9) {:.4}",
                    report.mean_max_prob, report.confident_fraction
                );
            }
            return Ok(());
        }
    };
    if a.json {
        println!("{}", json!({"final": true, "model": kind.name(), "epoch": epoch, "test_accuracy": test_accuracy}));
    } else {
        println!("{} after {epoch} epochs: test accuracy {:.2}%", kind.name(), test_accuracy * 100.0);
    }
    Ok(())
}
