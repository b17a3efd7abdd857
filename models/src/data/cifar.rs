//! CIFAR-10's original binary format: records of 1 label byte + 3072 pixel bytes (R, G, B planes of
//! 32x32, i.e. CHW), `data_batch_1..5.bin` for training and `test_batch.bin` for testing, class names
//! in `batches.meta.txt`. Reads (length and labels checked) and writes the format; the JPEG/PNG
//! folder layout lives in `image_folder`, downloading in `fetch`.

use super::dataset::{ImageDataset, Split, CIFAR10_CLASSES};
use super::error::{DataError, Result};
use super::fsutil::atomic_write;
use std::fs;
use std::path::Path;

/// Channels, height and width of a CIFAR image.
pub const CIFAR_SHAPE: [usize; 3] = [3, 32, 32];
/// Bytes per record: one label byte and 3x32x32 pixels.
pub const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
/// Records in each file of the original release.
pub const CIFAR_RECORDS_PER_BATCH: usize = 10_000;

/// The original release's batch file names for a split.
pub fn cifar_batch_names(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => {
            &["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
        }
        Split::Test => &["test_batch.bin"],
    }
}

/// Splits the bytes of a record file into (CHW pixels, labels); `path` names the file in errors.
/// Labels must be below `classes`.
pub fn parse_cifar_records(bytes: &[u8], path: &Path, classes: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    if !bytes.len().is_multiple_of(CIFAR_RECORD) {
        return Err(DataError::RecordLength { path: path.into(), got: bytes.len() as u64, record: CIFAR_RECORD });
    }
    let n = bytes.len() / CIFAR_RECORD;
    let mut pixels = Vec::with_capacity(n * (CIFAR_RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (index, record) in bytes.chunks_exact(CIFAR_RECORD).enumerate() {
        if record[0] as usize >= classes {
            return Err(DataError::Label { path: path.into(), index, label: record[0] as u32, classes });
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok((pixels, labels))
}

/// Reads record files one after another into one dataset with the given class names.
pub fn read_cifar_files(paths: &[&Path], classes: Vec<String>) -> Result<ImageDataset> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for path in paths {
        let bytes = fs::read(path).map_err(|e| DataError::io(*path, e))?;
        let (p, l) = parse_cifar_records(&bytes, path, classes.len())?;
        pixels.extend_from_slice(&p);
        labels.extend_from_slice(&l);
    }
    ImageDataset::new(pixels, labels, CIFAR_SHAPE, classes)
}

/// Class names from `batches.meta.txt` (one per line, blank lines ignored) when the folder has one,
/// else the canonical CIFAR-10 names.
pub fn read_class_names(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("batches.meta.txt");
    if !path.is_file() {
        return Ok(CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect());
    }
    let text = fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
    if names.is_empty() || names.len() > 256 {
        return Err(DataError::header(&path, format!("{} class names; expected 1 to 256", names.len())));
    }
    Ok(names)
}

/// Reads one split of an original `cifar-10-batches-bin` folder, each file checked to hold exactly
/// `CIFAR_RECORDS_PER_BATCH` records.
pub fn read_cifar_binary_dir(dir: &Path, split: Split) -> Result<ImageDataset> {
    let classes = read_class_names(dir)?;
    let paths: Vec<_> = cifar_batch_names(split).iter().map(|name| dir.join(name)).collect();
    for path in &paths {
        check_record_count(path, CIFAR_RECORDS_PER_BATCH)?;
    }
    read_cifar_files(&paths.iter().map(|p| p.as_path()).collect::<Vec<_>>(), classes)
}

/// Checks from its length alone that a record file holds exactly `records` records.
pub fn check_record_count(path: &Path, records: usize) -> Result<()> {
    let len = fs::metadata(path).map_err(|e| DataError::io(path, e))?.len();
    let expected = (records * CIFAR_RECORD) as u64;
    if !len.is_multiple_of(CIFAR_RECORD as u64) {
        return Err(DataError::RecordLength { path: path.into(), got: len, record: CIFAR_RECORD });
    }
    if len != expected {
        return Err(DataError::Length { path: path.into(), expected, got: len });
    }
    Ok(())
}

/// Serialises a 3x32x32 dataset as CIFAR records.
pub fn encode_cifar_records(data: &ImageDataset) -> Result<Vec<u8>> {
    let shape = [data.channels, data.height, data.width];
    if shape != CIFAR_SHAPE {
        return Err(DataError::Config {
            what: "CIFAR record encoding",
            msg: format!("images are {shape:?}, the record format holds only {CIFAR_SHAPE:?}"),
        });
    }
    let mut out = Vec::with_capacity(data.n * CIFAR_RECORD);
    for i in 0..data.n {
        out.push(data.labels[i]);
        out.extend_from_slice(data.image(i));
    }
    Ok(out)
}

/// Writes a 3x32x32 dataset as one CIFAR record file, atomically.
pub fn write_cifar_records(path: &Path, data: &ImageDataset) -> Result<()> {
    atomic_write(path, &encode_cifar_records(data)?)
}
