//! The HTML of a run report: one page that needs nothing else (charts as inline SVG, sample grids
//! as `data:` URIs, styles inline, no scripts, no network). A summary table (model, command,
//! config, seed, data source, CPU and ISA, kiln version and commit, wall time, final result) with
//! one column per run, the charts, each run's per-epoch metrics table and its sample grids.
//! Every text from a record goes through `html_escape`.

use super::{run_charts, RunRecord};
use crate::train::CHART_SIZE;
use base64::Engine;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde_json::Value;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}\
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
th{background:#f2f2f2}table.metrics td{text-align:right;font-variant-numeric:tabular-nums}\
svg{max-width:100%;height:auto;display:block;margin:8px 0}figure{display:inline-block;margin:6px}\
img.grid{image-rendering:pixelated}figcaption{text-align:center;font-size:90%}";

/// Grids shown per run at most (spread over the run, the last always among them).
const MAX_GRIDS: usize = 6;

/// The whole page for `runs`.
pub fn render(runs: &[RunRecord]) -> Result<String, String> {
    if runs.is_empty() {
        return Err("report: no runs given".into());
    }
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let title = format!("kiln run report: {}", names.join(", "));
    let mut page = String::new();
    let w = &mut page;
    let _ = write!(w, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = writeln!(w, "<title>{}</title><style>{STYLE}</style></head><body>", text(&title));
    let _ = writeln!(w, "<h1>{}</h1>", text(&title));
    summary(w, runs);
    let charts = run_charts(runs);
    if !charts.is_empty() {
        let _ = writeln!(w, "<h2>Curves</h2>");
    }
    for (name, chart) in charts {
        let _ = writeln!(w, "<div class=\"chart\" id=\"chart-{name}\">{}</div>", chart.to_svg(CHART_SIZE)?);
    }
    for run in runs {
        metrics_table(w, run);
        sample_grids(w, run)?;
    }
    let _ = writeln!(w, "</body></html>");
    Ok(page)
}

/// How one summary row reads a run.
type Cell = fn(&RunRecord) -> String;

fn summary(w: &mut String, runs: &[RunRecord]) {
    let _ = write!(w, "<h2>Run</h2>\n<table class=\"summary\"><tr><th></th>");
    for run in runs {
        let _ = write!(w, "<th>{}</th>", text(&run.name));
    }
    let _ = writeln!(w, "</tr>");
    let rows: [(&str, Cell); 14] = [
        ("model", |r| r.info_str("model")),
        ("command", |r| r.info_str("command")),
        ("config", config),
        ("seed", |r| r.info.pointer("/config/seed").map_or("unknown".into(), Value::to_string)),
        ("device", |r| format!("{}, {} threads", r.info_str("device"), r.info_str("threads"))),
        ("data source", |r| match r.info.get("data").and_then(Value::as_array) {
            Some(lines) if !lines.is_empty() => lines.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "),
            _ => "unknown".into(),
        }),
        ("CPU", |r| r.info_str("cpu")),
        ("ISA", |r| r.info_str("isa")),
        ("kiln version", |r| r.info_str("kiln_version")),
        ("commit", |r| r.info_str("commit")),
        ("started", |r| r.info_str("started")),
        ("wall time", wall_time),
        ("final result", final_result),
        ("checkpoint", |r| {
            r.fin.as_ref().and_then(|f| f.get("checkpoint")?.as_str().map(String::from)).unwrap_or_default()
        }),
    ];
    for (label, cell) in rows {
        let _ = write!(w, "<tr><th>{label}</th>");
        for run in runs {
            let _ = write!(w, "<td>{}</td>", text(&cell(run)));
        }
        let _ = writeln!(w, "</tr>");
    }
    let _ = writeln!(w, "</table>");
}

fn config(r: &RunRecord) -> String {
    let Some(c) = r.info.get("config").and_then(Value::as_object) else { return "unknown".into() };
    c.iter().filter(|(k, _)| *k != "model").map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

fn wall_time(r: &RunRecord) -> String {
    match r.fin.as_ref().and_then(|f| f.get("wall_seconds")?.as_f64()) {
        Some(s) => format!("{s:.1} s ({:.1} min)", s / 60.0),
        None => {
            let so_far: f64 = r.epochs.iter().filter_map(|e| e.get("seconds")?.as_f64()).sum();
            format!("not finished: {} epochs, {so_far:.1} s so far", r.epochs.len())
        }
    }
}

fn final_result(r: &RunRecord) -> String {
    let Some(fin) = r.fin.as_ref().or(r.epochs.last()).and_then(Value::as_object) else { return "none yet".into() };
    let shown = ["epochs", "test_accuracy", "test_loss", "d_loss", "g_loss"];
    let parts: Vec<String> = shown
        .iter()
        .filter_map(|k| fin.get(*k).filter(|v| !v.is_null()).map(|v| format!("{} {}", k.replace('_', " "), cell(k, v))))
        .collect();
    parts.join(", ")
}

/// How a metric value reads: accuracies in percent, seconds with a unit, losses to 4 places.
fn cell(key: &str, v: &Value) -> String {
    match (v.as_f64(), v) {
        (_, Value::String(s)) => s.clone(),
        (Some(f), _) if key.contains("accuracy") => format!("{:.2}%", f * 100.0),
        (Some(f), _) if key == "seconds" => format!("{f:.1} s"),
        (Some(f), _) if key == "lr" => format!("{f:.3e}"),
        (Some(f), _) if v.is_f64() => format!("{f:.4}"),
        _ => v.to_string(),
    }
}

fn metrics_table(w: &mut String, run: &RunRecord) {
    let mut keys: Vec<&str> = Vec::new();
    for r in &run.epochs {
        for k in r.as_object().into_iter().flat_map(|o| o.keys()) {
            if k != "samples" && !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let _ = writeln!(w, "<h2>Metrics per epoch: {}</h2>", text(&run.name));
    let _ = write!(w, "<table class=\"metrics\" data-run=\"{}\"><tr>", attr(&run.name));
    for k in &keys {
        let _ = write!(w, "<th>{}</th>", text(&k.replace('_', " ")));
    }
    let _ = writeln!(w, "</tr>");
    for r in &run.epochs {
        let _ = write!(w, "<tr>");
        for k in &keys {
            let _ = write!(w, "<td>{}</td>", text(&r.get(*k).map(|v| cell(k, v)).unwrap_or_default()));
        }
        let _ = writeln!(w, "</tr>");
    }
    let _ = writeln!(w, "</table>");
}

fn sample_grids(w: &mut String, run: &RunRecord) -> Result<(), String> {
    let files = run.sample_files();
    if files.is_empty() {
        return Ok(());
    }
    let n = files.len();
    let k = MAX_GRIDS.min(n);
    let picked: Vec<usize> = if k == 1 { vec![n - 1] } else { (0..k).map(|i| i * (n - 1) / (k - 1)).collect() };
    let _ = writeln!(w, "<h2>Samples: {}</h2><div class=\"samples\">", text(&run.name));
    for i in picked {
        let (epoch, path) = &files[i];
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Shown at twice its size, pixels kept square: a 28x28 digit is too small to judge at 1x.
        let (gw, gh) = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .into_dimensions()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        let _ = writeln!(
            w,
            "<figure><img class=\"grid\" width=\"{}\" height=\"{}\" alt=\"samples after epoch {epoch}\" \
             src=\"data:image/png;base64,{data}\"><figcaption>epoch {epoch}</figcaption></figure>",
            2 * gw,
            2 * gh
        );
    }
    let _ = writeln!(w, "</div>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn lenet(dir: &Path) -> RunRecord {
        let info = json!({"model": "lenet", "command": "kiln train lenet --seed 3 <&>", "config": {"epochs": 2, "seed": 3},
            "data": ["mnist: data dir"], "commit": "abc123", "threads": 2, "device": "cpu"});
        let records = [
            json!({"epoch": 1, "train_loss": 0.5, "test_accuracy": 0.9812, "seconds": 5.04}),
            json!({"epoch": 2, "train_loss": 0.25, "test_accuracy": 0.9926, "seconds": 5.0}),
            json!({"final": true, "epochs": 2, "test_accuracy": 0.9926, "wall_seconds": 10.5}),
        ];
        RunRecord::new(dir, info, &records)
    }

    #[test]
    fn page_is_self_contained_and_escaped() {
        let page = render(&[lenet(Path::new("runs/lenet-1"))]).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("kiln train lenet --seed 3 &lt;&amp;&gt;"), "record text is escaped");
        assert!(page.contains("<td>99.26%</td>") && page.contains("<td>5.0 s</td>"));
        assert!(page.contains("test accuracy 99.26%") && page.contains("10.5 s (0.2 min)"));
        assert!(page.contains("<svg") && page.contains("id=\"chart-accuracy\""));
        for remote in ["http://", "https://", "<script", "<link"] {
            assert!(!page.replace("http://www.w3.org/2000/svg", "").contains(remote), "{remote}");
        }
        assert!(render(&[]).is_err());
    }

    #[test]
    fn sample_grids_are_embedded_as_data_uris() {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Value> = (1..=9)
            .map(|e| {
                let file = dir.path().join(format!("samples-epoch-{e:03}.png"));
                crate::train::save_image_grid(&[0.5; 4], [1, 1, 2, 2], (0.0, 1.0), 1, &file).unwrap();
                json!({"epoch": e, "d_loss": 1.0, "g_loss": 1.0, "samples": file.display().to_string()})
            })
            .collect();
        let page = render(&[RunRecord::new(dir.path(), json!({}), &records)]).unwrap();
        assert_eq!(page.matches("src=\"data:image/png;base64,iVBOR").count(), MAX_GRIDS);
        assert!(page.contains("epoch 1</figcaption>") && page.contains("epoch 9</figcaption>"));
        assert!(!page.contains("samples-epoch"), "no file references left in the page");
        assert!(page.contains("width=\"12\" height=\"12\""), "grids are shown at twice their size");
    }
}
