//! `kiln attack CHECKPOINT`: clean and robust accuracy of an image classifier (LeNet, the W2 CNN)
//! under FGSM, PGD or the Adam attack at one or more radii, as a table or JSON lines, a PNG strip
//! of the first test images (clean | perturbation, amplified | adversarial, captioned with the
//! verdicts) and the robust-accuracy-vs-eps curve beside it.
//! The attacks themselves are `kiln::models::robust`; this file only wires flags, data and output.

use super::checkpoints::{evaluation_config, image_network};
use super::{CliResult, ComputeArgs};
use clap::Args;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{Augment, Normalize, Split};
use kiln::models::nn;
use kiln::models::robust::{parse_eps_list, robust_accuracy, AttackConfig, Method, RobustReport};
use kiln::models::train::{pixel_colours, save_tile_rows, Chart, Progress, Series, TileLayout, TileRow, CHART_SIZE};
use kiln::models::zoo::images;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AttackArgs {
    /// A lenet or cnn checkpoint (`kiln train lenet|cnn` writes one).
    checkpoint: PathBuf,
    /// fgsm, pgd (random start) or adam (Adam on the input).
    #[arg(long, default_value = "pgd")]
    method: String,
    /// Radii in pixels of [0, 1], comma-separated; fractions parse (8/255).
    #[arg(long, default_value = "2/255,4/255,8/255")]
    eps: String,
    /// Steps for pgd and adam.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Step size: pgd's per-step move (default 2/255, torchattacks' convention) or adam's
    /// learning rate (default 0.01).
    #[arg(long)]
    alpha: Option<String>,
    /// Restarts for pgd and adam (per sample the first success, else the worst loss, is kept).
    #[arg(long, default_value_t = 1)]
    restarts: usize,
    /// Attack towards this class instead of away from the true label.
    #[arg(long)]
    targeted: Option<i64>,
    /// Attack a class-balanced subset of N test images (the same subset `kiln eval --limit N` scores)
    /// [default: all 10,000].
    #[arg(long)]
    limit: Option<usize>,
    /// Images attacked at once.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Seed of PGD's random starts.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// One JSON object per radius, then a final line.
    #[arg(long)]
    json: bool,
    /// A directory for the example strip and the curve (created if missing), or the strip's `.png`
    /// path (default: beside the checkpoint).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    compute: ComputeArgs,
}

fn attacks(a: &AttackArgs) -> CliResult<Vec<AttackConfig>> {
    let method = Method::parse(&a.method)?;
    let alpha = match &a.alpha {
        Some(s) => Some(kiln::models::robust::parse_eps(s)?),
        None => None,
    };
    parse_eps_list(&a.eps)?
        .into_iter()
        .map(|eps| {
            let mut cfg = match method {
                Method::Fgsm => AttackConfig::fgsm(eps),
                Method::Pgd => AttackConfig::pgd(eps, alpha.unwrap_or(2.0 / 255.0), a.steps),
                Method::Adam => AttackConfig::adam(eps, alpha.unwrap_or(0.01), a.steps),
            };
            cfg.restarts = a.restarts;
            cfg.target = a.targeted;
            cfg.seed = a.seed;
            cfg.check()?;
            Ok(cfg)
        })
        .collect()
}

pub fn run(a: AttackArgs) -> CliResult<()> {
    let attacks = attacks(&a)?;
    if a.batch_size == 0 {
        return Err("--batch-size must be at least 1".into());
    }
    let (data_dir, device) = a.compute.apply(a.json)?;
    let ck = Checkpoint::load(&a.checkpoint)?;
    // f32 only: an int8 network has no input gradient to attack with.
    let (model, dataset, norm) = image_network(&ck, &a.checkpoint)?;
    let model: Box<dyn nn::Module> = Box::new(model);
    nn::to_device(model.as_ref(), device)?;
    let cfg = evaluation_config(data_dir, device, a.batch_size, a.seed, a.json, a.limit);
    let test = images::load_split(dataset, &cfg, Split::Test)?;
    let (total, classes) = (test.n, test.classes.clone());
    // The strip's images: one from each of the first classes (the test split may be ordered by
    // class, so its first batch can be a single class), attacked again on their own.
    let shown = images::subset(test.clone(), Some(STRIP_IMAGES), a.seed)?;
    let loader = images::loader(test, &cfg, false, Augment::default(), &Normalize::Unit)?;
    let progress = Progress::new(total.div_ceil(a.batch_size) as u64, &format!("{} attack", a.method), !a.json);
    let report = robust_accuracy(model.as_ref(), &norm, &loader, &attacks, |_| progress.tick(""))?;
    progress.finish();
    print_report(&a, &report);
    let shown = images::loader(shown, &cfg, false, Augment::default(), &Normalize::Unit)?;
    let shown = robust_accuracy(model.as_ref(), &norm, &shown, &attacks, |_| {})?;
    let out = strip_path(&a)?;
    let strip = write_strip(&shown, &classes, &out)?;
    let curve = write_curve(&a, &report, &curve_path(&out))?;
    if !a.json {
        if let Some(path) = strip {
            println!("examples (clean | perturbation, -eps black to +eps white | adversarial): {}", path.display());
        }
        println!("robust accuracy against eps: {}", curve.display());
    }
    Ok(())
}

/// Where the strip goes: `--out` itself when it names a `.png` file, `attack-<method>.png` inside
/// it otherwise (a directory, created if missing), beside the checkpoint without `--out`.
fn strip_path(a: &AttackArgs) -> Result<PathBuf, String> {
    let name = format!("attack-{}.png", a.method);
    match &a.out {
        None => Ok(a.checkpoint.with_file_name(name)),
        Some(file) if file.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) => Ok(file.clone()),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
            Ok(dir.join(name))
        }
    }
}

/// Where the curve goes: beside the strip, `<strip stem>-curve.png`.
fn curve_path(strip: &Path) -> PathBuf {
    let stem = strip.file_stem().and_then(|s| s.to_str()).unwrap_or("attack");
    strip.with_file_name(format!("{stem}-curve.png"))
}

fn print_report(a: &AttackArgs, r: &RobustReport) {
    if a.json {
        for row in &r.rows {
            let c = &row.attack;
            println!(
                "{}",
                json!({ "method": c.method.name(), "eps": c.eps, "alpha": c.alpha, "steps": c.steps,
                        "restarts": c.restarts, "targeted": c.target, "samples": r.seen,
                        "clean_accuracy": r.clean_accuracy(), "robust_accuracy": row.robust_accuracy(r.seen),
                        "target_hit_rate": c.target.map(|_| row.hit_target as f64 / r.seen.max(1) as f64) })
            );
        }
        println!(
            "{}",
            json!({ "final": true, "samples": r.seen, "clean_accuracy": r.clean_accuracy(), "seconds": r.seconds })
        );
        return;
    }
    println!("{} test images, clean accuracy {:.2}%  ({:.1} s)", r.seen, 100.0 * r.clean_accuracy(), r.seconds);
    println!("{:<8} {:>10} {:>8} {:>6} {:>9} {:>10}", "method", "eps", "alpha", "steps", "restarts", "robust");
    for row in &r.rows {
        let c = &row.attack;
        let eps255 = c.eps * 255.0;
        println!(
            "{:<8} {:>10} {:>8.4} {:>6} {:>9} {:>9.2}%",
            c.method.name(),
            format!("{:.4} ({eps255:.1}/255)", c.eps),
            c.alpha,
            c.steps,
            c.restarts,
            100.0 * row.robust_accuracy(r.seen)
        );
    }
}

/// Test images shown per radius in the strip (each of another class).
const STRIP_IMAGES: usize = 5;

/// The images `r` attacked, one row per (radius, image): clean, the perturbation (-eps
/// black, 0 grey, +eps white), and the adversarial image, captioned with the true class and the
/// model's verdict (class and confidence) on the clean and the adversarial image.
fn write_strip(r: &RobustReport, classes: &[String], path: &Path) -> CliResult<Option<PathBuf>> {
    let Some((clean, labels, verdicts, outcomes)) = &r.first_batch else { return Ok(None) };
    let dims = clean.dims().to_vec();
    let (n, channels, hw) = (dims[0].min(STRIP_IMAGES), dims[1], [dims[2], dims[3]]);
    let per = channels * hw[0] * hw[1];
    let pixels = clean.to_vec::<f32>()?;
    let name = |k: i64| classes.get(k as usize).cloned().unwrap_or_else(|| k.to_string());
    let mut rows = Vec::new();
    for (outcome, row) in outcomes.iter().zip(&r.rows) {
        let adv = outcome.adversarial.to_vec::<f32>()?;
        let a = &row.attack;
        // The perturbation scaled so that -eps is black and +eps white (grey: unchanged).
        let amplify = 0.5 / a.eps.max(f32::MIN_POSITIVE);
        for i in 0..n {
            let (c, x) = (&pixels[i * per..(i + 1) * per], &adv[i * per..(i + 1) * per]);
            let delta: Vec<f32> = c.iter().zip(x).map(|(c, x)| 0.5 + amplify * (x - c)).collect();
            let (p, q) = (&outcome.verdicts, verdicts);
            let fooled = if p.predicted[i] != labels[i] && q.predicted[i] == labels[i] { "  fooled" } else { "" };
            rows.push(TileRow {
                tiles: vec![
                    pixel_colours(c, channels, hw),
                    pixel_colours(&delta, channels, hw),
                    pixel_colours(x, channels, hw),
                ],
                caption: vec![
                    format!("{} eps {} · true {}", a.method.name(), eps_text(a.eps), name(labels[i])),
                    format!("clean: {} {:.1}%", name(q.predicted[i]), 100.0 * q.confidence[i]),
                    format!("adversarial: {} {:.1}%{fooled}", name(p.predicted[i]), 100.0 * p.confidence[i]),
                ],
            });
        }
    }
    let layout = TileLayout {
        hw,
        tile_side: 128,
        headers: &["clean", "perturbation", "adversarial"],
        title: "one test image per class",
        caption_width: 300,
    };
    save_tile_rows(&rows, &layout, path)?;
    Ok(Some(path.to_path_buf()))
}

/// A radius as people read it: `0.3` where it is a short decimal, `8/255` where it is a whole
/// number of grey levels (0.2 is both, and reads as `0.2`), else the plain number.
fn eps_text(eps: f32) -> String {
    match grey_levels(eps) {
        Some(levels) if !is_short_decimal(eps) => format!("{levels}/255"),
        _ => format!("{eps}"),
    }
}

/// `eps` as a whole number of grey levels of 255, where it is one.
fn grey_levels(eps: f32) -> Option<u32> {
    let levels = eps as f64 * 255.0;
    (eps > 0.0 && (levels - levels.round()).abs() < 1e-3).then(|| levels.round() as u32)
}

/// Whether `eps` has at most two decimal places (0.1, 0.25), as MNIST radii are written.
fn is_short_decimal(eps: f32) -> bool {
    let hundredths = eps as f64 * 100.0;
    (hundredths - hundredths.round()).abs() < 1e-4
}

/// Robust accuracy against eps, starting from the clean accuracy at 0. The axis counts grey levels of
/// 255 where every radius is written as a `k/255` fraction (CIFAR's convention), pixels otherwise.
fn write_curve(a: &AttackArgs, r: &RobustReport, path: &Path) -> CliResult<PathBuf> {
    let in_levels = r.rows.iter().all(|row| eps_text(row.attack.eps).ends_with("/255"));
    let (scale, x_label) =
        if in_levels { (255.0, "eps (grey levels of 255)") } else { (1.0, "eps (pixels in [0, 1])") };
    let mut points = vec![(0.0, 100.0 * r.clean_accuracy())];
    points.extend(r.rows.iter().map(|row| (row.attack.eps as f64 * scale, 100.0 * row.robust_accuracy(r.seen))));
    points.sort_by(|p, q| p.0.total_cmp(&q.0));
    let steps = if a.method == "fgsm" { String::new() } else { format!("-{}", a.steps) };
    let restarts = if a.restarts > 1 { format!(", {} restarts", a.restarts) } else { String::new() };
    let chart = Chart {
        title: format!("{}{steps}{restarts} on {} test images", a.method, r.seen),
        x_label: x_label.into(),
        y_label: "accuracy (%)".into(),
        integer_x: false,
        series: vec![Series { name: format!("{}{steps} robust accuracy", a.method), points, dashed: false }],
    };
    chart.save(path, CHART_SIZE)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::eps_text;

    #[test]
    fn radii_read_as_they_are_written() {
        assert_eq!(eps_text((8.0f64 / 255.0) as f32), "8/255");
        assert_eq!(eps_text((2.0f64 / 255.0) as f32), "2/255");
        assert_eq!(eps_text(0.1), "0.1");
        assert_eq!(eps_text(0.2), "0.2"); // 51/255 too, but written as a decimal
        assert_eq!(eps_text(0.3), "0.3");
        assert_eq!(eps_text(0.0), "0");
        assert_eq!(eps_text(0.0123), "0.0123");
    }
}
