//! `kiln explain --sanity CHECKPOINT`: whether the attributions of a trained classifier can be
//! trusted, as a verdict table. Images (lenet, cnn): integrated gradients' completeness on a
//! class-balanced test subset from a black baseline, the deletion curve by IG rank against a random
//! order, and Adebayo et al.'s cascading model randomisation; reviews (sentiment): completeness
//! from the PAD embedding, accuracy after replacing the top 10% of tokens by IG with PAD against a
//! random 10%, and the time IG takes. Curves are drawn as PNG beside the checkpoint (or in --out).
//! The measurements are `kiln::models::explain::{sanity, randomise}`; this file runs and prints.

use super::checkpoints::{evaluation_config, image_architecture};
use super::explain::{describe, image_batch, review_baseline, ExplainArgs};
use super::CliResult;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{load_texts, Dataset, FetchOptions, Normalize, Split, Vocab};
use kiln::models::explain::randomise::{cascading_randomisation, random_floor, Cascade, LayerRow};
use kiln::models::explain::sanity::{
    attribution_order, completeness, deletion_area, deletion_curve, gaussian_blur, random_order, Deletion,
    DeletionPoint, Grouping,
};
use kiln::models::explain::{attribute, ExplainConfig, Method, ReviewScorer};
use kiln::models::nn::Module;
use kiln::models::robust::PixelClassifier;
use kiln::models::train::{Chart, Series, CHART_SIZE};
use kiln::models::zoo::images;
use kiln::models::zoo::sentiment::{encode_options, subsample, SentimentNet};
use kiln::tensor::{DType, Device, Rng, Tensor};
use serde_json::json;
use std::path::Path;
use std::time::Instant;

/// `--fill blur`: the Gaussian's sigma in pixels, fixed before any measurement (a 32-pixel
/// CIFAR image keeps its shapes and loses its texture).
const BLUR_SIGMA: f64 = 2.0;

/// Images (or reviews) attributed at once.
const CHUNK: usize = 50;

/// One row of the verdict table.
struct Check {
    name: String,
    measured: String,
    target: String,
    pass: Option<bool>,
    value: f64,
}

fn check(name: &str, value: f64, shown: String, target: &str, pass: Option<bool>) -> Check {
    Check { name: name.into(), measured: shown, target: target.into(), pass, value }
}

fn print_checks(checks: &[Check], json: bool, extra: serde_json::Value) {
    if json {
        for c in checks {
            println!(
                "{}",
                json!({"check": c.name, "value": c.value, "measured": c.measured, "target": c.target, "pass": c.pass})
            );
        }
        let passed = checks.iter().filter(|c| c.pass == Some(true)).count();
        let judged = checks.iter().filter(|c| c.pass.is_some()).count();
        println!("{}", json!({"final": true, "passed": passed, "judged": judged, "details": extra}));
        return;
    }
    let w = checks.iter().map(|c| c.name.len()).max().unwrap_or(5);
    println!("{:<w$}  {:>22}  {:>10}  verdict", "check", "measured", "target");
    for c in checks {
        let verdict = match c.pass {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "-",
        };
        println!("{:<w$}  {:>22}  {:>10}  {verdict}", c.name, c.measured, c.target);
    }
}

fn completeness_checks(relative: &[f64], what: &str) -> Vec<Check> {
    let c = completeness(relative);
    let pct = |v: f64| format!("{:.3}%", 100.0 * v);
    vec![
        check(
            &format!("IG completeness, median |delta|/|F(x)-F(b)| ({} {what})", c.samples),
            c.median,
            pct(c.median),
            "<= 1%",
            Some(c.median <= 0.01),
        ),
        check("IG completeness, 99th percentile", c.p99, pct(c.p99), "<= 5%", Some(c.p99 <= 0.05)),
    ]
}

fn save_chart(chart: &Chart, out: &Path, name: &str, json: bool) -> CliResult<()> {
    let path = out.join(name);
    chart.save(&path, CHART_SIZE)?;
    if !json {
        println!("chart: {}", path.display());
    }
    Ok(())
}

/// What deleted pixels of the images `x` become: black, the mean colour of the normalisation, or
/// (`blur`) the image blurred by a Gaussian of [`BLUR_SIGMA`] pixels; in `x`'s dtype, on the host.
fn deletion_fill(fill: &str, norm: &Normalize, x: &Tensor) -> CliResult<Tensor> {
    let dims = x.dims();
    if fill == "blur" {
        let blurred = gaussian_blur(&x.to_vec_f64()?, dims, BLUR_SIGMA)?;
        return Ok(Tensor::from_vec(blurred, dims)?.to_dtype(x.dtype())?);
    }
    let (n, c, hw) = (dims[0], dims[1], dims[2] * dims[3]);
    let mean: Vec<f32> = match (fill, norm) {
        ("mean", Normalize::MeanStd { mean, .. }) if mean.len() == c => mean.clone(),
        ("mean", Normalize::Symmetric) => vec![0.5; c],
        ("mean", other) => return Err(format!("--fill mean: the model's normalisation {other:?} names no mean").into()),
        _ => vec![0.0; c],
    };
    let v: Vec<f32> = (0..n).flat_map(|_| mean.iter().flat_map(|&m| std::iter::repeat_n(m, hw))).collect();
    Ok(Tensor::from_vec(v, dims)?.to_dtype(x.dtype())?)
}

/// Sums a chunk's deletion curve (means over `m` samples) into `acc` as totals.
fn add_curve(acc: &mut Vec<DeletionPoint>, curve: &[DeletionPoint], m: usize) {
    if acc.is_empty() {
        acc.extend(curve.iter().map(|p| DeletionPoint { target_probability: 0.0, accuracy: 0.0, ..*p }));
    }
    for (a, p) in acc.iter_mut().zip(curve) {
        a.target_probability += p.target_probability * m as f64;
        a.accuracy += p.accuracy * m as f64;
    }
}

fn mean_curve(acc: &[DeletionPoint], n: usize) -> Vec<DeletionPoint> {
    acc.iter()
        .map(|p| DeletionPoint {
            target_probability: p.target_probability / n as f64,
            accuracy: p.accuracy / n as f64,
            ..*p
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn images(
    a: &ExplainArgs,
    cfg: &ExplainConfig,
    ck: &Checkpoint,
    model: &dyn Module,
    norm: &Normalize,
    dataset: Dataset,
    data_dir: &Path,
    device: Device,
) -> CliResult<()> {
    let ig = ExplainConfig { method: Method::IntegratedGradients, ..cfg.clone() };
    let run_cfg = evaluation_config(data_dir.to_path_buf(), device, CHUNK, a.seed, a.json, Some(a.limit));
    let test = images::load_split(dataset, &run_cfg, Split::Test)?;
    let clf = PixelClassifier::new(model, norm, test.channels, device)?;
    let sample = [test.channels, test.height, test.width];
    let g = Grouping::pixels(&sample)?;
    let squares = Grouping::patches(&sample, a.patch)?;
    let fractions: Vec<f64> = (0..=20).map(|k| k as f64 / 20.0).collect();
    let (mut relative, mut by_ig, mut by_chance, mut ig_seconds) = (Vec::new(), Vec::new(), Vec::new(), 0.0);
    for start in (0..test.n).step_by(CHUNK) {
        let picked: Vec<usize> = (start..(start + CHUNK).min(test.n)).collect();
        let (x, labels) = image_batch(&test, &picked, device)?;
        let clock = Instant::now();
        let attr = attribute(&clf, &x, None, None, &ig)?;
        ig_seconds += clock.elapsed().as_secs_f64();
        relative.extend(attr.relative_delta().unwrap_or_default());
        let valid = vec![squares.positions; picked.len()];
        let fill = deletion_fill(&a.fill, norm, &x.to_device(Device::Cpu)?)?.to_device(device)?;
        let d = Deletion {
            inputs: &x,
            baseline: &fill,
            target: &attr.target,
            labels: &labels,
            grouping: squares,
            batch: CHUNK,
        };
        add_curve(
            &mut by_ig,
            &deletion_curve(&clf, &d, &attribution_order(&attr, squares, &valid), &fractions)?,
            picked.len(),
        );
        let random = random_order(&valid, a.seed.wrapping_add(start as u64));
        add_curve(&mut by_chance, &deletion_curve(&clf, &d, &random, &fractions)?, picked.len());
    }
    let (by_ig, by_chance) = (mean_curve(&by_ig, test.n), mean_curve(&by_chance, test.n));
    let (area_ig, area_random) = (deletion_area(&by_ig), deletion_area(&by_chance));
    let mut checks = completeness_checks(&relative, "images, black baseline");
    let ratio = area_random / area_ig;
    checks.push(check(
        "deletion: area under p(target), random / IG order",
        ratio,
        format!("{area_random:.4} / {area_ig:.4} = {ratio:.2}x"),
        ">= 2x",
        Some(ratio >= 2.0),
    ));

    // The cascade, on images spread over the subset (it is in split order, often by class).
    let k = a.cascade.min(test.n).max(1);
    let picked: Vec<usize> = (0..k).map(|i| i * test.n / k).collect();
    let (x, _) = image_batch(&test, &picked, device)?;
    let target = attribute(&clf, &x, None, None, &ExplainConfig { method: Method::Saliency, ..cfg.clone() })?.target;
    let (fresh, _, _) = image_architecture(ck, &a.checkpoint, &mut Rng::new(a.seed.wrapping_add(1)))?;
    let zeros = Tensor::zeros(x.dims(), DType::F32).to_device(device)?;
    let cascade = Cascade { inputs: &x, baseline: &zeros, target: &target, grouping: g, ig: ig.clone() };
    let clock = Instant::now();
    let rows = cascading_randomisation(&clf, &fresh, &cascade)?;
    // A second draw of the initialisation: how alike two random models' maps are.
    let (other, _, _) = image_architecture(ck, &a.checkpoint, &mut Rng::new(a.seed.wrapping_add(2)))?;
    let floor = random_floor(&clf, &fresh, &other, &cascade)?;
    let cascade_seconds = clock.elapsed().as_secs_f64();
    let last = rows.last().cloned().unwrap_or(LayerRow { layer: "-".into(), gradient: f64::NAN, ig: f64::NAN });
    checks.push(check(
        &format!("randomisation: |gradient| rank corr., all layers random ({k} images)"),
        last.gradient,
        format!("{:.3}", last.gradient),
        "<= 0.2",
        Some(last.gradient <= 0.2),
    ));
    checks.push(check(
        "randomisation: |IG| rank corr., all layers random",
        last.ig,
        format!("{:.3}", last.ig),
        "<= 0.2",
        Some(last.ig <= 0.2),
    ));
    checks.push(check(
        "randomisation floor: two random models, |gradient| / |IG|",
        floor.gradient,
        format!("{:.3} / {:.3}", floor.gradient, floor.ig),
        "-",
        None,
    ));
    checks.push(check(
        &format!("cost: IG ({}) on {} images", describe(&ig), test.n),
        ig_seconds,
        format!("{ig_seconds:.1} s"),
        "-",
        None,
    ));

    let out = a.out_dir();
    let curve = |c: &[DeletionPoint], name: &str| Series {
        name: name.into(),
        points: c.iter().map(|p| (100.0 * p.fraction, p.target_probability)).collect(),
        dashed: false,
    };
    let chart = Chart {
        title: format!("Deletion: {}x{} squares set to {} by rank ({} test images)", a.patch, a.patch, a.fill, test.n),
        x_label: "image removed (%)".into(),
        y_label: "mean probability of the explained class".into(),
        integer_x: false,
        series: vec![
            curve(&by_ig, "by integrated gradients"),
            Series { dashed: true, ..curve(&by_chance, "random order") },
        ],
    };
    save_chart(&chart, &out, "sanity-deletion.png", a.json)?;
    let points = |f: fn(&LayerRow) -> f64| {
        std::iter::once((0.0, 1.0)).chain(rows.iter().enumerate().map(|(i, r)| ((i + 1) as f64, f(r)))).collect()
    };
    let chart = Chart {
        title: format!("Cascading randomisation, top layer first ({k} images)"),
        x_label: "layers randomised from the top".into(),
        y_label: "Spearman rank correlation with the trained maps".into(),
        integer_x: true,
        series: vec![
            Series { name: "|gradient|".into(), points: points(|r| r.gradient), dashed: false },
            Series { name: "|integrated gradients|".into(), points: points(|r| r.ig), dashed: false },
        ],
    };
    save_chart(&chart, &out, "sanity-randomisation.png", a.json)?;
    if !a.json {
        println!("randomisation, layer by layer from the top ({cascade_seconds:.1} s):");
        println!("  {:<12} {:>10} {:>8}", "randomised", "|gradient|", "|IG|");
        for r in &rows {
            println!("  {:<12} {:>10.3} {:>8.3}", format!("..{}", r.layer), r.gradient, r.ig);
        }
        println!("  {:<12} {:>10.3} {:>8.3}", "random/random", floor.gradient, floor.ig);
        let fmt = |c: &[DeletionPoint]| {
            c.iter().step_by(4).map(|p| format!("{:.3}", p.target_probability)).collect::<Vec<_>>().join(" ")
        };
        println!("deletion, p(target) at 0, 20, .., 100% removed: IG {} | random {}", fmt(&by_ig), fmt(&by_chance));
    }
    let layers: Vec<_> = rows.iter().map(|r| json!({"layer": r.layer, "gradient": r.gradient, "ig": r.ig})).collect();
    let del = |c: &[DeletionPoint]| {
        c.iter().map(|p| json!([p.fraction, p.target_probability, p.accuracy])).collect::<Vec<_>>()
    };
    let floor = json!({"gradient": floor.gradient, "ig": floor.ig});
    let details = json!({"randomisation": layers, "random_floor": floor, "deletion_ig": del(&by_ig), "deletion_random": del(&by_chance), "cascade_seconds": cascade_seconds});
    print_checks(&checks, a.json, details);
    Ok(())
}

pub fn reviews(
    a: &ExplainArgs,
    cfg: &ExplainConfig,
    net: &SentimentNet,
    vocab: &Vocab,
    data_dir: &Path,
) -> CliResult<()> {
    let ig = ExplainConfig { method: Method::IntegratedGradients, ..cfg.clone() };
    let texts = subsample(load_texts(data_dir, Split::Test, &FetchOptions::from_env())?, Some(a.limit));
    let encoded = vocab.encode_dataset(&texts, &encode_options());
    let (n, t) = (encoded.labels.len(), encoded.seq_len);
    let device = kiln::models::nn::device_of(net);
    let (mut relative, mut by_ig, mut by_chance, mut ig_seconds) = (Vec::new(), Vec::new(), Vec::new(), 0.0);
    let fractions = [0.0, 0.1];
    let chunk = CHUNK.min(16);
    for start in (0..n).step_by(chunk) {
        let end = (start + chunk).min(n);
        let ids: Vec<i64> = encoded.ids[start * t..end * t].iter().map(|&i| i64::from(i)).collect();
        let ids = Tensor::from_vec(ids, [end - start, t])?.to_device(device)?;
        let scorer = ReviewScorer::new(net, &ids)?;
        let (x, base) = (scorer.inputs()?, scorer.pad_baseline()?);
        let start_point = review_baseline(a, &scorer, vocab)?;
        let clock = Instant::now();
        let attr = attribute(&scorer, &x, Some(&start_point), None, &ig)?;
        ig_seconds += clock.elapsed().as_secs_f64();
        relative.extend(attr.relative_delta().unwrap_or_default());
        let g = Grouping::tokens(&x.dims()[1..])?;
        let labels: Vec<usize> = encoded.labels[start..end].iter().map(|&l| l as usize).collect();
        let valid = scorer.lengths().to_vec();
        let d =
            Deletion { inputs: &x, baseline: &base, target: &attr.target, labels: &labels, grouping: g, batch: chunk };
        add_curve(
            &mut by_ig,
            &deletion_curve(&scorer, &d, &attribution_order(&attr, g, &valid), &fractions)?,
            end - start,
        );
        let random = random_order(&valid, a.seed.wrapping_add(start as u64));
        add_curve(&mut by_chance, &deletion_curve(&scorer, &d, &random, &fractions)?, end - start);
    }
    let (by_ig, by_chance) = (mean_curve(&by_ig, n), mean_curve(&by_chance, n));
    let clean = by_ig[0].accuracy;
    let (drop_ig, drop_random) = (clean - by_ig[1].accuracy, clean - by_chance[1].accuracy);
    let ratio = drop_ig / drop_random;
    let mut checks = completeness_checks(&relative, &format!("reviews, {} baseline", a.baseline));
    checks.push(check(
        "faithfulness: accuracy drop, top 10% tokens by IG / random 10% -> PAD",
        ratio,
        format!("{:.2} / {:.2} pts = {ratio:.1}x", 100.0 * drop_ig, 100.0 * drop_random),
        ">= 3x",
        Some(drop_ig > 0.0 && (drop_random <= 0.0 || ratio >= 3.0)),
    ));
    checks.push(check(
        &format!("cost: IG ({}) on {n} reviews", describe(&ig)),
        ig_seconds,
        format!("{ig_seconds:.1} s ({:.1} min)", ig_seconds / 60.0),
        "minutes",
        None,
    ));
    if !a.json {
        println!(
            "accuracy: clean {:.2}%, top 10% by IG replaced {:.2}%, random 10% replaced {:.2}%",
            100.0 * clean,
            100.0 * by_ig[1].accuracy,
            100.0 * by_chance[1].accuracy
        );
    }
    let details = json!({"clean_accuracy": clean, "accuracy_top10_ig": by_ig[1].accuracy, "accuracy_random10": by_chance[1].accuracy, "ig_seconds": ig_seconds});
    print_checks(&checks, a.json, details);
    Ok(())
}
