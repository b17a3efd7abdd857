//! Checkpoint tests: round trip of every dtype, the exact safetensors byte layout (so PyTorch's
//! `safetensors` reads it), atomic replacement, and truncated / corrupted files reported as errors.

use kiln_models::checkpoint::{Checkpoint, CheckpointError};
use kiln_tensor::{bf16, f16, DType, Rng, Tensor};
use std::path::Path;

fn sample() -> Checkpoint {
    let mut ck = Checkpoint::new();
    let mut rng = Rng::new(5);
    ck.insert("fc.weight", &Tensor::randn([3, 4], 0.0, 1.0, DType::F32, &mut rng));
    // A transposed view must be saved in logical order.
    ck.insert("fc.weight_t", &Tensor::randn([4, 2], 0.0, 1.0, DType::F32, &mut rng).t().unwrap());
    ck.insert("step", &Tensor::from_vec(vec![7i64], [1]).unwrap());
    ck.insert("half", &Tensor::from_vec(vec![f16::from_f32(1.5), f16::from_f32(-2.0)], [2]).unwrap());
    ck.insert("bhalf", &Tensor::from_vec(vec![bf16::from_f32(0.25)], [1]).unwrap());
    ck.insert("f64", &Tensor::from_vec(vec![1e-300f64, 3.0], [2]).unwrap());
    ck.insert("u32", &Tensor::from_vec(vec![1u32, 2, 3], [3]).unwrap());
    ck.metadata.insert("model".into(), "gan".into());
    ck
}

#[test]
fn round_trip_keeps_values_dtypes_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    let ck = sample();
    ck.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.metadata.get("model").map(String::as_str), Some("gan"));
    assert_eq!(back.tensors.len(), ck.tensors.len());
    for (name, t) in &ck.tensors {
        let b = back.get(name).unwrap();
        assert_eq!(b.dtype(), t.dtype(), "{name}");
        assert_eq!(b.dims(), t.dims(), "{name}");
        assert_eq!(b.to_vec_f64().unwrap(), t.to_vec_f64().unwrap(), "{name}");
    }
    assert!(matches!(back.get("nope"), Err(CheckpointError::Missing(_))));
    // Nothing but the checkpoint is left in the folder (the temp file was renamed).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn byte_layout_is_standard_safetensors() {
    let mut ck = Checkpoint::new();
    ck.insert("a", &Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap());
    let bytes = ck.to_bytes().unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    assert_eq!(header["a"]["dtype"], "F32");
    assert_eq!(header["a"]["shape"], serde_json::json!([2]));
    assert_eq!(header["a"]["data_offsets"], serde_json::json!([0, 8]));
    assert!(header["__metadata__"]["kiln.sha256"].as_str().unwrap().len() == 64);
    assert_eq!(bytes.len(), 8 + header_len + 8);
    assert_eq!(&bytes[8 + header_len..], &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
}

fn load_err(bytes: &[u8]) -> CheckpointError {
    Checkpoint::from_bytes(bytes, Path::new("x.safetensors")).unwrap_err()
}

#[test]
fn truncated_and_corrupted_files_are_reported() {
    let bytes = sample().to_bytes().unwrap();
    assert!(matches!(load_err(&bytes[..bytes.len() - 3]), CheckpointError::Format { .. }));
    assert!(matches!(load_err(&bytes[..5]), CheckpointError::Format { .. }));
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    assert!(matches!(load_err(&flipped), CheckpointError::Checksum { .. }));
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(Checkpoint::load(&dir.path().join("missing")), Err(CheckpointError::Io { .. })));
}

#[test]
fn saving_over_an_existing_checkpoint_replaces_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ck.safetensors");
    sample().save(&path).unwrap();
    let mut small = Checkpoint::new();
    small.insert("only", &Tensor::ones([2], DType::F32));
    small.save(&path).unwrap();
    let back = Checkpoint::load(&path).unwrap();
    assert_eq!(back.tensors.keys().collect::<Vec<_>>(), vec!["only"]);
}
