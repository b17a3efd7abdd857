//! The in-memory datasets every reader produces and every loader consumes: [`ImageDataset`] (u8
//! pixels, CHW per sample) shared by MNIST, Fashion-MNIST and CIFAR-10, and [`TextDataset`] (raw review
//! texts) for IMDB; plus the [`Split`] tag and the canonical class names. No file reading here.

use super::error::{DataError, Result};
use std::fmt;

/// Which half of a dataset's standard train/test split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// The folder name the image-folder and aclImdb layouts use.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CIFAR-10's class names in label order (as in the original `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Fashion-MNIST's class names in label order (from the Zalando release notes).
pub const FASHION_MNIST_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// MNIST's class names: the digits.
pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// `n` images of `channels x height x width` u8 pixels, stored sample after sample, each in CHW
/// order, with one label per sample indexing into `classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub n: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub classes: Vec<String>,
}

impl ImageDataset {
    /// Builds a dataset, checking that the pixel and label counts agree with `n` and the image size
    /// and that every label names a class.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u8>,
        [channels, height, width]: [usize; 3],
        classes: Vec<String>,
    ) -> Result<Self> {
        let n = labels.len();
        let per = channels * height * width;
        if images.len() != n * per {
            return Err(DataError::Count {
                what: format!("pixels for {n} images of {channels}x{height}x{width}"),
                expected: n * per,
                got: images.len(),
            });
        }
        if let Some(index) = labels.iter().position(|&l| l as usize >= classes.len()) {
            return Err(DataError::Label {
                path: "<in memory>".into(),
                index,
                label: labels[index] as u32,
                classes: classes.len(),
            });
        }
        Ok(ImageDataset { images, labels, n, channels, height, width, classes })
    }

    /// Bytes per image (`channels * height * width`).
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The CHW pixels of sample `i` (panics if `i >= n`, like slice indexing).
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.images[i * len..(i + 1) * len]
    }

    /// How many samples carry each label, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

/// Texts with binary sentiment labels (0 negative, 1 positive), in the order the reader produced them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TextDataset {
    pub texts: Vec<String>,
    pub labels: Vec<u8>,
}

impl TextDataset {
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }
}
