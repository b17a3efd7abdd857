//! MNIST and Fashion-MNIST: the IDX file format (raw or gzipped, told apart by the gzip magic) with
//! its magic numbers (2051 images, 2049 labels), dimensions and file length checked against the
//! header, and the four-file folder layout of both releases. Reading only: fetching lives in `fetch`.

use super::dataset::{ImageDataset, Split};
use super::error::{DataError, Result};
use super::fsutil::read_maybe_gz;
use std::path::{Path, PathBuf};

/// Magic of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file of unsigned bytes with 1 dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// The images of one IDX file: `n` grey images of `height x width` bytes, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Checks the header length and magic; `path` only names the file in errors.
/// The magic is checked first (as soon as 4 bytes are there): it says more than a length would.
fn check_header(bytes: &[u8], path: &Path, header: usize, magic: u32, what: &'static str) -> Result<()> {
    let short = || DataError::Length { path: path.into(), expected: header as u64, got: bytes.len() as u64 };
    if bytes.len() < 4 {
        return Err(short());
    }
    let got = be_u32(bytes, 0);
    if got != magic {
        return Err(DataError::BadMagic { path: path.into(), what, expected: magic, got });
    }
    if bytes.len() < header {
        return Err(short());
    }
    Ok(())
}

/// Parses the bytes of an (already gunzipped) IDX images file.
pub fn parse_idx_images(mut bytes: Vec<u8>, path: &Path) -> Result<IdxImages> {
    check_header(&bytes, path, 16, IDX_IMAGES_MAGIC, "IDX images")?;
    let [n, height, width] = [4, 8, 12].map(|at| be_u32(&bytes, at) as u64);
    if height == 0 || width == 0 {
        return Err(DataError::header(path, format!("image size {height}x{width} is empty")));
    }
    // Three u32 fields can describe up to 2^96 bytes: checked, so a forged header is an error.
    let expected = n.checked_mul(height).and_then(|p| p.checked_mul(width)).and_then(|p| p.checked_add(16));
    let Some(expected) = expected else {
        return Err(DataError::header(path, format!("{n} images of {height}x{width} overflow a file size")));
    };
    if bytes.len() as u64 != expected {
        return Err(DataError::Length { path: path.into(), expected, got: bytes.len() as u64 });
    }
    bytes.drain(..16);
    Ok(IdxImages { n: n as usize, height: height as usize, width: width as usize, pixels: bytes })
}

/// Parses the bytes of an (already gunzipped) IDX labels file.
pub fn parse_idx_labels(mut bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    check_header(&bytes, path, 8, IDX_LABELS_MAGIC, "IDX labels")?;
    let n = be_u32(&bytes, 4) as u64;
    if bytes.len() as u64 != 8 + n {
        return Err(DataError::Length { path: path.into(), expected: 8 + n, got: bytes.len() as u64 });
    }
    bytes.drain(..8);
    Ok(bytes)
}

pub fn read_idx_images(path: &Path) -> Result<IdxImages> {
    parse_idx_images(read_maybe_gz(path)?, path)
}

pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    parse_idx_labels(read_maybe_gz(path)?, path)
}

/// The release's file name for a split's images or labels (`train-images-idx3-ubyte`, `t10k-...`).
pub fn idx_file_name(split: Split, images: bool) -> &'static str {
    match (split, images) {
        (Split::Train, true) => "train-images-idx3-ubyte",
        (Split::Train, false) => "train-labels-idx1-ubyte",
        (Split::Test, true) => "t10k-images-idx3-ubyte",
        (Split::Test, false) => "t10k-labels-idx1-ubyte",
    }
}

/// The four file names of an MNIST-format release, train images first.
pub fn idx_file_names() -> [&'static str; 4] {
    [
        idx_file_name(Split::Train, true),
        idx_file_name(Split::Train, false),
        idx_file_name(Split::Test, true),
        idx_file_name(Split::Test, false),
    ]
}

/// Finds `dir/name`, or `dir/name.gz` when only the gzipped file is there.
pub fn find_idx_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::Missing { path: raw, what: "IDX file, raw or with .gz".into() })
}

/// Reads one split of an MNIST-format folder as a 1-channel [`ImageDataset`], checking that images
/// and labels agree in count and that every label is below `classes.len()`.
pub fn read_mnist_dir(dir: &Path, split: Split, classes: &[&str]) -> Result<ImageDataset> {
    let images_path = find_idx_file(dir, idx_file_name(split, true))?;
    let labels_path = find_idx_file(dir, idx_file_name(split, false))?;
    let images = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if labels.len() != images.n {
        return Err(DataError::Count {
            what: format!("labels in {} for the images in {}", labels_path.display(), images_path.display()),
            expected: images.n,
            got: labels.len(),
        });
    }
    if let Some(index) = labels.iter().position(|&l| l as usize >= classes.len()) {
        let label = labels[index] as u32;
        return Err(DataError::Label { path: labels_path, index, label, classes: classes.len() });
    }
    let classes = classes.iter().map(|c| c.to_string()).collect();
    ImageDataset::new(images.pixels, labels, [1, images.height, images.width], classes)
}

/// Serialises images in the IDX format (used by tests and by anyone converting data to MNIST form).
pub fn encode_idx_images(images: &IdxImages) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + images.pixels.len());
    for v in [IDX_IMAGES_MAGIC, images.n as u32, images.height as u32, images.width as u32] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    out
}

/// Serialises labels in the IDX format.
pub fn encode_idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&IDX_LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header_checks() {
        let imgs = IdxImages { n: 2, height: 2, width: 3, pixels: (0..12).collect() };
        let p = Path::new("x");
        assert_eq!(parse_idx_images(encode_idx_images(&imgs), p).unwrap(), imgs);
        assert_eq!(parse_idx_labels(encode_idx_labels(&[3, 4]), p).unwrap(), vec![3, 4]);
        let mut long = encode_idx_images(&imgs);
        long.push(0);
        assert!(matches!(parse_idx_images(long, p), Err(DataError::Length { expected: 28, got: 29, .. })));
        assert!(matches!(parse_idx_images(vec![0, 0, 8], p), Err(DataError::Length { expected: 16, .. })));
        let swapped = parse_idx_images(encode_idx_labels(&[1; 20]), p);
        assert!(matches!(swapped, Err(DataError::BadMagic { expected: 2051, got: 2049, .. })));
    }
}
