//! `kiln explain CHECKPOINT`: why a classifier answered as it did. For an image classifier (lenet,
//! cnn) a PNG grid of test images (input | attribution | overlay, with label, prediction,
//! confidence and the completeness delta); for the W3 review classifier a self-contained HTML page
//! per review (`--text` or test reviews by `--index`) with each token shaded, and ANSI colours on a
//! terminal; `--json` prints the attributions and deltas. `--sanity` runs the checks instead
//! (`explain_sanity.rs`). The methods are `kiln::models::explain`; this file wires flags, data and
//! output only.

use super::checkpoints::{image_network, sentiment_classifier};
use super::{explain_sanity, CliResult, ComputeArgs};
use clap::Args;
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{load_images, load_texts, FetchOptions, ImageDataset, Split};
use kiln::models::explain::html::{render_review, ReviewView};
use kiln::models::explain::picture::{save_explanation_grid, Panel};
use kiln::models::explain::sanity::Grouping;
use kiln::models::explain::text::{ansi, review};
use kiln::models::explain::{attribute, Attribution, ExplainConfig, Method, ReviewScorer, Rule};
use kiln::models::nn;
use kiln::models::robust::PixelClassifier;
use kiln::models::zoo::run::checkpoint_info;
use kiln::models::zoo::sentiment::{encode_options, SentimentNet};
use kiln::models::zoo::ModelKind;
use kiln::tensor::{Device, Tensor};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ExplainArgs {
    /// A lenet, cnn or sentiment checkpoint (`kiln train` writes one).
    pub checkpoint: PathBuf,
    /// saliency, gradxinput, ig (integrated gradients) or smoothgrad.
    #[arg(long, default_value = "ig")]
    pub method: String,
    /// Test samples to explain, comma-separated indices into the whole test split [default: the
    /// first 8 images, or the first review].
    #[arg(long)]
    pub index: Option<String>,
    /// A review to explain (sentiment checkpoints), instead of test reviews.
    #[arg(long)]
    pub text: Option<String>,
    /// The class to explain [default: the predicted one]; for reviews 1 is positive, 0 negative.
    #[arg(long)]
    pub target: Option<usize>,
    /// Integrated gradients: points on the path (Captum's n_steps).
    #[arg(long, default_value_t = 50)]
    pub steps: usize,
    /// Integrated gradients: gausslegendre, riemann_left, riemann_right, riemann_middle or
    /// riemann_trapezoid.
    #[arg(long, default_value = "gausslegendre")]
    pub rule: String,
    /// SmoothGrad: noisy copies per input.
    #[arg(long, default_value_t = 25)]
    pub samples: usize,
    /// SmoothGrad: noise standard deviation as a fraction of the input's value range.
    #[arg(long, default_value_t = 0.15)]
    pub sigma: f64,
    /// Points (interpolation steps, noisy copies) per forward and backward.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Seed of SmoothGrad's noise and of the sanity checks' random orders and weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where pictures and pages go [default: beside the checkpoint].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// One JSON object per sample (attributions per pixel or token, the delta), then a final line.
    #[arg(long)]
    pub json: bool,
    /// Run the sanity checks (completeness, randomisation, faithfulness) and print a verdict table.
    #[arg(long)]
    pub sanity: bool,
    /// Sanity: test samples for completeness and faithfulness (class-balanced images, evenly
    /// spread reviews).
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// Sanity: images for the model-randomisation cascade.
    #[arg(long, default_value_t = 100)]
    pub cascade: usize,
    /// Reviews: integrated gradients' baseline, `pad` (the PAD embedding) or a word whose embedding
    /// fills every position instead.
    #[arg(long, default_value = "pad")]
    pub baseline: String,
    /// Sanity, images: what deleted pixels become, `black` (IG's baseline), `mean` (the training
    /// set's mean colour, what the network's normalisation maps to zero) or `blur` (the image
    /// blurred by a Gaussian of 2 pixels: detail removed, no hole painted).
    #[arg(long, default_value = "black", value_parser = ["black", "mean", "blur"])]
    pub fill: String,
    /// Sanity, images: delete squares of N x N pixels (ranked by their summed attribution)
    /// instead of single pixels.
    #[arg(long, default_value_t = 1)]
    pub patch: usize,
    #[command(flatten)]
    pub compute: ComputeArgs,
}

impl ExplainArgs {
    pub fn config(&self) -> CliResult<ExplainConfig> {
        let cfg = ExplainConfig {
            method: Method::parse(&self.method)?,
            steps: self.steps,
            rule: Rule::parse(&self.rule)?,
            samples: self.samples,
            sigma: self.sigma,
            batch: self.batch_size,
            seed: self.seed,
        };
        cfg.check()?;
        Ok(cfg)
    }

    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| self.checkpoint.parent().unwrap_or(Path::new(".")).to_path_buf())
    }
}

/// What a method's picture is titled.
pub fn describe(cfg: &ExplainConfig) -> String {
    match cfg.method {
        Method::Saliency => "saliency |dF/dx|".into(),
        Method::GradXInput => "gradient x input".into(),
        Method::IntegratedGradients => format!("integrated gradients, {} steps, {}", cfg.steps, cfg.rule.name()),
        Method::SmoothGrad => format!("SmoothGrad, {} samples, sigma {}", cfg.samples, cfg.sigma),
    }
}

pub fn run(a: ExplainArgs) -> CliResult<()> {
    let cfg = a.config()?;
    let (data_dir, device) = a.compute.apply(a.json)?;
    let ck = Checkpoint::load(&a.checkpoint)?;
    let (kind, _) = checkpoint_info(&ck, &a.checkpoint)?;
    if kind == ModelKind::Gan {
        return Err(format!(
            "{}: a gan checkpoint is not a classifier kiln can explain (lenet, cnn and sentiment are)",
            a.checkpoint.display()
        )
        .into());
    }
    let out = a.out_dir();
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let fetch = FetchOptions::from_env();
    if kind == ModelKind::Sentiment {
        let (net, vocab) = sentiment_classifier(&ck, &a.checkpoint)?;
        nn::to_device(&net, device)?;
        if a.sanity {
            return explain_sanity::reviews(&a, &cfg, &net, &vocab, &data_dir);
        }
        if a.text.is_some() && a.index.is_some() {
            return Err("give --text or --index, not both".into());
        }
        let reviews: Vec<(Option<usize>, String, Option<u8>)> = match &a.text {
            Some(t) => vec![(None, t.clone(), None)],
            None => {
                let test = load_texts(&data_dir, Split::Test, &fetch)?;
                indices(a.index.as_deref(), 1, test.len(), "test reviews")?
                    .into_iter()
                    .map(|i| (Some(i), test.texts[i].clone(), Some(test.labels[i])))
                    .collect()
            }
        };
        for (index, text, label) in reviews {
            explain_review(&a, &cfg, &net, &vocab, (index, &text, label), &out)?;
        }
        return Ok(());
    }
    if a.text.is_some() {
        return Err(
            format!("--text needs a sentiment checkpoint; {} is a {}", a.checkpoint.display(), kind.name()).into()
        );
    }
    // f32 only: an int8 network has no gradients to attribute with.
    let (model, dataset, norm) = image_network(&ck, &a.checkpoint)?;
    let model: Box<dyn nn::Module> = Box::new(model);
    nn::to_device(model.as_ref(), device)?;
    if a.sanity {
        return explain_sanity::images(&a, &cfg, &ck, model.as_ref(), &norm, dataset, &data_dir, device);
    }
    let test = load_images(dataset, &data_dir, Split::Test, &fetch)?;
    let picked = indices(a.index.as_deref(), 8, test.n, "test images")?;
    let (x, labels) = image_batch(&test, &picked, device)?;
    let clf = PixelClassifier::new(model.as_ref(), &norm, test.channels, device)?;
    let target = a.target.map(|t| vec![t; picked.len()]);
    let attr = attribute(&clf, &x, None, target.as_deref(), &cfg)?;
    let g = Grouping::pixels(&x.dims()[1..])?;
    let pixels = x.to_vec::<f32>()?;
    let per = test.image_len();
    let class = |c: usize| test.classes.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut panels = Vec::new();
    for (i, &index) in picked.iter().enumerate() {
        let map = g.per_position(attr.sample(i));
        let mut caption = vec![
            format!("#{index}  label: {}", class(labels[i])),
            format!("predicted: {} ({:.1}%)", class(attr.predicted[i]), 100.0 * attr.confidence[i]),
            format!("explained: {}", class(attr.target[i])),
        ];
        if let Some(d) = &attr.delta {
            caption.push(format!("delta: {:.2e}", d[i]));
        }
        if a.json {
            println!(
                "{}",
                sample_json(
                    &attr,
                    i,
                    json!({"index": index, "label": labels[i], "shape": [test.height, test.width]}),
                    &map
                )
            );
        }
        panels.push(Panel { pixels: pixels[i * per..(i + 1) * per].to_vec(), map, caption });
    }
    let path = out.join(format!("explain-{}.png", cfg.method.name()));
    let dims = [test.channels, test.height, test.width];
    save_explanation_grid(&panels, dims, cfg.method.signed(), &describe(&cfg), &path)?;
    if a.json {
        println!(
            "{}",
            json!({"final": true, "method": cfg.method.name(), "samples": picked.len(), "png": path.display().to_string()})
        );
    } else {
        print_table(&attr, &picked, &|c| class(c));
        println!("picture (input | attribution | overlay): {}", path.display());
    }
    Ok(())
}

/// The baseline `--baseline` names for the reviews of `scorer`.
pub fn review_baseline(a: &ExplainArgs, scorer: &ReviewScorer, vocab: &kiln::models::data::Vocab) -> CliResult<Tensor> {
    if a.baseline == "pad" {
        return Ok(scorer.pad_baseline()?);
    }
    let id = vocab.id(&a.baseline);
    if id == kiln::models::data::OOV_ID {
        return Err(format!("--baseline {}: not a word of the model's vocabulary (or pad)", a.baseline).into());
    }
    Ok(scorer.baseline_of(id)?)
}

/// Comma-separated indices below `n`, or the first `default` of them.
pub fn indices(spec: Option<&str>, default: usize, n: usize, what: &str) -> CliResult<Vec<usize>> {
    let Some(spec) = spec else { return Ok((0..default.min(n)).collect()) };
    spec.split(',')
        .map(|s| {
            let i: usize = s.trim().parse().map_err(|_| format!("--index: `{s}` is not an index"))?;
            if i >= n {
                return Err(format!("--index {i} is outside the {n} {what} (0..{})", n.saturating_sub(1)).into());
            }
            Ok(i)
        })
        .collect()
}

/// The images at `picked` as pixels in [0, 1] `[n, C, H, W]` on `device`, and their labels.
pub fn image_batch(d: &ImageDataset, picked: &[usize], device: Device) -> CliResult<(Tensor, Vec<usize>)> {
    let per = d.image_len();
    let v: Vec<f32> =
        picked.iter().flat_map(|&i| d.images[i * per..(i + 1) * per].iter().map(|&p| p as f32 / 255.0)).collect();
    let x = Tensor::from_vec(v, [picked.len(), d.channels, d.height, d.width])?.to_device(device)?;
    Ok((x, picked.iter().map(|&i| d.labels[i] as usize).collect()))
}

/// One sample's JSON: what the model said, the delta, and `map` (per pixel or token).
fn sample_json(attr: &Attribution, i: usize, mut head: serde_json::Value, map: &[f64]) -> serde_json::Value {
    head["method"] = json!(attr.method.name());
    head["predicted"] = json!(attr.predicted[i]);
    head["confidence"] = json!(attr.confidence[i]);
    head["target"] = json!(attr.target[i]);
    head["score"] = json!(attr.score[i]);
    if let (Some(d), Some(b), Some(r)) = (&attr.delta, &attr.baseline_score, attr.relative_delta()) {
        head["baseline_score"] = json!(b[i]);
        head["delta"] = json!(d[i]);
        head["relative_delta"] = json!(r[i]);
    }
    head["attribution"] = json!(map);
    head
}

fn print_table(attr: &Attribution, picked: &[usize], class: &dyn Fn(usize) -> String) {
    println!("{:>6} {:>12} {:>12} {:>7} {:>12} {:>10}", "index", "predicted", "explained", "conf", "F(x)", "delta");
    for (i, index) in picked.iter().enumerate() {
        let delta = attr.delta.as_ref().map_or("-".to_string(), |d| format!("{:.2e}", d[i]));
        println!(
            "{index:>6} {:>12} {:>12} {:>6.1}% {:>12.4} {delta:>10}",
            class(attr.predicted[i]),
            class(attr.target[i]),
            100.0 * attr.confidence[i],
            attr.score[i]
        );
    }
}

fn explain_review(
    a: &ExplainArgs,
    cfg: &ExplainConfig,
    net: &SentimentNet,
    vocab: &kiln::models::data::Vocab,
    (index, text, label): (Option<usize>, &str, Option<u8>),
    out: &Path,
) -> CliResult<()> {
    let (tokens, ids) = review(text, vocab, &encode_options())?;
    let ids = ids.to_device(nn::device_of(net))?;
    let scorer = ReviewScorer::new(net, &ids)?;
    let (x, base) = (scorer.inputs()?, review_baseline(a, &scorer, vocab)?);
    let target = a.target.map(|t| vec![t]);
    let attr = attribute(&scorer, &x, Some(&base), target.as_deref(), cfg)?;
    let values = Grouping::tokens(&x.dims()[1..])?.per_position(attr.sample(0))[..tokens.len()].to_vec();
    let sentiment = |c: usize| if c == 1 { "positive" } else { "negative" };
    let mut facts = vec![
        ("prediction".to_string(), format!("{} (p = {:.3})", sentiment(attr.predicted[0]), attr.confidence[0])),
        (
            "explained class".to_string(),
            format!(
                "{} (score = {}logit = {:.4})",
                sentiment(attr.target[0]),
                if attr.target[0] == 1 { "" } else { "-" },
                attr.score[0]
            ),
        ),
        ("tokens read".to_string(), tokens.len().to_string()),
    ];
    if let Some(l) = label {
        facts.insert(0, ("label".to_string(), sentiment(l as usize).to_string()));
    }
    if let (Some(d), Some(b)) = (&attr.delta, &attr.baseline_score) {
        facts.push((format!("F(baseline: {})", a.baseline), format!("{:.4}", b[0])));
        facts.push((
            "completeness delta".to_string(),
            format!("{:.3e} (sum of attributions {:.4})", d[0], values.iter().sum::<f64>()),
        ));
    }
    let name = index.map_or("explain-review.html".to_string(), |i| format!("explain-review-{i}.html"));
    let title = match index {
        Some(i) => format!("kiln explain: test review {i}"),
        None => "kiln explain: a review".to_string(),
    };
    let page = render_review(&ReviewView {
        title: &title,
        method: &describe(cfg),
        tokens: &tokens,
        values: &values,
        facts: &facts,
    });
    let path = out.join(name);
    std::fs::write(&path, page).map_err(|e| format!("{}: {e}", path.display()))?;
    if a.json {
        let words: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
        let head = json!({"index": index, "label": label, "tokens": words, "html": path.display().to_string()});
        println!("{}", sample_json(&attr, 0, head, &values));
        return Ok(());
    }
    for (k, v) in &facts {
        println!("{k}: {v}");
    }
    if std::io::stdout().is_terminal() {
        println!("{}", ansi(&tokens, &values));
    } else {
        let mut ranked: Vec<(f64, &str)> = values.iter().copied().zip(tokens.iter().map(|t| t.text.as_str())).collect();
        ranked.sort_by(|x, y| y.0.total_cmp(&x.0));
        let show = |v: &[(f64, &str)]| v.iter().map(|(a, w)| format!("{w} ({a:+.3})")).collect::<Vec<_>>().join(", ");
        let k = ranked.len().min(8);
        println!("most for: {}", show(&ranked[..k]));
        let against: Vec<(f64, &str)> = ranked[ranked.len() - k..].iter().rev().copied().collect();
        println!("most against: {}", show(&against));
    }
    println!("page: {}", path.display());
    Ok(())
}
