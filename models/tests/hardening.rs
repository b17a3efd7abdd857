//! Defects a fuzz of the public API found in kiln-models, one test each (each failed before its
//! fix): layers that accepted inputs PyTorch rejects, unchecked hyper-parameters, checkpoint
//! metadata outside the checksum, forged IDX headers, weak dataset validation, killed writers'
//! temp files, and an unreadable data dir reported as empty.

use kiln_autograd::{GradStore, Var};
use kiln_models::checkpoint::{Checkpoint, CheckpointError};
use kiln_models::data::{fetch_with, fsutil::atomic_write, parse_idx_images, Dataset, FetchOptions};
use kiln_models::nn::{BatchNorm2d, Dropout, LayerNorm, Lstm, LstmConfig, Module, ReLU};
use kiln_models::optim::clip_grad_norm;
use kiln_models::zoo::gan::judge::judge;
use kiln_models::zoo::run::{check_loss, checkpoint_info};
use kiln_models::zoo::{ModelKind, RunConfig};
use kiln_tensor::{DType, Device, Rng, Tensor};
use std::path::{Path, PathBuf};

fn var(dims: &[usize]) -> Var {
    Var::new(Tensor::randn(dims.to_vec(), 0.0, 1.0, DType::F32, &mut Rng::new(3)), true)
}

#[test]
fn lstm_on_an_empty_sequence_is_an_error() {
    let cfg = LstmConfig { input_size: 3, hidden_size: 2, num_layers: 1, bidirectional: true };
    let lstm = Lstm::new(cfg, &mut Rng::new(0));
    // Before: `t - 1` underflowed.
    assert!(lstm.forward(&var(&[2, 0, 3])).is_err());
    assert_eq!(lstm.forward(&var(&[2, 1, 3])).unwrap().dims(), [2, 1, 4]);
}

#[test]
fn batch_norm_accepts_only_what_pytorch_accepts() {
    let bn = BatchNorm2d::new(3);
    assert!(bn.forward(&var(&[2, 3, 4, 4, 1])).is_err(), "rank 5 in training");
    assert!(bn.forward(&var(&[2, 3, 4])).is_err(), "rank 3");
    assert!(bn.forward(&var(&[2, 4, 2, 2])).is_err(), "4 channels for 3");
    assert!(bn.forward(&var(&[1, 3, 1, 1])).is_err(), "one value per channel in training");
    assert!(bn.forward(&var(&[2, 3, 2, 2])).is_ok());
    bn.set_training(false);
    // Before: in evaluation any input broadcasting against [1, C, 1, 1] was accepted.
    assert!(bn.forward(&var(&[2, 1, 2, 2])).is_err(), "1 channel broadcast in eval");
    assert!(bn.forward(&var(&[3, 1, 1])).is_err(), "rank 3 in eval");
    assert!(bn.forward(&var(&[1, 3, 1, 1])).is_ok(), "one value is fine in eval");
}

#[test]
fn layer_norm_requires_the_normalised_size() {
    let ln = LayerNorm::new(4);
    // Before: a last dim of 1 broadcast against the weight.
    assert!(ln.forward(&var(&[2, 1])).is_err());
    assert!(ln.forward(&var(&[2, 5])).is_err());
    assert!(ln.forward(&Var::constant(Tensor::scalar(1.0f32))).is_err());
    assert_eq!(ln.forward(&var(&[3, 2, 4])).unwrap().dims(), [3, 2, 4]);
}

#[test]
fn hyper_parameters_are_checked() {
    for p in [-0.1, 1.5, f64::NAN, f64::INFINITY] {
        assert!(Dropout::try_new(p, &mut Rng::new(0)).is_err(), "p = {p}");
    }
    assert!(Dropout::try_new(1.0, &mut Rng::new(0)).is_ok() && Dropout::try_new(0.0, &mut Rng::new(0)).is_ok());
    let w = var(&[3]);
    let params = vec![("w".to_string(), w.clone())];
    for max_norm in [f64::NAN, -1.0] {
        let mut grads = GradStore::new();
        grads.insert(&w, Tensor::ones([3], DType::F32));
        assert!(clip_grad_norm(&mut grads, &params, max_norm).is_err(), "max_norm {max_norm}");
    }
    let mut grads = GradStore::new();
    grads.insert(&w, Tensor::ones([3], DType::F32));
    assert!((clip_grad_norm(&mut grads, &params, f64::INFINITY).unwrap() - 3f64.sqrt()).abs() < 1e-6);
    let cfg = |lr: f64| RunConfig {
        epochs: 1,
        batch_size: 8,
        lr,
        seed: 0,
        data_dir: PathBuf::new(),
        out_dir: PathBuf::new(),
        resume: None,
        json: true,
        limit: None,
        device: Device::Cpu,
        adversarial: None,
        eval_every: 1,
    };
    for lr in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(cfg(lr).validate().is_err(), "lr {lr}");
    }
    assert!(cfg(1e-3).validate().is_ok() && cfg(0.0).validate().is_ok());
    // `eval --samples 0` printed NaN shares.
    assert!(judge(&ReLU, &ReLU, 0, 0).is_err());
}

#[test]
fn a_non_finite_loss_stops_the_run_naming_the_step() {
    let e = check_loss("the training loss", f64::NAN, 2, 17).unwrap_err().to_string();
    assert!(e.contains("epoch 3") && e.contains("step 17") && e.contains("NaN"), "{e}");
    assert!(check_loss("loss", f64::INFINITY, 0, 1).is_err());
    assert!(check_loss("loss", 0.7, 0, 1).is_ok());
}

fn saved(metadata: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ck.safetensors");
    let mut ck = Checkpoint::new();
    ck.insert("w", &Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap());
    ck.metadata = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    ck.save(&path).unwrap();
    (tmp, path)
}

#[test]
fn checkpoint_metadata_is_inside_the_checksum() {
    let (_tmp, path) = saved(&[("model", "cnn"), ("epoch", "7"), ("test_accuracy", "0.81")]);
    let bytes = std::fs::read(&path).unwrap();
    let ck = Checkpoint::from_bytes(&bytes, &path).unwrap();
    assert_eq!(checkpoint_info(&ck, &path).unwrap(), (ModelKind::Cnn, 7));
    // Before: a changed epoch (or accuracy, config, model name) loaded silently.
    for (from, to) in [("\"7\"", "\"9\""), ("0.81", "0.99"), ("\"cnn\"", "\"gan\"")] {
        let at = bytes.windows(from.len()).position(|w| w == from.as_bytes());
        let at = at.unwrap_or_else(|| panic!("{from} in the header"));
        let mut forged = bytes.clone();
        forged[at..at + to.len()].copy_from_slice(to.as_bytes());
        let got = Checkpoint::from_bytes(&forged, &path);
        assert!(matches!(got, Err(CheckpointError::Checksum { .. })), "{from} -> {to}: {got:?}");
    }
}

#[test]
fn an_unparseable_or_missing_epoch_is_an_error() {
    for meta in [vec![("model", "cnn"), ("epoch", "seven")], vec![("model", "cnn")]] {
        let (_tmp, path) = saved(&meta);
        let ck = Checkpoint::load(&path).unwrap();
        // Before: resumed silently at epoch 0.
        assert!(checkpoint_info(&ck, &path).is_err(), "{meta:?}");
    }
}

#[test]
fn idx_headers_whose_size_overflows_are_refused() {
    let mut bytes = vec![0, 0, 8, 3];
    for v in [u32::MAX, u32::MAX, u32::MAX] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    // Before: 16 + n*h*w overflowed u64 (a panic in debug, a wrapped length in release).
    assert!(parse_idx_images(bytes, Path::new("forged-idx")).is_err());
}

#[test]
fn killed_writers_temp_files_are_removed_by_the_next_write() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ck.safetensors");
    // A pid above the kernel's pid_max (2^22) belongs to no process.
    let orphan = tmp.path().join(".ck.safetensors.kiln-tmp.4294967294.0");
    let live = tmp.path().join(format!(".ck.safetensors.kiln-tmp.{}.999", std::process::id()));
    let other = tmp.path().join(".other.kiln-tmp.4294967294.0");
    for p in [&orphan, &live, &other] {
        std::fs::write(p, b"partial").unwrap();
    }
    atomic_write(&path, b"whole").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"whole");
    assert!(!orphan.exists(), "a dead writer's temp file is removed");
    assert!(live.exists(), "a live writer's temp file is kept");
    assert!(other.exists(), "another file's temp files are not this write's business");
}

fn offline() -> FetchOptions {
    FetchOptions { http: false, npm: false, progress: false, ..FetchOptions::default() }
}

#[test]
fn an_unreadable_data_dir_is_reported_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    // A file where the dataset's folder should be: it exists but cannot be listed.
    std::fs::write(tmp.path().join("mnist"), b"not a folder").unwrap();
    let e = fetch_with(Dataset::Mnist, tmp.path(), &offline()).unwrap_err().to_string();
    assert!(!e.contains("no copy there"), "{e}");
    assert!(e.contains("mnist") && e.to_lowercase().contains("not a directory"), "{e}");
}

#[test]
fn cifar_binary_batches_are_checked_by_content_not_length() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar10").join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    // Right length, every label valid, but one image repeated 10,000 times: before, it loaded.
    let names = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
    for name in names.iter().chain(&["test_batch.bin"]) {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        f.set_len(10_000 * 3073).unwrap();
    }
    let e = fetch_with(Dataset::Cifar10, tmp.path(), &offline()).unwrap_err().to_string();
    assert!(e.contains("repeats an earlier image"), "{e}");
}

#[test]
fn aclimdb_folders_are_checked_by_names_and_text_not_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("imdb").join("aclImdb");
    for split in ["train", "test"] {
        for (class, rating) in [("neg", 2), ("pos", 9)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for id in 0..12_500 {
                // Review 41 of train/neg is named with a positive rating: swapped in from `pos`.
                let r = if (split, class, id) == ("train", "neg", 41) { 8 } else { rating };
                std::fs::write(dir.join(format!("{id}_{r}.txt")), b"a review").unwrap();
            }
        }
    }
    let e = fetch_with(Dataset::Imdb, tmp.path(), &offline()).unwrap_err().to_string();
    assert!(e.contains("41_8.txt"), "{e}");
    std::fs::rename(root.join("train/neg/41_8.txt"), root.join("train/neg/41_3.txt")).unwrap();
    std::fs::write(root.join("test/pos/7_9.txt"), b"  \n").unwrap();
    let e = fetch_with(Dataset::Imdb, tmp.path(), &offline()).unwrap_err().to_string();
    assert!(e.contains("review is empty"), "{e}");
}
