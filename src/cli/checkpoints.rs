//! Rebuilding a model from a checkpoint for the commands that use one without training it
//! (`eval`, `attack`, `explain`, `quantize`): which network, dataset and input normalisation a
//! checkpoint stands for, f32 or int8, and a sentiment checkpoint's vocabulary.

use super::CliResult;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{verify_sha256, Dataset, Normalize, Vocab};
use kiln::models::nn::{Module, Sequential};
use kiln::models::quant::{self, QuantizedNet};
use kiln::models::zoo::cnn::{self, CnnVariant};
use kiln::models::zoo::lenet::MnistNet;
use kiln::models::zoo::run::{checkpoint_info, load_module};
use kiln::models::zoo::sentiment::pretrain::PRETRAINING_KEY;
use kiln::models::zoo::sentiment::SentimentNet;
use kiln::models::zoo::{lenet, ModelKind, RunConfig};
use kiln::tensor::Device;
use kiln::tensor::Rng;
use std::path::{Path, PathBuf};

/// The image classifier in a checkpoint, with its dataset and the normalisation it was trained on:
/// the f32 network, or for an int8 checkpoint (`kiln quantize`) the int8 one.
pub fn image_classifier(ck: &Checkpoint, path: &Path) -> CliResult<(Box<dyn Module>, Dataset, Normalize)> {
    if quant::is_quantized(ck) {
        let (_, dataset, norm) = image_architecture(ck, path, &mut Rng::new(0))?;
        let net = QuantizedNet::from_checkpoint(ck).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((Box::new(net), dataset, norm));
    }
    let (net, dataset, norm) = image_network(ck, path)?;
    Ok((Box::new(net), dataset, norm))
}

/// The f32 image classifier of a (non-int8) checkpoint as the `Sequential` it is.
pub fn image_network(ck: &Checkpoint, path: &Path) -> CliResult<(Sequential, Dataset, Normalize)> {
    if quant::is_quantized(ck) {
        return Err(
            format!("{}: an int8 checkpoint; this needs the f32 checkpoint it came from", path.display()).into()
        );
    }
    let (net, dataset, norm) = image_architecture(ck, path, &mut Rng::new(0))?;
    load_module(ck, "model", &net)?;
    Ok((net, dataset, norm))
}

/// The network a lenet or cnn checkpoint holds, freshly initialised from `rng` (not loaded).
pub fn image_architecture(ck: &Checkpoint, path: &Path, rng: &mut Rng) -> CliResult<(Sequential, Dataset, Normalize)> {
    let (kind, _) = checkpoint_info(ck, path)?;
    Ok(match kind {
        ModelKind::Lenet => {
            let net = MnistNet::of_metadata(&ck.metadata).map_err(|e| format!("{}: {e}", path.display()))?;
            (lenet::network(net, rng), Dataset::Mnist, lenet::normalize())
        }
        ModelKind::Cnn => {
            let variant = CnnVariant::of_metadata(ck.metadata.get("variant").map(String::as_str));
            (cnn::model(variant, rng), Dataset::Cifar10, Normalize::cifar10())
        }
        other => {
            return Err(format!(
                "{}: a {} checkpoint is not an image classifier (lenet and cnn are)",
                path.display(),
                other.name()
            )
            .into())
        }
    })
}

/// The review classifier a sentiment checkpoint holds, f32 or int8 (`kiln quantize`), and its
/// vocabulary: what evaluation runs.
pub fn sentiment_model(ck: &Checkpoint, path: &Path) -> CliResult<(Box<dyn Module>, Vocab)> {
    if quant::is_quantized_sentiment(ck) {
        let net = quant::QuantizedSentiment::from_checkpoint(ck).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok((Box::new(net), checkpoint_vocab(ck, path)?));
    }
    let (net, vocab) = sentiment_classifier(ck, path)?;
    Ok((Box::new(net), vocab))
}

/// The W3 review classifier in a sentiment checkpoint, and the vocabulary saved beside it
/// (checked against the checksum the checkpoint records).
pub fn sentiment_classifier(ck: &Checkpoint, path: &Path) -> CliResult<(SentimentNet, Vocab)> {
    if quant::is_quantized(ck) {
        return Err(
            format!("{}: an int8 checkpoint; this needs the f32 checkpoint it came from", path.display()).into()
        );
    }
    if ck.metadata.contains_key(PRETRAINING_KEY) {
        return Err(format!(
            "{}: a masked-token pretraining checkpoint (an encoder, no classifier); fine-tune it with `kiln train sentiment --init`",
            path.display()
        )
        .into());
    }
    let vocab = checkpoint_vocab(ck, path)?;
    let net = SentimentNet::new(vocab.len(), &mut Rng::new(0))?;
    load_module(ck, "model", &net)?;
    Ok((net, vocab))
}

/// The vocabulary a sentiment or pretraining checkpoint names, read from beside it and checked
/// against the checksum the checkpoint records.
pub fn checkpoint_vocab(ck: &Checkpoint, path: &Path) -> CliResult<Vocab> {
    let name = ck.metadata.get("vocab").ok_or_else(|| format!("{}: names no vocabulary", path.display()))?;
    let vocab_path = path.with_file_name(name);
    if let Some(sum) = ck.metadata.get("vocab_sha256") {
        verify_sha256(&vocab_path, sum)?;
    }
    Ok(Vocab::load(&vocab_path)?)
}

/// The run configuration of a command that only evaluates (no epochs, no output folder).
pub fn evaluation_config(
    data_dir: PathBuf,
    device: Device,
    batch_size: usize,
    seed: u64,
    json: bool,
    limit: Option<usize>,
) -> RunConfig {
    RunConfig {
        epochs: 0,
        batch_size,
        lr: 0.0,
        seed,
        data_dir,
        out_dir: PathBuf::new(),
        resume: None,
        json,
        limit,
        device,
        adversarial: None,
        eval_every: 1,
    }
}
