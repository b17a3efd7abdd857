//! Checkpoints: named tensors (parameters, buffers, optimizer state) plus string metadata in a
//! standard safetensors file, so PyTorch's `safetensors` library reads them. Written to a temp file
//! and renamed atomically; on load the safetensors header is validated and a sha256 of every
//! tensor and of every metadata entry (stored in the metadata) is checked, so a truncated or
//! corrupted file is reported, never half-loaded. Tensors holding NaN or infinity are neither
//! saved nor loaded (a diverged run must not replace or become a good checkpoint). Knows nothing
//! about models or optimizers.

use crate::data::fsutil::atomic_write;
use kiln_tensor::{CpuStorage, DType, Device, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Metadata key holding the sha256 over all tensors (name, dtype, shape, bytes in name order).
pub const CHECKSUM_KEY: &str = "kiln.sha256";
pub const FORMAT_KEY: &str = "kiln.format";
/// Format 2 hashes the metadata with the tensors; format 1 (earlier files) hashed the tensors only
/// and is still read.
const FORMAT: &str = "2";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {msg}")]
    Io { path: PathBuf, msg: String },
    #[error("{path}: not a valid safetensors file: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: checksum mismatch (file corrupted?): metadata says {expected}, tensors hash to {got}")]
    Checksum { path: PathBuf, expected: String, got: String },
    #[error("{path}: tensor `{name}` has dtype {dtype} which kiln cannot load")]
    DType { path: PathBuf, name: String, dtype: String },
    #[error("{path}: tensor `{name}` holds {value} at element {index}; a checkpoint holds finite numbers only")]
    NonFinite { path: PathBuf, name: String, index: usize, value: f64 },
    #[error("checkpoint has no tensor `{0}`")]
    Missing(String),
    #[error("tensor error: {0}")]
    Tensor(#[from] kiln_tensor::Error),
}

pub type Result<T> = std::result::Result<T, CheckpointError>;

#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub tensors: BTreeMap<String, Tensor>,
    /// Byte tensors (int8 weights, u8 zero points), which kiln's `Tensor` has no dtype for; stored
    /// as safetensors `I8` / `U8`.
    pub bytes: BTreeMap<String, ByteTensor>,
    pub metadata: BTreeMap<String, String>,
}

/// A tensor of bytes: signed (`I8`) or unsigned (`U8`), row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByteTensor {
    pub signed: bool,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl ByteTensor {
    pub fn i8(shape: Vec<usize>, values: &[i8]) -> ByteTensor {
        ByteTensor { signed: true, shape, data: values.iter().map(|&v| v as u8).collect() }
    }
    pub fn u8(shape: Vec<usize>, values: &[u8]) -> ByteTensor {
        ByteTensor { signed: false, shape, data: values.to_vec() }
    }
    /// The values as i8 (for a signed tensor; an unsigned one reinterprets its bytes).
    pub fn as_i8(&self) -> Vec<i8> {
        self.data.iter().map(|&v| v as i8).collect()
    }
    fn dtype_name(&self) -> &'static str {
        if self.signed {
            "I8"
        } else {
            "U8"
        }
    }
}

fn to_safetensors_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::I64 => Dtype::I64,
        DType::U32 => Dtype::U32,
    }
}

fn from_safetensors_dtype(d: Dtype) -> Option<DType> {
    Some(match d {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::I64 => DType::I64,
        Dtype::U32 => DType::U32,
        _ => return None,
    })
}

/// sha256 over (name, dtype, shape, little-endian bytes) of every tensor, in name order (the byte
/// tensors after the others), then (in format 2) over every metadata (key, value) in key order.
fn checksum<'a>(
    entries: impl Iterator<Item = (&'a str, &'a str, &'a [usize], &'a [u8])>,
    metadata: Option<&BTreeMap<String, String>>,
) -> String {
    let mut h = Sha256::new();
    for (name, dtype, shape, bytes) in entries {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(dtype.as_bytes());
        for d in shape {
            h.update((*d as u64).to_le_bytes());
        }
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    for (key, value) in metadata.into_iter().flatten() {
        for s in [key, value] {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Checkpoint {
    pub fn new() -> Checkpoint {
        Checkpoint::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, t: &Tensor) {
        self.tensors.insert(name.into(), t.clone());
    }

    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors.get(name).ok_or_else(|| CheckpointError::Missing(name.to_string()))
    }

    /// The byte tensor `name`.
    pub fn get_bytes(&self, name: &str) -> Result<&ByteTensor> {
        self.bytes.get(name).ok_or_else(|| CheckpointError::Missing(name.to_string()))
    }

    /// The bytes of the safetensors file (exposed for the byte-layout test). A tensor holding NaN
    /// or infinity is an error naming it.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        for (name, t) in &self.tensors {
            refuse_non_finite(t, name, Path::new("(checkpoint being saved)"))?;
        }
        self.encode()
    }

    /// The safetensors bytes, whatever the values.
    fn encode(&self) -> Result<Vec<u8>> {
        // Device tensors are copied to the host first; a checkpoint is always host bytes.
        let dense: Vec<(String, Tensor)> = self
            .tensors
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.to_device(Device::Cpu)?.contiguous()?)))
            .collect::<Result<_>>()?;
        let guards: Vec<_> = dense.iter().map(|(_, t)| t.storage()).collect();
        let mut bytes_of = Vec::with_capacity(dense.len());
        for ((_, t), g) in dense.iter().zip(&guards) {
            let all = g.cpu()?.as_bytes();
            let size = t.dtype().size_in_bytes();
            let start = t.layout().offset() * size;
            bytes_of.push(&all[start..start + t.elem_count() * size]);
        }
        let mut signed = self.metadata.clone();
        signed.retain(|k, _| k != CHECKSUM_KEY && k != FORMAT_KEY);
        let entries = dense.iter().zip(&bytes_of).map(|((n, t), b)| (n.as_str(), t.dtype().as_str(), t.dims(), *b));
        let byte_entries =
            self.bytes.iter().map(|(n, t)| (n.as_str(), t.dtype_name(), t.shape.as_slice(), t.data.as_slice()));
        let sum = checksum(entries.chain(byte_entries), Some(&signed));
        let mut meta: HashMap<String, String> = signed.into_iter().collect();
        meta.insert(CHECKSUM_KEY.into(), sum);
        meta.insert(FORMAT_KEY.into(), FORMAT.into());
        fn view<'d>(name: &str, dtype: Dtype, shape: &[usize], data: &'d [u8]) -> Result<(String, TensorView<'d>)> {
            let view = TensorView::new(dtype, shape.to_vec(), data)
                .map_err(|e| CheckpointError::Format { path: PathBuf::new(), msg: e.to_string() })?;
            Ok((name.to_string(), view))
        }
        let byte_dtype = |t: &ByteTensor| if t.signed { Dtype::I8 } else { Dtype::U8 };
        let views = dense
            .iter()
            .zip(&bytes_of)
            .map(|((n, t), b)| view(n, to_safetensors_dtype(t.dtype()), t.dims(), b))
            .chain(self.bytes.iter().map(|(n, t)| view(n, byte_dtype(t), &t.shape, &t.data)))
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, Some(meta))
            .map_err(|e| CheckpointError::Format { path: PathBuf::new(), msg: e.to_string() })
    }

    /// Writes the file atomically (temp file beside it, fsync, rename): an existing checkpoint is
    /// replaced only by a complete new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        atomic_write(path, &bytes).map_err(|e| CheckpointError::Io { path: path.into(), msg: e.to_string() })
    }

    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| CheckpointError::Io { path: path.into(), msg: e.to_string() })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses and validates a checkpoint held in memory; `path` is only used in error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let fmt_err = |msg: String| CheckpointError::Format { path: path.into(), msg };
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| fmt_err(e.to_string()))?;
        let st = SafeTensors::deserialize(bytes).map_err(|e| fmt_err(e.to_string()))?;
        let mut metadata: BTreeMap<String, String> =
            header.metadata().clone().unwrap_or_default().into_iter().collect();
        let mut tensors = BTreeMap::new();
        let mut bytes = BTreeMap::new();
        let mut raw = Vec::new();
        let mut names: Vec<String> = st.names().into_iter().map(|s| s.to_string()).collect();
        names.sort();
        for name in names {
            let view = st.tensor(&name).map_err(|e| fmt_err(e.to_string()))?;
            if matches!(view.dtype(), Dtype::I8 | Dtype::U8) {
                let signed = view.dtype() == Dtype::I8;
                let t = ByteTensor { signed, shape: view.shape().to_vec(), data: view.data().to_vec() };
                bytes.insert(name, t);
                continue;
            }
            let dtype = from_safetensors_dtype(view.dtype()).ok_or_else(|| CheckpointError::DType {
                path: path.into(),
                name: name.clone(),
                dtype: format!("{:?}", view.dtype()),
            })?;
            let storage = storage_from_bytes(dtype, view.data());
            tensors.insert(name.clone(), Tensor::from_cpu_storage(storage, view.shape().to_vec())?);
            raw.push((name, dtype, view.shape().to_vec(), view.data()));
        }
        let expected = metadata
            .remove(CHECKSUM_KEY)
            .ok_or_else(|| fmt_err(format!("no `{CHECKSUM_KEY}` metadata: not written by kiln, cannot verify")))?;
        let signed = match metadata.remove(FORMAT_KEY).as_deref() {
            Some("1") => None,
            Some(FORMAT) => Some(&metadata),
            other => return Err(fmt_err(format!("unknown `{FORMAT_KEY}` {other:?} (this kiln reads 1 and {FORMAT})"))),
        };
        let entries = raw
            .iter()
            .map(|(n, d, s, b): &(String, DType, Vec<usize>, &[u8])| (n.as_str(), d.as_str(), s.as_slice(), *b));
        let byte_entries = bytes
            .iter()
            .map(|(n, t): (&String, &ByteTensor)| (n.as_str(), t.dtype_name(), t.shape.as_slice(), t.data.as_slice()));
        let got = checksum(entries.chain(byte_entries), signed);
        if expected != got {
            return Err(CheckpointError::Checksum { path: path.into(), expected, got });
        }
        for (name, t) in &tensors {
            refuse_non_finite(t, name, path)?;
        }
        Ok(Checkpoint { tensors, bytes, metadata })
    }
}

/// A typed error naming the first NaN or infinity of a float tensor (host, contiguous).
fn refuse_non_finite(t: &Tensor, name: &str, path: &Path) -> Result<()> {
    if !t.dtype().is_float() {
        return Ok(());
    }
    if let Some((index, value)) = t.to_vec_f64()?.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(CheckpointError::NonFinite { path: path.into(), name: name.into(), index, value });
    }
    Ok(())
}

/// Copies little-endian bytes into typed storage (the file's data need not be aligned).
fn storage_from_bytes(dtype: DType, bytes: &[u8]) -> CpuStorage {
    fn typed<T: kiln_tensor::Element>(bytes: &[u8]) -> CpuStorage {
        let n = bytes.len() / std::mem::size_of::<T>();
        let mut v: Vec<T> = vec![bytemuck::Zeroable::zeroed(); n];
        bytemuck::cast_slice_mut::<T, u8>(&mut v).copy_from_slice(&bytes[..n * std::mem::size_of::<T>()]);
        T::into_storage(v)
    }
    match dtype {
        DType::F32 => typed::<f32>(bytes),
        DType::F64 => typed::<f64>(bytes),
        DType::F16 => typed::<half::f16>(bytes),
        DType::BF16 => typed::<half::bf16>(bytes),
        DType::I64 => typed::<i64>(bytes),
        DType::U32 => typed::<u32>(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_tensors_are_neither_saved_nor_loaded() {
        let mut ck = Checkpoint::new();
        ck.insert("w", &Tensor::from_vec(vec![1.0f32, f32::NAN], [2]).unwrap());
        assert!(matches!(ck.to_bytes(), Err(CheckpointError::NonFinite { index: 1, .. })));
        // A file that holds one (written by another tool, or before this check) is refused too.
        let bytes = ck.encode().unwrap();
        let got = Checkpoint::from_bytes(&bytes, Path::new("nan.safetensors"));
        assert!(matches!(got, Err(CheckpointError::NonFinite { ref name, index: 1, .. }) if name == "w"), "{got:?}");
        ck.insert("w", &Tensor::from_vec(vec![f32::INFINITY], [1]).unwrap());
        assert!(ck.to_bytes().is_err());
        let mut ints = Checkpoint::new();
        ints.insert("step", &Tensor::from_vec(vec![i64::MAX], [1]).unwrap());
        assert!(ints.to_bytes().is_ok(), "integers are always finite");
    }

    #[test]
    fn byte_tensors_round_trip_and_are_checksummed() {
        let mut ck = Checkpoint::new();
        ck.insert("scale", &Tensor::from_vec(vec![0.5f32, 0.25], [2]).unwrap());
        ck.bytes.insert("w".into(), ByteTensor::i8(vec![2, 3], &[-128, -1, 0, 1, 2, 127]));
        ck.bytes.insert("zp".into(), ByteTensor::u8(vec![1], &[200]));
        let bytes = ck.to_bytes().unwrap();
        let back = Checkpoint::from_bytes(&bytes, Path::new("q.safetensors")).unwrap();
        assert_eq!(back.bytes, ck.bytes);
        assert_eq!(back.get_bytes("w").unwrap().as_i8(), [-128, -1, 0, 1, 2, 127]);
        assert_eq!(back.get("scale").unwrap().to_vec_f64().unwrap(), [0.5, 0.25]);
        // The safetensors header names them I8 and U8 (what Python's `safetensors` reads).
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let dtypes: Vec<_> = header.tensors().iter().map(|(n, t)| (n.clone(), t.dtype)).collect();
        assert!(dtypes.contains(&("w".to_string(), Dtype::I8)) && dtypes.contains(&("zp".to_string(), Dtype::U8)));
        // One flipped weight byte is a checksum error, not a silently different model.
        let pos = bytes.len() - 2;
        let mut bad = bytes.clone();
        bad[pos] ^= 1;
        assert!(matches!(Checkpoint::from_bytes(&bad, Path::new("q")), Err(CheckpointError::Checksum { .. })));
    }
}
