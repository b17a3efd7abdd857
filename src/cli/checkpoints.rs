//! Rebuilding a model from a checkpoint for the commands that use one without training it
//! (`eval`, `attack`): which network, dataset and input normalisation a checkpoint stands for.

use super::CliResult;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{Dataset, Normalize};
use kiln::models::nn::Module;
use kiln::models::zoo::cnn::{self, CnnVariant};
use kiln::models::zoo::run::{checkpoint_info, load_module};
use kiln::models::zoo::{lenet, ModelKind};
use kiln::tensor::Rng;
use std::path::Path;

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
