//! One call from a data dir to an in-memory split: fetch (or find) a validated copy, then read it with
//! the reader that fits its layout. What the training loop and the CLI call; no parsing of its own.

use super::cifar::{read_cifar_binary_dir, read_cifar_files, read_class_names};
use super::dataset::{ImageDataset, Split, TextDataset, FASHION_MNIST_CLASSES, MNIST_CLASSES};
use super::error::{DataError, Result};
use super::fetch::{fetch_with, Dataset, FetchOptions};
use super::imdb::{read_aclimdb, read_reviews_json};
use super::mnist::read_mnist_dir;
use super::validate::DataFiles;
use std::path::Path;

/// MNIST's split, fetched into `data_dir/mnist` first if needed (options from the environment).
pub fn load_mnist(data_dir: &Path, split: Split) -> Result<ImageDataset> {
    load_images(Dataset::Mnist, data_dir, split, &FetchOptions::from_env())
}

/// Fashion-MNIST's split, fetched into `data_dir/fashion-mnist` first if needed.
pub fn load_fashion_mnist(data_dir: &Path, split: Split) -> Result<ImageDataset> {
    load_images(Dataset::FashionMnist, data_dir, split, &FetchOptions::from_env())
}

/// CIFAR-10's split, fetched into `data_dir/cifar10` first if needed.
pub fn load_cifar10(data_dir: &Path, split: Split) -> Result<ImageDataset> {
    load_images(Dataset::Cifar10, data_dir, split, &FetchOptions::from_env())
}

/// IMDB's split, fetched into `data_dir/imdb` first if needed.
pub fn load_imdb(data_dir: &Path, split: Split) -> Result<TextDataset> {
    load_texts(data_dir, split, &FetchOptions::from_env())
}

/// An image dataset's split with explicit fetch options.
pub fn load_images(dataset: Dataset, data_dir: &Path, split: Split, opts: &FetchOptions) -> Result<ImageDataset> {
    let report = fetch_with(dataset, data_dir, opts)?;
    match (dataset, &report.files) {
        (Dataset::Mnist, DataFiles::Idx(dir)) => read_mnist_dir(dir, split, &MNIST_CLASSES),
        (Dataset::FashionMnist, DataFiles::Idx(dir)) => read_mnist_dir(dir, split, &FASHION_MNIST_CLASSES),
        (Dataset::Cifar10, DataFiles::CifarBinary(dir)) => read_cifar_binary_dir(dir, split),
        (Dataset::Cifar10, DataFiles::CifarDecoded(dir)) => {
            let file = dir.join(format!("{split}.bin"));
            read_cifar_files(&[&file], read_class_names(dir)?)
        }
        (_, files) => {
            Err(DataError::Config { what: "dataset", msg: format!("{dataset} is not an image dataset ({files:?})") })
        }
    }
}

/// IMDB's split with explicit fetch options.
pub fn load_texts(data_dir: &Path, split: Split, opts: &FetchOptions) -> Result<TextDataset> {
    let report = fetch_with(Dataset::Imdb, data_dir, opts)?;
    match &report.files {
        DataFiles::ImdbJson(path) => read_reviews_json(path, split),
        DataFiles::AclImdb(root) => read_aclimdb(root, split),
        files => {
            Err(DataError::Config { what: "dataset", msg: format!("imdb files in an unexpected layout ({files:?})") })
        }
    }
}
