//! `kiln train MODEL`: fills a RunConfig from the flags and the model's defaults (the
//! configuration that meets its accuracy target) and runs the model's training function.

use super::choices::{ModelArg, VariantArg};
use super::{distill, CliResult, ComputeArgs};
use clap::Args;
use kiln::models::robust::{parse_eps, AdversarialTraining, Recipe};
use kiln::models::zoo::cnn::CnnVariant;
use kiln::models::zoo::lenet::MnistNet;
use kiln::models::zoo::sentiment::SentimentStart;
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
    /// The network to train instead of the model's own: lenet `lenet5` (its own), `mlp-800`
    /// (Hinton's student, no regulariser) or `mlp-1200` (Hinton's teacher: dropout, +-2 pixel
    /// jitter); cnn the --variant names (`plain`, `bn`, `half`).
    #[arg(long, value_name = "NAME", visible_alias = "network")]
    student: Option<String>,
    /// Knowledge distillation: a checkpoint of the same model (an f32 lenet, cnn or sentiment run)
    /// whose soft outputs the run learns from; loss alpha * T^2 * KL + (1 - alpha) * CE.
    #[arg(long, value_name = "CKPT")]
    teacher: Option<PathBuf>,
    /// Evaluate on the test set every K epochs (and after the last).
    #[arg(long, value_name = "K", default_value_t = 1)]
    eval_every: usize,
    /// sentiment: start the encoder (embedding + BiLSTM) from a `kiln pretrain sentiment`
    /// checkpoint, and encode with its vocabulary.
    #[arg(long, value_name = "PRETRAINED")]
    init: Option<PathBuf>,
    /// sentiment: train on a class-balanced draw of N labelled reviews (seeded by --seed); the
    /// test set stays whole.
    #[arg(long, value_name = "N")]
    labels: Option<usize>,
    /// --teacher: the softmax temperature T [default: 4].
    #[arg(long)]
    temperature: Option<f64>,
    /// cnn `bn` only: the dropout probability before each linear layer.
    #[arg(long, default_value_t = 0.5)]
    dropout: f64,
    /// lenet and cnn: train on adversarial batches, `fgsm-rs` (FGSM from a random start, Wong et
    /// al. 2020) or `pgd` (PGD-K, Madry et al. 2018); stops early on PGD-10 accuracy of held-out
    /// training images and keeps that best epoch as best.safetensors.
    #[arg(long, value_name = "RECIPE")]
    adversarial: Option<String>,
    /// --adversarial: the radius in pixels of [0, 1]; fractions parse [default: lenet 0.1, cnn 8/255].
    #[arg(long)]
    eps: Option<String>,
    /// --adversarial: the attack's step [default: fgsm-rs 1.25 eps, pgd eps/4]. --teacher: the
    /// weight of the teacher's soft term, in [0, 1] [default: 0.9].
    #[arg(long)]
    alpha: Option<String>,
    /// --adversarial pgd: attack steps per batch [default: 7].
    #[arg(long)]
    steps: Option<usize>,
    /// --adversarial: epochs without a better held-out PGD accuracy before stopping.
    #[arg(long, default_value_t = 5)]
    patience: usize,
    #[command(flatten)]
    compute: ComputeArgs,
}

/// The adversarial-training settings the flags ask for (None without `--adversarial`); the
/// attack flags without it, or on a model that is not an image classifier, are errors.
fn adversarial(a: &TrainArgs, kind: ModelKind) -> CliResult<Option<AdversarialTraining>> {
    let Some(recipe) = &a.adversarial else {
        if a.eps.is_some() || (a.alpha.is_some() && a.teacher.is_none()) || a.steps.is_some() {
            return Err("--eps, --alpha and --steps belong to --adversarial".into());
        }
        return Ok(None);
    };
    if !matches!(kind, ModelKind::Lenet | ModelKind::Cnn) {
        return Err(format!("--adversarial trains an image classifier (lenet or cnn), not {}", kind.name()).into());
    }
    let eps = match (&a.eps, kind) {
        (Some(e), _) => parse_eps(e)?,
        (None, ModelKind::Lenet) => 0.1,
        (None, _) => 8.0 / 255.0,
    };
    let alpha = a.alpha.as_deref().map(parse_eps).transpose()?;
    let mut t = AdversarialTraining::new(Recipe::parse(recipe)?, eps, alpha, a.steps)?;
    t.patience = a.patience;
    t.check()?;
    Ok(Some(t))
}

pub fn run(a: TrainArgs) -> CliResult<()> {
    let kind = ModelKind::from(a.model);
    if a.teacher.is_some() && a.adversarial.is_some() {
        return Err("--teacher and --adversarial are two ways to train; give one".into());
    }
    if kind != ModelKind::Sentiment && (a.init.is_some() || a.labels.is_some()) {
        return Err(
            format!("--init and --labels belong to sentiment (the pretrained encoder), not {}", kind.name()).into()
        );
    }
    let adversarial = adversarial(&a, kind)?;
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
        adversarial,
        eval_every: a.eval_every,
    };
    cfg.validate()?;
    if !cfg.json {
        let adversarially = match &cfg.adversarial {
            Some(t) => {
                format!(", adversarially: {} eps {:.4} alpha {:.4} steps {}", t.recipe.name(), t.eps, t.alpha, t.steps)
            }
            None => String::new(),
        };
        eprintln!(
            "training {} for {} epochs (batch {}, lr {}{adversarially}) -> {}",
            kind.name(),
            cfg.epochs,
            cfg.batch_size,
            cfg.lr,
            cfg.out_dir.display()
        );
    }
    let (distillation, teacher_vocab) = distill::distillation(&a.teacher, a.temperature, a.alpha.as_deref(), kind)?
        .map_or((None, None), |(d, v)| (Some(d), v));
    match kind {
        ModelKind::Gan => gan::train(&cfg)?,
        ModelKind::Cnn => {
            let chosen = distill::cnn_variant(a.student.as_deref(), a.variant)?;
            let variant = match (chosen, a.dropout) {
                (CnnVariant::BatchNorm { .. }, p) if (0.0..1.0).contains(&p) => CnnVariant::BatchNorm { dropout: p },
                (CnnVariant::BatchNorm { .. }, p) => return Err(format!("--dropout must be in [0, 1), got {p}").into()),
                (other, _) => other,
            };
            cnn::train(&cfg, variant, distillation)?
        }
        ModelKind::Sentiment => {
            if a.student.is_some() {
                return Err(
                    "sentiment trains one network (W3); --teacher distils into it, --student has no choice here".into(),
                );
            }
            let (init, vocab) = distill::pretrained(a.init.as_deref(), teacher_vocab)?;
            sentiment::train(&cfg, SentimentStart { vocab, init, labels: a.labels, distillation })?
        }
        ModelKind::Lenet => {
            let net = a.student.as_deref().map_or(Ok(MnistNet::Lenet5), MnistNet::parse)?;
            lenet::train(&cfg, net, distillation)?
        }
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
