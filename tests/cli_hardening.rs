//! The `kiln` binary on bad arguments found by a fuzz: each is a typed error with exit status 1
//! and a message naming the flag, never a panic (exit 101) or an allocation abort.

use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).output().unwrap()
}

fn fails_cleanly(args: &[&str], needle: &str) {
    let out = kiln(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
}

#[test]
fn sample_refuses_a_count_it_cannot_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("grid.png");
    let out = out.to_str().unwrap();
    // Before: exit 101 (overflow) and an abort on allocation.
    for n in ["4611686018427387904", "1099511627776", "0"] {
        fails_cleanly(&["sample", "gan", "missing.safetensors", "--out", out, "--n", n], "--n");
    }
}

#[test]
fn zero_threads_and_bad_learning_rates_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    fails_cleanly(&["train", "lenet", "--threads", "0", "--data-dir", dir, "--out", dir], "--threads");
    for lr in ["-1", "nan", "inf"] {
        let lr = format!("--lr={lr}");
        let args = ["train", "lenet", &lr, "--epochs", "1", "--data-dir", dir, "--out", dir, "--json"];
        fails_cleanly(&args, "--lr");
    }
}

#[test]
fn inspect_dot_names_the_path_it_cannot_write() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("no-such-dir-file").join("graph.dot");
    std::fs::write(tmp.path().join("no-such-dir-file"), b"a file, not a folder").unwrap();
    let p = path.to_str().unwrap();
    fails_cleanly(&["inspect", "lenet", "--dot", p], "no-such-dir-file");
}
