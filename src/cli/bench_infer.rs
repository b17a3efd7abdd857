//! `kiln bench infer <lenet|cnn|cnn-bn|sentiment>`: batch inference, f32 against int8 in the same
//! run. The network is a checkpoint's (`--checkpoint`) or freshly initialised (seed 0; speed does
//! not depend on the weights), the input one random batch (images, or reviews of 256 tokens); with
//! `--int8` the network is quantized (image classifiers calibrated on that batch, W3 dynamically)
//! and the two forwards alternate round by round, so both see the same machine.
//! Prints the CPU, the f32 and integer instruction sets, medians and minima, images (or reviews)/s and the
//! speed-up.

use super::bench::check_release;
use super::checkpoints::image_network;
use super::CliResult;
use clap::Args;
use kiln::autograd::{no_grad, Var};
use kiln::kernels::{qgemm, simd};
use kiln::models::checkpoint::Checkpoint;
use kiln::models::nn::{Module, Sequential};
use kiln::models::quant::{ObserverKind, QuantConfig, QuantizedNet, QuantizedSentiment};
use kiln::models::zoo::sentiment::SentimentNet;
use kiln::models::zoo::{cnn, lenet};
use kiln::tensor::{Rng, Tensor};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct InferArgs {
    /// lenet, cnn (W2), cnn-bn (W2 with BatchNorm, folded when quantized) or sentiment (W3).
    model: String,
    /// Also quantize to int8 and time both, alternating.
    #[arg(long)]
    int8: bool,
    /// With --int8: 7-bit activation grids (PyTorch's reduce_range; AVX2 then runs avx2-u7).
    #[arg(long, requires = "int8")]
    reduce_range: bool,
    /// Images per forward.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Timed forwards per round and version.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Rounds, each timing the f32 forward then (with --int8) the int8 one.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Time this checkpoint's network instead of a freshly initialised one.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// One JSON line: {"model", "batch", "threads", "cpu", "isa", "qisa", "f32_median_ms",
    /// "f32_min_ms", and with --int8 "int8_median_ms", "int8_min_ms", "speedup"}.
    #[arg(long)]
    json: bool,
}

/// The network and its input shape.
fn network(a: &InferArgs) -> CliResult<(Sequential, [usize; 3])> {
    network_named(&a.model, a.checkpoint.as_deref())
}

/// `model`'s network (lenet, cnn, cnn-bn) freshly initialised with seed 0, or `checkpoint`'s, and
/// its input shape.
pub(super) fn network_named(model: &str, checkpoint: Option<&std::path::Path>) -> CliResult<(Sequential, [usize; 3])> {
    if let Some(path) = checkpoint {
        let (net, dataset, _) = image_network(&Checkpoint::load(path)?, path)?;
        let shape = if dataset == kiln::models::data::Dataset::Cifar10 { [3, 32, 32] } else { [1, 28, 28] };
        return Ok((net, shape));
    }
    let mut rng = Rng::new(0);
    Ok(match model {
        "lenet" => (lenet::model(&mut rng), [1, 28, 28]),
        "cnn" => (cnn::model(cnn::CnnVariant::Plain, &mut rng), [3, 32, 32]),
        "cnn-bn" => (cnn::model(cnn::CnnVariant::BatchNorm { dropout: 0.0 }, &mut rng), [3, 32, 32]),
        other => return Err(format!("unknown model `{other}` (lenet, cnn, cnn-bn, sentiment)").into()),
    })
}

/// Median and minimum of `steps` timed calls of `f` (after one untimed call).
fn time(steps: usize, mut f: impl FnMut() -> CliResult<()>) -> CliResult<Vec<Duration>> {
    f()?;
    (0..steps)
        .map(|_| {
            let t = Instant::now();
            f()?;
            Ok(t.elapsed())
        })
        .collect()
}

fn median_min(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (v[v.len() / 2].as_secs_f64() * 1e3, v[0].as_secs_f64() * 1e3)
}

pub fn run(a: InferArgs) -> CliResult<()> {
    if a.steps == 0 || a.rounds == 0 || a.batch_size == 0 {
        return Err("--steps, --rounds and --batch-size must be at least 1".into());
    }
    check_release("infer", a.steps <= 2 && a.rounds == 1, "a smoke run of --steps 2 --rounds 1")?;
    if let Some(n) = a.threads {
        kiln::kernels::denormals::pool_builder(n.max(1)).build_global()?;
    }
    let (f32_times, int8_times) = if a.model == "sentiment" { time_sentiment(&a)? } else { time_images(&a)? };
    let threads = rayon::current_num_threads();
    let (fm, fmin) = median_min(f32_times);
    let mut line = json!({
        "model": a.model, "batch": a.batch_size, "threads": threads, "cpu": simd::machine::cpu_model(),
        "isa": simd::isa().name(), "qisa": qgemm::qisa_for(a.reduce_range).name(), "f32_median_ms": fm, "f32_min_ms": fmin,
    });
    let per_s = |ms: f64| a.batch_size as f64 / (ms / 1e3);
    let unit = if a.model == "sentiment" { "reviews" } else { "images" };
    if !a.json {
        println!("CPU: {}", simd::machine::describe());
        println!(
            "{} inference, batch {}, {threads} threads, {} x {} timed forwards each; f32 on {}, int8 on {}",
            a.model,
            a.batch_size,
            a.rounds,
            a.steps,
            simd::isa().name(),
            qgemm::qisa_for(a.reduce_range).name()
        );
        println!("f32    median {fm:9.2} ms   min {fmin:9.2} ms   {:9.0} {unit}/s", per_s(fm));
    }
    if !int8_times.is_empty() {
        let (qm, qmin) = median_min(int8_times);
        line["int8_median_ms"] = json!(qm);
        line["int8_min_ms"] = json!(qmin);
        line["speedup"] = json!(fm / qm);
        if !a.json {
            println!("int8   median {qm:9.2} ms   min {qmin:9.2} ms   {:9.0} {unit}/s", per_s(qm));
            println!("int8 is {:.2}x the f32 speed (median / median; {:.2}x by minima)", fm / qm, fmin / qmin);
        }
    }
    if a.json {
        println!("{line}");
    }
    Ok(())
}

/// The image classifiers: f32 against the calibrated int8 network, alternating round by round.
fn time_images(a: &InferArgs) -> CliResult<(Vec<Duration>, Vec<Duration>)> {
    let (net, [c, h, w]) = network(a)?;
    net.set_training(false);
    let mut rng = Rng::new(1);
    let n = a.batch_size * c * h * w;
    let x = Tensor::from_vec((0..n).map(|_| rng.normal() as f32).collect::<Vec<_>>(), [a.batch_size, c, h, w])?;
    let cfg = QuantConfig { observer: ObserverKind::MinMax, per_channel: true, reduce_range: a.reduce_range };
    let q = if a.int8 { Some(QuantizedNet::quantize(&net, [x.clone()], cfg)?) } else { None };
    let int8 = q.as_ref().map(|q| || q.run(&x).map(drop));
    let f32_forward = || no_grad(|| net.forward(&Var::constant(x.clone()))).map(drop);
    alternate(a, f32_forward, int8)
}

/// W3 on a batch of random reviews of `SENTIMENT_STEPS` tokens (a checkpoint's network, or a fresh
/// one over a 20,000-word vocabulary): f32 against the dynamically quantized network.
fn time_sentiment(a: &InferArgs) -> CliResult<(Vec<Duration>, Vec<Duration>)> {
    const SENTIMENT_STEPS: usize = 256;
    let net = match &a.checkpoint {
        Some(path) => {
            let ck = Checkpoint::load(path)?;
            let (kind, _) = kiln::models::zoo::run::checkpoint_info(&ck, path)?;
            if kind != kiln::models::zoo::ModelKind::Sentiment {
                return Err(format!("{}: a {} checkpoint, not a sentiment one", path.display(), kind.name()).into());
            }
            super::checkpoints::sentiment_classifier(&ck, path)?.0
        }
        None => SentimentNet::new(20_000, &mut Rng::new(0))?,
    };
    net.set_training(false);
    let vocab = net.embedding.weight.dims()[0];
    let mut rng = Rng::new(1);
    let ids: Vec<i64> = (0..a.batch_size * SENTIMENT_STEPS).map(|_| 1 + rng.below(vocab - 1) as i64).collect();
    let ids = Tensor::from_vec(ids, [a.batch_size, SENTIMENT_STEPS])?;
    let q = if a.int8 { Some(QuantizedSentiment::quantize(&net, true, a.reduce_range)?) } else { None };
    let int8 = q.as_ref().map(|q| || q.run(&ids).map(drop));
    let f32_forward = || no_grad(|| net.forward(&Var::constant(ids.clone()))).map(drop);
    alternate(a, f32_forward, int8)
}

/// `a.rounds` rounds, each timing `a.steps` f32 forwards then (if given) `a.steps` int8 ones.
fn alternate(
    a: &InferArgs,
    mut f32_forward: impl FnMut() -> kiln::tensor::Result<()>,
    mut int8: Option<impl FnMut() -> kiln::tensor::Result<()>>,
) -> CliResult<(Vec<Duration>, Vec<Duration>)> {
    let (mut f32_times, mut int8_times) = (Vec::new(), Vec::new());
    for round in 0..a.rounds {
        f32_times.extend(time(a.steps, || Ok(f32_forward()?))?);
        if let Some(q) = int8.as_mut() {
            int8_times.extend(time(a.steps, || Ok(q()?))?);
        }
        if !a.json {
            eprintln!("round {}/{} done", round + 1, a.rounds);
        }
    }
    Ok((f32_times, int8_times))
}
