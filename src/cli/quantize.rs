//! `kiln quantize CHECKPOINT --out Q`: post-training int8 quantization of an image classifier
//! (LeNet, W2 plain or BatchNorm), or dynamic quantization of W3's LSTM and classifier (no
//! calibration; `--calib`/`--observer` do not apply): calibrates on training batches, writes an int8 safetensors
//! checkpoint that `kiln eval Q` scores, prints the size on disk against the f32 checkpoint, and
//! with `--eval` the full-test-set accuracy of both. The quantization is `kiln::models::quant`;
//! this file only wires flags, data and output.

use super::checkpoints::{evaluation_config, image_classifier, image_network, sentiment_classifier};
use super::{CliResult, ComputeArgs};
use clap::Args;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{Augment, Split};
use kiln::models::quant::{ObserverKind, QuantConfig, QuantizedNet, QuantizedSentiment};
use kiln::models::zoo::classifier::{evaluate, Objective};
use kiln::models::zoo::run::checkpoint_info;
use kiln::models::zoo::{images, sentiment, ModelKind};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct QuantizeArgs {
    /// A lenet, cnn or sentiment checkpoint (`kiln train lenet|cnn|sentiment` writes one).
    checkpoint: PathBuf,
    /// Where the int8 checkpoint goes (replaced atomically).
    #[arg(long)]
    out: PathBuf,
    /// Training batches the activation ranges are calibrated on (image classifiers; a sentiment
    /// checkpoint is quantized dynamically and ignores --calib, --batch-size and --observer).
    #[arg(long, default_value_t = 16)]
    calib: usize,
    /// Images per calibration batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// minmax (the extremes seen) or percentile (the --percentile-th value per batch, averaged).
    #[arg(long, default_value = "minmax", value_parser = ["minmax", "percentile"])]
    observer: String,
    /// The percentile the percentile observer keeps.
    #[arg(long, default_value_t = 99.99)]
    percentile: f64,
    /// One weight scale per tensor instead of one per output channel (the contrast row).
    #[arg(long)]
    per_tensor: bool,
    /// Activation grids of 7 bits over the calibrated (or measured) ranges, PyTorch's
    /// `reduce_range`: on a CPU with AVX2 but no VNNI the integer GEMM then runs `vpmaddubsw`
    /// (avx2-u7), about 1.3x the widened AVX2 kernel.
    #[arg(long)]
    reduce_range: bool,
    /// Also score the f32 and the int8 network on the test set.
    #[arg(long)]
    eval: bool,
    /// With --eval: a class-balanced subset of N test images [default: all].
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the calibration batches' shuffle.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One JSON line instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    compute: ComputeArgs,
}

pub fn run(a: QuantizeArgs) -> CliResult<()> {
    if a.calib == 0 || a.batch_size == 0 {
        return Err("--calib and --batch-size must be at least 1".into());
    }
    if !(a.percentile > 50.0 && a.percentile <= 100.0) {
        return Err(format!("--percentile {} must lie in (50, 100]", a.percentile).into());
    }
    let (data_dir, device) = a.compute.apply(a.json)?;
    if !device.is_cpu() {
        return Err("int8 inference runs on the CPU (the integer GEMM has no CUDA version); drop --device".into());
    }
    let ck = Checkpoint::load(&a.checkpoint)?;
    if checkpoint_info(&ck, &a.checkpoint)?.0 == ModelKind::Sentiment {
        return run_sentiment(&a, &ck, data_dir);
    }
    let (net, dataset, norm) = image_network(&ck, &a.checkpoint)?;
    let observer = match a.observer.as_str() {
        "percentile" => ObserverKind::Percentile(a.percentile),
        _ => ObserverKind::MinMax,
    };
    let cfg = QuantConfig { observer, per_channel: !a.per_tensor, reduce_range: a.reduce_range };
    let run_cfg = evaluation_config(data_dir, device, a.batch_size, a.seed, a.json, None);
    let train = images::loader(
        images::load_split(dataset, &run_cfg, Split::Train)?,
        &run_cfg,
        true,
        Augment::default(),
        &norm,
    )?;
    let mut batches = Vec::with_capacity(a.calib);
    for batch in train.epoch(0).take(a.calib) {
        batches.push(batch?.inputs);
    }
    let images = batches.iter().map(|b| b.dims()[0]).sum::<usize>();
    let started = Instant::now();
    let q = QuantizedNet::quantize(&net, batches, cfg)?;
    let seconds = started.elapsed().as_secs_f64();
    q.to_checkpoint(&ck.metadata)?.save(&a.out)?;
    let (f32_bytes, int8_bytes) = (file_size(&a.checkpoint), file_size(&a.out));
    let mut line = json!({
        "checkpoint": a.checkpoint, "out": a.out, "observer": observer.name(), "per_channel": cfg.per_channel,
        "reduce_range": cfg.reduce_range,
        "calibration_images": images, "seconds": seconds, "f32_file_bytes": f32_bytes, "int8_file_bytes": int8_bytes,
    });
    if !a.json {
        println!(
            "calibrated on {images} training images ({} observer, {} weight scales) in {seconds:.1} s",
            observer.name(),
            if cfg.per_channel { "per-channel" } else { "per-tensor" }
        );
        print_sizes(&a.out, f32_bytes, int8_bytes);
    }
    if a.eval {
        let test_cfg = evaluation_config(run_cfg.data_dir.clone(), device, 256, a.seed, a.json, a.limit);
        let test = images::loader(
            images::load_split(dataset, &test_cfg, Split::Test)?,
            &test_cfg,
            false,
            Augment::default(),
            &norm,
        )?;
        let int8 = image_classifier(&Checkpoint::load(&a.out)?, &a.out)?.0;
        let f32_acc = evaluate(&net, &test, Objective::CrossEntropy)?.1;
        let int8_acc = evaluate(int8.as_ref(), &test, Objective::CrossEntropy)?.1;
        line["f32_test_accuracy"] = json!(f32_acc);
        line["int8_test_accuracy"] = json!(int8_acc);
        if !a.json {
            print_accuracies(
                a.limit.map_or("every test image".to_string(), |n| format!("{n} test images")),
                f32_acc,
                int8_acc,
            );
        }
    }
    if a.json {
        println!("{line}");
    }
    Ok(())
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn print_sizes(out: &Path, f32_bytes: u64, int8_bytes: u64) {
    println!(
        "wrote {}: {:.1} KiB on disk against {:.1} KiB for the f32 checkpoint ({:.2}x smaller)",
        out.display(),
        int8_bytes as f64 / 1024.0,
        f32_bytes as f64 / 1024.0,
        f32_bytes as f64 / int8_bytes.max(1) as f64
    );
}

fn print_accuracies(what: String, f32_acc: f64, int8_acc: f64) {
    println!(
        "test accuracy ({what}): f32 {:.2}%, int8 {:.2}% ({:+.2} points)",
        100.0 * f32_acc,
        100.0 * int8_acc,
        100.0 * (int8_acc - f32_acc)
    );
}

/// W3: dynamic quantization (no calibration: the activation grids are measured at run time), the
/// vocabulary copied beside the int8 checkpoint when it goes to another folder, and with `--eval`
/// both networks scored on the test reviews.
fn run_sentiment(a: &QuantizeArgs, ck: &Checkpoint, data_dir: PathBuf) -> CliResult<()> {
    let (net, vocab) = sentiment_classifier(ck, &a.checkpoint)?;
    let started = Instant::now();
    let q = QuantizedSentiment::quantize(&net, !a.per_tensor, a.reduce_range)?;
    let seconds = started.elapsed().as_secs_f64();
    q.to_checkpoint(&ck.metadata)?.save(&a.out)?;
    if let Some(name) = ck.metadata.get("vocab") {
        let (from, to) = (a.checkpoint.with_file_name(name), a.out.with_file_name(name));
        if !to.exists() {
            std::fs::copy(&from, &to)
                .map_err(|e| format!("copying the vocabulary {} beside {}: {e}", from.display(), a.out.display()))?;
        }
    }
    let (f32_bytes, int8_bytes) = (file_size(&a.checkpoint), file_size(&a.out));
    let mut line = json!({
        "checkpoint": a.checkpoint, "out": a.out, "observer": "dynamic", "per_channel": !a.per_tensor,
        "reduce_range": a.reduce_range,
        "seconds": seconds, "f32_file_bytes": f32_bytes, "int8_file_bytes": int8_bytes,
        "int8_weight_bytes": q.weight_bytes(),
    });
    if !a.json {
        println!(
            "quantized the LSTM and classifier dynamically ({} weight scales) in {seconds:.2} s; the f32 embedding table stays",
            if a.per_tensor { "per-tensor" } else { "per-channel" }
        );
        print_sizes(&a.out, f32_bytes, int8_bytes);
    }
    if a.eval {
        let cfg = evaluation_config(data_dir, kiln::tensor::Device::Cpu, 256, a.seed, a.json, a.limit);
        let fetch = kiln::models::data::FetchOptions::from_env();
        let texts = sentiment::subsample(kiln::models::data::load_texts(&cfg.data_dir, Split::Test, &fetch)?, a.limit);
        let test = sentiment::loader(&texts, &vocab, &cfg, false)?;
        let f32_acc = evaluate(&net, &test, Objective::BinaryLogits)?.1;
        let int8_acc = evaluate(&q, &test, Objective::BinaryLogits)?.1;
        line["f32_test_accuracy"] = json!(f32_acc);
        line["int8_test_accuracy"] = json!(int8_acc);
        if !a.json {
            print_accuracies(format!("{} test reviews", texts.len()), f32_acc, int8_acc);
        }
    }
    if a.json {
        println!("{line}");
    }
    Ok(())
}
