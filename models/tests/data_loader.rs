//! The loader and batchers: determinism for a seed (with and without prefetch), a new order per
//! epoch, every sample exactly once per epoch, partial batches kept or dropped, augmentation checked
//! against a slow pad-crop-flip reference, normalisation values, and token batches.

use kiln_models::data::*;

/// `n` 3x5x4 images with pixel values that differ between positions and samples.
fn dataset(n: usize) -> ImageDataset {
    let (c, h, w) = (3, 5, 4);
    let images = (0..n * c * h * w).map(|i| (i * 37 % 251 + 1) as u8).collect();
    let labels = (0..n).map(|i| (i % 3) as u8).collect();
    ImageDataset::new(images, labels, [c, h, w], vec!["a".into(), "b".into(), "c".into()]).unwrap()
}

fn opts(batch_size: usize, prefetch: usize) -> LoaderOptions {
    LoaderOptions { batch_size, shuffle: true, drop_last: false, seed: 42, prefetch }
}

fn collect(loader: &Loader<ImageBatcher>, epoch: u64) -> Vec<(Vec<usize>, Vec<f32>, Vec<i64>)> {
    loader
        .epoch(epoch)
        .map(|b| {
            let b = b.unwrap();
            (b.indices, b.inputs.to_vec::<f32>().unwrap(), b.labels.to_vec::<i64>().unwrap())
        })
        .collect()
}

fn image_loader(n: usize, o: LoaderOptions, augment: Augment) -> Loader<ImageBatcher> {
    Loader::new(ImageBatcher::new(dataset(n), augment, &Normalize::Unit).unwrap(), o).unwrap()
}

#[test]
fn same_seed_same_batches_with_or_without_prefetch() {
    let aug = Augment::crop_and_flip();
    let a = collect(&image_loader(50, opts(8, 0), aug), 3);
    let b = collect(&image_loader(50, opts(8, 3), aug), 3);
    let c = collect(&image_loader(50, opts(8, 1), aug), 3);
    assert_eq!(a, b);
    assert_eq!(a, c);
    let other_seed = collect(&image_loader(50, LoaderOptions { seed: 43, ..opts(8, 2) }, aug), 3);
    assert_ne!(a[0].0, other_seed[0].0);
}

#[test]
fn epochs_differ_and_visit_every_sample_once() {
    let loader = image_loader(50, opts(8, 2), Augment::default());
    assert_eq!(loader.batches_per_epoch(), 7);
    let orders: Vec<Vec<usize>> = (0..3).map(|e| collect(&loader, e).into_iter().flat_map(|b| b.0).collect()).collect();
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
    for order in &orders {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
    let sizes: Vec<usize> = collect(&loader, 0).iter().map(|b| b.0.len()).collect();
    assert_eq!(sizes, [8, 8, 8, 8, 8, 8, 2]);
    let dropped = image_loader(50, LoaderOptions { drop_last: true, ..opts(8, 2) }, Augment::default());
    assert_eq!(dropped.batches_per_epoch(), 6);
    assert_eq!(collect(&dropped, 0).len(), 6);
    let in_order = image_loader(10, LoaderOptions { shuffle: false, ..opts(4, 0) }, Augment::default());
    assert_eq!(collect(&in_order, 5)[0].0, [0, 1, 2, 3]);
}

#[test]
fn unaugmented_batches_are_the_pixels_and_labels() {
    let data = dataset(6);
    let loader = image_loader(6, LoaderOptions { shuffle: false, ..opts(4, 0) }, Augment::default());
    let batch = loader.epoch(0).next().unwrap().unwrap();
    assert_eq!(batch.inputs.shape().dims(), [4, 3, 5, 4]);
    assert_eq!(batch.labels.shape().dims(), [4]);
    let got = batch.inputs.to_vec::<f32>().unwrap();
    assert_eq!(got.len(), 4 * 60);
    for (g, &p) in got.iter().zip(&data.images) {
        assert!((g - p as f32 / 255.0).abs() < 1e-6, "{g} vs pixel {p}");
    }
    assert_eq!(batch.labels.to_vec::<i64>().unwrap(), [0, 1, 2, 0]);
}

/// Slow reference: pad the CHW image with `p` zeros on each side, cut the window at (dy, dx), and
/// mirror it if asked.
fn reference_crop(img: &[u8], [c, h, w]: [usize; 3], p: usize, dy: usize, dx: usize, flip: bool) -> Vec<u8> {
    let (ph, pw) = (h + 2 * p, w + 2 * p);
    let mut padded = vec![0u8; c * ph * pw];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                padded[(ch * ph + y + p) * pw + x + p] = img[(ch * h + y) * w + x];
            }
        }
    }
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let sx = if flip { w - 1 - x } else { x };
                out.push(padded[(ch * ph + y + dy) * pw + sx + dx]);
            }
        }
    }
    out
}

#[test]
fn augmentation_is_a_padded_crop_and_flip_of_the_sample() {
    let data = dataset(64);
    let loader = image_loader(64, opts(16, 2), Augment::crop_and_flip());
    let mut seen = std::collections::HashSet::new();
    for batch in loader.epoch(0) {
        let batch = batch.unwrap();
        assert_eq!(batch.inputs.shape().dims(), [batch.indices.len(), 3, 5, 4]);
        let values = batch.inputs.to_vec::<f32>().unwrap();
        for (k, &i) in batch.indices.iter().enumerate() {
            let got: Vec<u8> = values[k * 60..(k + 1) * 60].iter().map(|v| (v * 255.0).round() as u8).collect();
            let found = (0..9)
                .flat_map(|dy| (0..9).flat_map(move |dx| [(dy, dx, false), (dy, dx, true)]))
                .find(|&(dy, dx, flip)| reference_crop(data.image(i), [3, 5, 4], 4, dy, dx, flip) == got);
            let found = found.unwrap_or_else(|| panic!("sample {i} is no padded crop/flip of its image"));
            seen.insert(found);
        }
    }
    assert!(seen.len() > 20, "offsets and flips vary between samples: {seen:?}");
    assert!(seen.iter().any(|s| s.2) && seen.iter().any(|s| !s.2), "both flipped and unflipped samples");
}

#[test]
fn normalisations() {
    let data = ImageDataset::new(vec![0, 255, 51, 0, 255, 51], vec![0], [2, 1, 3], vec!["x".into()]).unwrap();
    let first = |norm: Normalize| -> Vec<f32> {
        let batcher = ImageBatcher::new(data.clone(), Augment::default(), &norm).unwrap();
        let loader = Loader::new(batcher, LoaderOptions { prefetch: 0, ..Default::default() }).unwrap();
        loader.epoch(0).next().unwrap().unwrap().inputs.to_vec::<f32>().unwrap()
    };
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
    assert!(close(&first(Normalize::Unit), &[0.0, 1.0, 0.2, 0.0, 1.0, 0.2]));
    assert!(close(&first(Normalize::Symmetric), &[-1.0, 1.0, -0.6, -1.0, 1.0, -0.6]));
    let ms = Normalize::MeanStd { mean: vec![0.5, 0.2], std: vec![0.5, 0.1] };
    assert!(close(&first(ms), &[-1.0, 1.0, -0.6, -2.0, 8.0, 0.0]));
    let bad = Normalize::MeanStd { mean: vec![0.5], std: vec![0.5] };
    assert!(matches!(ImageBatcher::new(data.clone(), Augment::default(), &bad), Err(DataError::Config { .. })));
    let zero = Normalize::MeanStd { mean: vec![0.5, 0.5], std: vec![0.5, 0.0] };
    assert!(matches!(ImageBatcher::new(data, Augment::default(), &zero), Err(DataError::Config { .. })));
}

#[test]
fn token_batches_and_early_drop() {
    let texts = TextDataset {
        texts: vec!["good film".into(), "bad".into(), "good good bad film".into()],
        labels: vec![1, 0, 1],
    };
    let vocab = Vocab::build(texts.texts.iter().map(String::as_str), 10);
    let enc = vocab.encode_dataset(&texts, &EncodeOptions { seq_len: 3, ..Default::default() });
    let loader =
        Loader::new(TokenBatcher::new(enc.clone()).unwrap(), LoaderOptions { batch_size: 2, ..Default::default() })
            .unwrap();
    let mut epoch = loader.epoch(0);
    let batch = epoch.next().unwrap().unwrap();
    assert_eq!(batch.inputs.shape().dims(), [2, 3]);
    let ids = batch.inputs.to_vec::<i64>().unwrap();
    for (k, &i) in batch.indices.iter().enumerate() {
        let want: Vec<i64> = enc.ids[i * 3..i * 3 + 3].iter().map(|&t| t as i64).collect();
        assert_eq!(ids[k * 3..k * 3 + 3], want[..]);
    }
    drop(epoch); // stops the prefetch thread with a batch still queued
    assert_eq!(loader.epoch(1).count(), 2);
    assert!(
        Loader::new(TokenBatcher::new(enc).unwrap(), LoaderOptions { batch_size: 0, ..Default::default() }).is_err()
    );
}
