//! Rebuilding a model from a checkpoint for the commands that use one without training it
//! (`eval`, `attack`): which network, dataset and input normalisation a checkpoint stands for.

use super::CliResult;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{Dataset, Normalize};
use kiln::models::nn::Module;
use kiln::models::zoo::cnn::{self, CnnVariant};
use kiln::models::zoo::run::{checkpoint_info, load_module};
use kiln::models::zoo::{lenet, ModelKind, RunConfig};
use kiln::tensor::Device;
use kiln::tensor::Rng;
use std::path::{Path, PathBuf};

/// The image classifier in a checkpoint, with its dataset and the normalisation it was trained on.
pub fn image_classifier(ck: &Checkpoint, path: &Path) -> CliResult<(Box<dyn Module>, Dataset, Normalize)> {
    let (kind, _) = checkpoint_info(ck, path)?;
    let (model, dataset, norm): (Box<dyn Module>, _, _) = match kind {
        ModelKind::Lenet => (Box::new(lenet::model(&mut Rng::new(0))), Dataset::Mnist, lenet::normalize()),
        ModelKind::Cnn => {
            let variant = match ck.metadata.get("variant").map(String::as_str) {
                Some(v) if v.starts_with("BatchNorm") => CnnVariant::BatchNorm { dropout: 0.5 },
                _ => CnnVariant::Plain,
            };
            (Box::new(cnn::model(variant, &mut Rng::new(0))), Dataset::Cifar10, Normalize::cifar10())
        }
        other => {
            return Err(format!(
                "{}: a {} checkpoint is not an image classifier (lenet and cnn are)",
                path.display(),
                other.name()
            )
            .into())
        }
    };
    load_module(ck, "model", model.as_ref())?;
    Ok((model, dataset, norm))
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
    }
}
