//! The image-data side shared by LeNet, the CNN and the GAN: load a split (fetching it when
//! missing), optionally keep a seeded, class-balanced subset of N samples, and wrap it in a seeded
//! loader.

use super::run::{RunConfig, RunResult};
use crate::data::{
    load_images, Augment, Dataset, FetchOptions, ImageBatcher, ImageDataset, Loader, LoaderOptions, Normalize, Split,
};
use kiln_tensor::Rng;

/// A seeded, class-balanced subset of `limit` samples of `d` (all of them without a limit): each
/// class's samples are shuffled with `seed`, then taken round-robin over the classes (so the
/// counts differ by at most one while every class has samples left), and kept in the split's
/// order. Not the first N: CIFAR-10 decoded from the JPEG archive is ordered by class.
pub fn subset(d: ImageDataset, limit: Option<usize>, seed: u64) -> RunResult<ImageDataset> {
    let Some(n) = limit.filter(|&n| n < d.n) else { return Ok(d) };
    let picked = balanced_indices(&d, n, seed);
    select(&d, &picked)
}

/// Splits `n` seeded, class-balanced samples off `d` (picked as [`subset`] picks them): returns
/// the rest and the held-out part, each in the split's order, disjoint, together all of `d`.
pub fn hold_out(d: ImageDataset, n: usize, seed: u64) -> RunResult<(ImageDataset, ImageDataset)> {
    let held = balanced_indices(&d, n.min(d.n), seed);
    let mut is_held = vec![false; d.n];
    held.iter().for_each(|&i| is_held[i] = true);
    let rest: Vec<usize> = (0..d.n).filter(|&i| !is_held[i]).collect();
    Ok((select(&d, &rest)?, select(&d, &held)?))
}

/// The indices of `n <= d.n` class-balanced samples, sorted.
fn balanced_indices(d: &ImageDataset, n: usize, seed: u64) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); d.classes.len()];
    for (i, &label) in d.labels.iter().enumerate() {
        by_class[label as usize].push(i);
    }
    let mut rng = Rng::new(seed);
    by_class.iter_mut().for_each(|c| rng.shuffle(c));
    let mut picked = Vec::with_capacity(n);
    'fill: for round in 0.. {
        for class in &by_class {
            if picked.len() == n {
                break 'fill;
            }
            if let Some(&i) = class.get(round) {
                picked.push(i);
            }
        }
    }
    picked.sort_unstable();
    picked
}

/// The samples of `d` at `indices`, in that order.
fn select(d: &ImageDataset, indices: &[usize]) -> RunResult<ImageDataset> {
    let per = d.image_len();
    let images = indices.iter().flat_map(|&i| d.images[i * per..(i + 1) * per].iter().copied()).collect();
    let labels = indices.iter().map(|&i| d.labels[i]).collect();
    Ok(ImageDataset::new(images, labels, [d.channels, d.height, d.width], d.classes.clone())?)
}

/// The seed of every test subset.
const TEST_SUBSET_SEED: u64 = 0x7e57;

pub fn load_split(dataset: Dataset, cfg: &RunConfig, split: Split) -> RunResult<ImageDataset> {
    let data = load_images(dataset, &cfg.data_dir, split, &FetchOptions::from_env())?;
    // The training subset follows the run's seed; the test subset is the same for every seed, so
    // `kiln eval --limit N` scores a checkpoint on the images its run was tested on.
    subset(data, cfg.limit, if split == Split::Train { cfg.seed } else { TEST_SUBSET_SEED })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// 30 samples ordered by class (as the JPEG-decoded CIFAR-10 is): ten of class 0, then 1, 2.
    fn ordered() -> ImageDataset {
        let labels: Vec<u8> = (0..30).map(|i| (i / 10) as u8).collect();
        let images: Vec<u8> = (0..30).collect();
        ImageDataset::new(images, labels, [1, 1, 1], vec!["a".into(), "b".into(), "c".into()]).unwrap()
    }

    #[test]
    fn subset_is_class_balanced_seeded_and_in_order() {
        let d = subset(ordered(), Some(7), 3).unwrap();
        assert_eq!(d.n, 7);
        let count = |c: u8| d.labels.iter().filter(|&&l| l == c).count();
        assert_eq!([count(0), count(1), count(2)], [3, 2, 2]);
        // Each image is its original index: still in the split's order, and each label its own.
        assert!(d.images.windows(2).all(|w| w[0] < w[1]));
        assert!(d.images.iter().zip(&d.labels).all(|(&i, &l)| i / 10 == l));
        assert_eq!(subset(ordered(), Some(7), 3).unwrap().images, d.images);
        assert_ne!(subset(ordered(), Some(7), 4).unwrap().images, d.images);
        assert_eq!(subset(ordered(), Some(30), 3).unwrap().n, 30);
        assert_eq!(subset(ordered(), None, 3).unwrap().n, 30);
    }

    #[test]
    fn hold_out_splits_disjoint_balanced_parts_that_cover_the_set() {
        let (rest, held) = hold_out(ordered(), 6, 5).unwrap();
        assert_eq!((rest.n, held.n), (24, 6));
        assert!(held.labels.iter().all(|&l| held.labels.iter().filter(|&&m| m == l).count() == 2));
        let mut all: Vec<u8> = rest.images.iter().chain(&held.images).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..30).collect::<Vec<u8>>());
        assert_eq!(held.images, subset(ordered(), Some(6), 5).unwrap().images, "the same pick as subset");
    }

    #[test]
    fn subset_takes_the_rest_from_classes_that_still_have_samples() {
        // Two of class 0 and eight of class 1: 6 samples take both 0s and four 1s.
        let labels = vec![0, 0, 1, 1, 1, 1, 1, 1, 1, 1];
        let d = ImageDataset::new((0..10).collect(), labels, [1, 1, 1], vec!["a".into(), "b".into()]).unwrap();
        let s = subset(d, Some(6), 1).unwrap();
        assert_eq!(s.labels.iter().filter(|&&l| l == 0).count(), 2);
        assert_eq!(s.n, 6);
    }
}
