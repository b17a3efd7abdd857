//! What `kiln train` starts from besides fresh weights: the teacher of `--teacher / --temperature
//! / --alpha` built from its checkpoint (an f32 checkpoint of the model being trained, so the
//! classes and the inputs agree), the CNN network a `--student` name picks, and the pretrained
//! encoder of `--init` with its vocabulary. The losses and the copying are the models crate's
//! (`zoo::distill`, `zoo::sentiment::pretrain`); this file only reads flags and checkpoints.

use super::checkpoints::{checkpoint_vocab, image_network, sentiment_classifier};
use super::choices::VariantArg;
use super::CliResult;
use clap::ValueEnum;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::Vocab;
use kiln::models::nn::Module;
use kiln::models::zoo::cnn::CnnVariant;
use kiln::models::zoo::distill::{Distillation, DEFAULT_ALPHA, DEFAULT_TEMPERATURE};
use kiln::models::zoo::run::checkpoint_info;
use kiln::models::zoo::sentiment::pretrain::{PRETRAINING_KEY, PRETRAINING_OBJECTIVE};
use kiln::models::zoo::ModelKind;
use std::path::{Path, PathBuf};

/// A teacher, and for sentiment the vocabulary the student must encode with (the teacher's).
pub type Teacher = (Distillation, Option<Vocab>);

/// The distillation a run's flags ask for: None without `--teacher` (then `--temperature` is an
/// error; `--alpha` belongs to `--adversarial`, which checks it).
pub fn distillation(
    teacher: &Option<PathBuf>,
    temperature: Option<f64>,
    alpha: Option<&str>,
    kind: ModelKind,
) -> CliResult<Option<Teacher>> {
    let Some(path) = teacher else {
        if temperature.is_some() {
            return Err("--temperature belongs to --teacher".into());
        }
        return Ok(None);
    };
    let ck = Checkpoint::load(path)?;
    let (teacher_kind, _) = checkpoint_info(&ck, path)?;
    if teacher_kind != kind {
        return Err(format!(
            "--teacher {}: a {} checkpoint cannot teach {} (a teacher must be a checkpoint of the same model)",
            path.display(),
            teacher_kind.name(),
            kind.name()
        )
        .into());
    }
    let (net, vocab): (Box<dyn Module>, _) = match kind {
        ModelKind::Lenet | ModelKind::Cnn => (Box::new(image_network(&ck, path)?.0), None),
        ModelKind::Sentiment => {
            let (net, vocab) = sentiment_classifier(&ck, path)?;
            (Box::new(net), Some(vocab))
        }
        ModelKind::Gan => return Err("--teacher distils a classifier (lenet, cnn or sentiment), not the gan".into()),
    };
    let alpha = match alpha {
        Some(text) => text.parse::<f64>().map_err(|_| format!("--alpha `{text}` is not a number"))?,
        None => DEFAULT_ALPHA,
    };
    let source = path.display().to_string();
    let distillation = Distillation::new(net, source, temperature.unwrap_or(DEFAULT_TEMPERATURE), alpha)?;
    Ok(Some((distillation, vocab)))
}

/// The W2 network `--student` names (a `--variant` name), or `--variant`'s when it names none;
/// both at once must agree.
pub fn cnn_variant(student: Option<&str>, variant: VariantArg) -> CliResult<CnnVariant> {
    let Some(name) = student else { return Ok(variant.into()) };
    let picked = VariantArg::from_str(name, true)
        .map_err(|_| format!("unknown cnn network `{name}` for --student (expected plain, bn or half)"))?;
    if variant != VariantArg::Plain && variant != picked {
        let given = variant.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default();
        return Err(format!("--student {name} and --variant {given} name two networks; give one").into());
    }
    Ok(picked.into())
}

/// A pretrained checkpoint and the path it was read from.
pub type Pretrained = (Checkpoint, String);

/// The `--init` checkpoint (with its path) and the vocabulary the run must encode with: the
/// pretrained encoder's, which must be the teacher's too when there is one.
pub fn pretrained(init: Option<&Path>, teacher_vocab: Option<Vocab>) -> CliResult<(Option<Pretrained>, Option<Vocab>)> {
    let Some(path) = init else { return Ok((None, teacher_vocab)) };
    let ck = Checkpoint::load(path)?;
    if ck.metadata.get(PRETRAINING_KEY).map(String::as_str) != Some(PRETRAINING_OBJECTIVE) {
        return Err(format!("--init {}: not a `kiln pretrain sentiment` checkpoint", path.display()).into());
    }
    let vocab = checkpoint_vocab(&ck, path)?;
    if teacher_vocab.as_ref().is_some_and(|t| t != &vocab) {
        return Err(format!("--init {} and --teacher encode with different vocabularies", path.display()).into());
    }
    Ok((Some((ck, path.display().to_string())), Some(vocab)))
}
