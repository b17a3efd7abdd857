//! `kiln bench step`: a smoke run of the built binary (debug builds are allowed two steps with
//! KILN_BENCH_ALLOW_DEBUG=1) checking the JSON line's fields, and the refusal without that variable.
//! No timing assertions: CI machines are shared.

use serde_json::Value;
use std::process::Command;

fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

#[test]
fn bench_step_gan_prints_json() {
    let out = kiln()
        .args(["bench", "step", "gan", "--steps", "2", "--warmup", "0", "--threads", "1", "--json"])
        .env("KILN_BENCH_ALLOW_DEBUG", "1")
        .output()
        .expect("running kiln");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "expected one JSON line, got {stdout:?}");
    let v: Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(v["workload"], "gan");
    assert_eq!(v["steps"], 2);
    assert_eq!(v["threads"], 1);
    let (median, min) = (v["median_ms"].as_f64().unwrap(), v["min_ms"].as_f64().unwrap());
    assert!(min > 0.0 && min <= median, "min {min} median {median}");
}

#[test]
fn bench_step_rejects_unknown_workload() {
    let out = kiln()
        .args(["bench", "step", "lenet", "--steps", "1"])
        .env("KILN_BENCH_ALLOW_DEBUG", "1")
        .output()
        .expect("running kiln");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown workload"));
}

/// In a debug build (what `cargo test` makes) a real benchmark run is refused with a hint.
#[test]
fn bench_step_refuses_debug_build() {
    if !cfg!(debug_assertions) {
        return;
    }
    let out = kiln()
        .args(["bench", "step", "gan", "--steps", "5"])
        .env_remove("KILN_BENCH_ALLOW_DEBUG")
        .output()
        .expect("running kiln");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--release"));
}

/// `--device cuda` without a GPU is a clean error; on the host shim there is nothing to time.
#[test]
fn bench_step_on_cuda_needs_a_real_gpu() {
    let no_gpu = kiln()
        .args(["bench", "step", "gan", "--steps", "2", "--device", "cuda"])
        .env("KILN_BENCH_ALLOW_DEBUG", "1")
        .output()
        .expect("kiln runs");
    assert!(!no_gpu.status.success());
    assert!(String::from_utf8_lossy(&no_gpu.stderr).contains("cuda:0 is unavailable"));
    if !cfg!(target_os = "linux") {
        return; // the CUDA host shim is built on Linux only
    }
    let shim = kiln()
        .args(["bench", "step", "gan", "--steps", "2", "--device", "cuda"])
        .env("KILN_CUDA_HOST_SHIM", "1")
        .env("KILN_BENCH_ALLOW_DEBUG", "1")
        .output()
        .expect("kiln runs");
    assert!(!shim.status.success());
    assert!(String::from_utf8_lossy(&shim.stderr).contains("its times mean nothing"));
}
