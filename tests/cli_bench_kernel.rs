//! `kiln bench kernel`: runs the built binary on tiny shapes (a debug build is let through as a
//! smoke run with KILN_BENCH_ALLOW_DEBUG=1) and checks the listing, the JSON lines' exact keys, and
//! that bad input (unknown kernel, bad shape, a CUDA device) is a clean error with a nonzero exit.
//! No timing assertions: CI machines are shared.

use serde_json::Value;
use std::collections::BTreeSet;
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env("KILN_BENCH_ALLOW_DEBUG", "1")
        .output()
        .expect("running kiln")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Each stdout line as a JSON object, checked to have exactly `keys`.
fn json_lines(out: &Output, keys: &[&str]) -> Vec<Value> {
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "kiln failed: {}\n{stdout}", text(&out.stderr));
    let want: BTreeSet<&str> = keys.iter().copied().collect();
    stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}"));
            let got: BTreeSet<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
            assert_eq!(got, want, "keys of {line}");
            assert_eq!(v["validated"], true);
            assert!(v["median_us"].as_f64().unwrap() > 0.0, "{line}");
            v
        })
        .collect()
}

#[test]
fn list_names_kernels_versions_and_units() {
    let out = kiln(&["bench", "kernel", "list"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for needle in ["gemm (gemm, GFLOP/s)", "matrixmultiply (baseline)", "add (elementwise, GB/s)", "adam", "softmax"] {
        assert!(stdout.contains(needle), "`{needle}` missing from:\n{stdout}");
    }
    // Every kernel has a fast version now, and CUDA versions listed beside the default set.
    assert!(!stdout.contains("no fast version exists yet"), "{stdout}");
    assert!(stdout.contains("cuda-naive, cuda-tiled; timed by default: kiln, matrixmultiply"), "{stdout}");
    assert!(stdout.contains("64x100x256:nt"), "{stdout}");
}

#[test]
fn gemm_json_lines_have_the_documented_keys() {
    let out = kiln(&["bench", "kernel", "gemm", "--shapes", "8x9x10", "--json", "--threads", "1"]);
    let keys = ["kernel", "version", "shape", "threads", "cpu", "median_us", "gflops", "validated"];
    let lines = json_lines(&out, &keys);
    let versions: BTreeSet<&str> = lines.iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, BTreeSet::from(["kiln", "matrixmultiply"]));
    for v in &lines {
        assert_eq!(v["kernel"], "gemm");
        assert_eq!(v["shape"], serde_json::json!([8, 9, 10]));
        assert_eq!(v["threads"], 1);
        assert!(v["gflops"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn elementwise_reports_bandwidth_and_transposed_gemm_says_so() {
    let out = kiln(&["bench", "kernel", "add_row", "--shapes", "4x33", "--json"]);
    let lines = json_lines(&out, &["kernel", "version", "shape", "threads", "cpu", "median_us", "gbps", "validated"]);
    assert_eq!(lines.len(), 2, "cpu and reference");

    let out = kiln(&["bench", "kernel", "gemm", "--shapes", "5x6x7:tn", "--versions", "reference", "--json"]);
    let keys = ["kernel", "version", "shape", "threads", "cpu", "median_us", "gflops", "validated", "transpose"];
    let lines = json_lines(&out, &keys);
    // The reference asked for, and the baseline timed beside it.
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|v| v["transpose"] == "tn"));
}

#[test]
fn table_has_a_row_per_version_with_the_speedup() {
    let out = kiln(&["bench", "kernel", "softmax", "--shapes", "3x17"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("3x17 ")).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(rows.iter().all(|r| r.trim_end().ends_with('x')), "{stdout}");
    assert!(stdout.contains("GB/s"), "{stdout}");
}

#[test]
fn unknown_kernel_bad_shape_and_cuda_are_clean_errors() {
    for (args, says) in [
        (&["bench", "kernel", "gemv"][..], "unknown kernel `gemv`"),
        (&["bench", "kernel", "gemm", "--shapes", "8x9"], "bad shape `8x9`"),
        (&["bench", "kernel", "gemm", "--shapes", "8xtwox9"], "not a whole number"),
        (&["bench", "kernel", "gemm", "--versions", "cpu"], "has no version `cpu`"),
        (&["bench", "kernel", "gemm", "--device", "cuda"], "unavailable"),
    ] {
        let out = kiln(args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// With `--device cuda` on the host shim every CUDA version is validated against the CPU reference
/// and reported untimed; asking for CPU versions on the device names the CUDA ones.
#[test]
fn cuda_versions_are_validated_on_the_host_shim_and_not_timed() {
    if !cfg!(target_os = "linux") {
        eprintln!("NOTICE: the CUDA host shim is built on Linux only; skipped");
        return;
    }
    let shim = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(args)
            .env("KILN_BENCH_ALLOW_DEBUG", "1")
            .env("KILN_CUDA_HOST_SHIM", "1")
            .output()
            .expect("running kiln")
    };
    let out = shim(&["bench", "kernel", "gemm", "--device", "cuda", "--shapes", "33x17x65,8x9x10:tn", "--json"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let lines: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let versions: Vec<&str> = lines.iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["cuda-naive", "cuda-tiled", "cuda-naive", "cuda-tiled"]);
    assert!(lines.iter().all(|v| v["validated"] == true && v["timed"] == false && v["runner"] == "host shim"));
    let out = shim(&["bench", "kernel", "gemm", "--versions", "kiln", "--device", "cuda"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("with --device cuda, time CUDA versions of gemm: cuda-naive, cuda-tiled"));
}

/// In a debug build (what `cargo test` makes) timing without the escape hatch is refused.
#[test]
fn bench_kernel_refuses_debug_build() {
    if !cfg!(debug_assertions) {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["bench", "kernel", "gemm", "--shapes", "8x9x10"])
        .env_remove("KILN_BENCH_ALLOW_DEBUG")
        .output()
        .expect("running kiln");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--release"));
}
