//! The image-data side shared by LeNet, the CNN and the GAN: load a split (fetching it when
//! missing), optionally keep only the first N samples, and wrap it in a seeded loader.

use super::run::{RunConfig, RunResult};
use crate::data::{
    load_images, Augment, Dataset, FetchOptions, ImageBatcher, ImageDataset, Loader, LoaderOptions, Normalize, Split,
};

/// The first `limit` samples of `d` (all of them without a limit).
pub fn truncate(d: ImageDataset, limit: Option<usize>) -> RunResult<ImageDataset> {
    let Some(n) = limit.filter(|&n| n < d.n) else { return Ok(d) };
    let per = d.image_len();
    Ok(ImageDataset::new(
        d.images[..n * per].to_vec(),
        d.labels[..n].to_vec(),
        [d.channels, d.height, d.width],
        d.classes,
    )?)
}

pub fn load_split(dataset: Dataset, cfg: &RunConfig, split: Split) -> RunResult<ImageDataset> {
    let data = load_images(dataset, &cfg.data_dir, split, &FetchOptions::from_env())?;
    truncate(data, cfg.limit)
}

/// A loader over `data`: shuffled and augmented for training, in order and plain for testing.
pub fn loader(
    data: ImageDataset,
    cfg: &RunConfig,
    train: bool,
    augment: Augment,
    normalize: &Normalize,
) -> RunResult<Loader<ImageBatcher>> {
    let batcher = ImageBatcher::new(data, if train { augment } else { Augment::default() }, normalize)?;
    let opts =
        LoaderOptions { batch_size: cfg.batch_size, shuffle: train, drop_last: false, seed: cfg.seed, prefetch: 2 };
    Ok(Loader::new(batcher, opts)?)
}
