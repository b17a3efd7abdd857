//! The two [`BatchSource`]s: [`ImageBatcher`] turns u8 CHW images into an f32 NCHW tensor, with
//! optional per-sample augmentation (random crop from a zero-padded image, horizontal flip) and a
//! per-channel normalisation (mean/std, [0,1] or [-1,1]); [`TokenBatcher`] turns encoded texts into
//! an i64 [batch, seq_len] tensor. Labels are i64 [batch]. Sample order is the loader's business.

use super::dataset::ImageDataset;
use super::error::{DataError, Result};
use super::loader::{Batch, BatchSource};
use super::tokenizer::EncodedTexts;
use kiln_tensor::{Rng, Tensor};
use std::sync::Arc;

/// Per-sample random augmentation, seeded by the loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augment {
    /// Pad each side with this many zero pixels, then crop back to the original size at a random
    /// offset (0 = no cropping).
    pub crop_padding: usize,
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
}

impl Augment {
    /// The usual CIFAR-10 augmentation: 4-pixel padded random crop and horizontal flip.
    pub fn crop_and_flip() -> Self {
        Augment { crop_padding: 4, hflip: true }
    }
}

/// How u8 pixels become f32 inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Normalize {
    /// `p / 255`, in [0, 1].
    Unit,
    /// `p / 127.5 - 1`, in [-1, 1] (the GAN's tanh range).
    Symmetric,
    /// `(p / 255 - mean[c]) / std[c]`.
    MeanStd { mean: Vec<f32>, std: Vec<f32> },
}

impl Normalize {
    /// CIFAR-10's training-set channel statistics.
    pub fn cifar10() -> Self {
        Normalize::MeanStd { mean: vec![0.4914, 0.4822, 0.4465], std: vec![0.2470, 0.2435, 0.2616] }
    }

    /// MNIST's training-set statistics.
    pub fn mnist() -> Self {
        Normalize::MeanStd { mean: vec![0.1307], std: vec![0.3081] }
    }

    /// (scale, shift) per channel so that `out = p * scale + shift`.
    fn affine(&self, channels: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        match self {
            Normalize::Unit => Ok((vec![1.0 / 255.0; channels], vec![0.0; channels])),
            Normalize::Symmetric => Ok((vec![2.0 / 255.0; channels], vec![-1.0; channels])),
            Normalize::MeanStd { mean, std } => {
                if mean.len() != channels || std.len() != channels {
                    let msg = format!("{} means and {} stds for {channels} channels", mean.len(), std.len());
                    return Err(DataError::Config { what: "normalisation", msg });
                }
                if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
                    return Err(DataError::Config { what: "normalisation", msg: format!("std {s} is not positive") });
                }
                let scale = std.iter().map(|s| 1.0 / (255.0 * s)).collect();
                let shift = mean.iter().zip(std).map(|(m, s)| -m / s).collect();
                Ok((scale, shift))
            }
        }
    }
}

/// Batches of images as f32 NCHW.
pub struct ImageBatcher {
    data: Arc<ImageDataset>,
    augment: Augment,
    scale: Vec<f32>,
    shift: Vec<f32>,
}

impl ImageBatcher {
    pub fn new(data: impl Into<Arc<ImageDataset>>, augment: Augment, normalize: &Normalize) -> Result<Self> {
        let data = data.into();
        let (scale, shift) = normalize.affine(data.channels)?;
        Ok(ImageBatcher { data, augment, scale, shift })
    }

    pub fn dataset(&self) -> &ImageDataset {
        &self.data
    }

    /// Writes sample `i`, augmented with `seed`, normalised, into `out` (CHW).
    fn write_sample(&self, i: usize, seed: u64, out: &mut [f32]) {
        let d = &*self.data;
        let (h, w, p) = (d.height as isize, d.width as isize, self.augment.crop_padding as isize);
        let mut rng = Rng::new(seed);
        let (dy, dx) = if p > 0 {
            (rng.below(2 * p as usize + 1) as isize, rng.below(2 * p as usize + 1) as isize)
        } else {
            (p, p)
        };
        let flip = self.augment.hflip && rng.next_u64() >> 63 == 1;
        let src = d.image(i);
        for c in 0..d.channels {
            let plane = &src[c * (h * w) as usize..][..(h * w) as usize];
            let dst = &mut out[c * (h * w) as usize..][..(h * w) as usize];
            let (scale, shift) = (self.scale[c], self.shift[c]);
            for y in 0..h {
                let sy = y + dy - p;
                for x in 0..w {
                    let sx = if flip { w - 1 - x } else { x } + dx - p;
                    let px =
                        if (0..h).contains(&sy) && (0..w).contains(&sx) { plane[(sy * w + sx) as usize] } else { 0 };
                    dst[(y * w + x) as usize] = px as f32 * scale + shift;
                }
            }
        }
    }
}

impl BatchSource for ImageBatcher {
    fn len(&self) -> usize {
        self.data.n
    }

    fn batch(&self, indices: &[usize], seeds: &[u64]) -> Result<Batch> {
        let d = &*self.data;
        let per = d.image_len();
        let mut pixels = vec![0f32; indices.len() * per];
        for ((&i, &seed), out) in indices.iter().zip(seeds).zip(pixels.chunks_exact_mut(per.max(1))) {
            self.write_sample(i, seed, out);
        }
        let labels: Vec<i64> = indices.iter().map(|&i| d.labels[i] as i64).collect();
        Ok(Batch {
            inputs: Tensor::from_vec(pixels, [indices.len(), d.channels, d.height, d.width])?,
            labels: Tensor::from_vec(labels, [indices.len()])?,
            indices: indices.to_vec(),
        })
    }
}

/// Batches of fixed-length token-id sequences as i64 [batch, seq_len].
pub struct TokenBatcher {
    data: Arc<EncodedTexts>,
}

impl TokenBatcher {
    pub fn new(data: impl Into<Arc<EncodedTexts>>) -> Result<Self> {
        let data = data.into();
        let n = data.labels.len();
        if data.ids.len() != n * data.seq_len || data.lengths.len() != n {
            let what = format!("token ids for {n} sequences of {} (and as many lengths)", data.seq_len);
            return Err(DataError::Count { what, expected: n * data.seq_len, got: data.ids.len() });
        }
        Ok(TokenBatcher { data })
    }

    pub fn texts(&self) -> &EncodedTexts {
        &self.data
    }
}

impl BatchSource for TokenBatcher {
    fn len(&self) -> usize {
        self.data.labels.len()
    }

    fn batch(&self, indices: &[usize], _seeds: &[u64]) -> Result<Batch> {
        let l = self.data.seq_len;
        let ids: Vec<i64> =
            indices.iter().flat_map(|&i| self.data.ids[i * l..(i + 1) * l].iter().map(|&t| t as i64)).collect();
        let labels: Vec<i64> = indices.iter().map(|&i| self.data.labels[i] as i64).collect();
        Ok(Batch {
            inputs: Tensor::from_vec(ids, [indices.len(), l])?,
            labels: Tensor::from_vec(labels, [indices.len()])?,
            indices: indices.to_vec(),
        })
    }
}
