//! Run reports: what a run folder holds about its run (`run.json`: model, command, config, data
//! source, machine, kiln version and commit; `metrics.jsonl`: one record per epoch and a final
//! one), read back as a [`RunRecord`], and turned into the loss / accuracy charts (PNG and SVG
//! beside the checkpoint) and a self-contained `report.html` (inline SVG, sample grids as data
//! URIs, no network). `kiln train` refreshes both every epoch; `kiln report DIR...` rebuilds them,
//! overlaying several runs. Nothing here trains or knows a model's internals.

mod charts;
mod html;
pub mod provenance;

pub use charts::run_charts;
pub use html::render;

use crate::data::fsutil::atomic_write;
use crate::train::{MetricsLog, CHART_SIZE};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file in a run folder that describes the run.
pub const INFO_FILE: &str = "run.json";
pub const METRICS_FILE: &str = "metrics.jsonl";
pub const REPORT_FILE: &str = "report.html";

/// One run as its folder records it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The folder's name (`lenet-20261202-134000`): how charts and tables name the run.
    pub name: String,
    pub dir: PathBuf,
    /// `run.json` (an empty object for folders written before it existed).
    pub info: Value,
    /// One record per epoch, in epoch order; a resumed run's later record of an epoch wins.
    pub epochs: Vec<Value>,
    /// The last `{"final": true, ...}` record, once the run has finished.
    pub fin: Option<Value>,
}

impl RunRecord {
    /// A record from what is in memory (the live run).
    pub fn new(dir: &Path, info: Value, records: &[Value]) -> RunRecord {
        let name =
            dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| dir.display().to_string());
        let mut by_epoch = BTreeMap::new();
        let mut fin = None;
        for r in records {
            if r.get("final").and_then(Value::as_bool) == Some(true) {
                fin = Some(r.clone());
            } else if let Some(e) = r.get("epoch").and_then(Value::as_u64) {
                by_epoch.insert(e, r.clone());
            }
        }
        RunRecord { name, dir: dir.to_path_buf(), info, epochs: by_epoch.into_values().collect(), fin }
    }

    /// Reads a run folder: `metrics.jsonl` must be there, `run.json` may be missing (older runs).
    pub fn load(dir: &Path) -> Result<RunRecord, String> {
        let metrics = dir.join(METRICS_FILE);
        if !metrics.is_file() {
            return Err(format!("{}: not a kiln run folder (no {METRICS_FILE})", dir.display()));
        }
        let records = MetricsLog::read(&metrics).map_err(|e| format!("{}: {e}", metrics.display()))?;
        let info_path = dir.join(INFO_FILE);
        let info = match std::fs::read_to_string(&info_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", info_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Object(Default::default()),
            Err(e) => return Err(format!("{}: {e}", info_path.display())),
        };
        Ok(RunRecord::new(dir, info, &records))
    }

    /// A string field of `run.json`, "unknown" when absent.
    pub fn info_str(&self, key: &str) -> String {
        match self.info.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => "unknown".into(),
            Some(v) => v.to_string(),
        }
    }

    /// The sample grids the run wrote, as (epoch, file in the run folder), in epoch order.
    pub fn sample_files(&self) -> Vec<(u64, PathBuf)> {
        self.epochs
            .iter()
            .filter_map(|r| {
                let epoch = r.get("epoch")?.as_u64()?;
                let file = Path::new(r.get("samples")?.as_str()?).file_name()?;
                Some((epoch, self.dir.join(file)))
            })
            .collect()
    }
}

/// Writes each chart of `run` as `<name>.png` and `<name>.svg` into its folder.
pub fn write_charts(run: &RunRecord) -> Result<(), String> {
    write_charts_into(std::slice::from_ref(run), &run.dir)
}

/// Writes the charts of `runs` (one, or several overlaid) as `<name>.png` and `<name>.svg` into `dir`.
pub fn write_charts_into(runs: &[RunRecord], dir: &Path) -> Result<(), String> {
    for (name, chart) in run_charts(runs) {
        chart.save(&dir.join(format!("{name}.png")), CHART_SIZE)?;
        chart.save(&dir.join(format!("{name}.svg")), CHART_SIZE)?;
    }
    Ok(())
}

/// Renders `runs` (one, or several overlaid) into a self-contained HTML file at `out`.
pub fn write_report(runs: &[RunRecord], out: &Path) -> Result<(), String> {
    let page = render(runs)?;
    atomic_write(out, page.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_resumed_epoch_replaces_the_earlier_record() {
        let records = [
            json!({"epoch": 1, "test_loss": 0.9}),
            json!({"epoch": 2, "test_loss": 0.8}),
            json!({"epoch": 2, "test_loss": 0.7}),
            json!({"final": true, "test_accuracy": 0.5}),
        ];
        let run = RunRecord::new(Path::new("runs/lenet-x"), json!({}), &records);
        assert_eq!(run.name, "lenet-x");
        assert_eq!(run.epochs.len(), 2);
        assert_eq!(run.epochs[1]["test_loss"], 0.7);
        assert_eq!(run.fin.as_ref().unwrap()["test_accuracy"], 0.5);
        assert_eq!(run.info_str("commit"), "unknown");
    }

    #[test]
    fn loading_needs_a_metrics_log() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RunRecord::load(dir.path()).unwrap_err().contains("not a kiln run folder"));
        std::fs::write(dir.path().join(METRICS_FILE), "{\"epoch\":1,\"d_loss\":1.0,\"samples\":\"x/s-001.png\"}\n")
            .unwrap();
        let run = RunRecord::load(dir.path()).unwrap();
        assert_eq!(run.sample_files(), vec![(1, dir.path().join("s-001.png"))]);
        std::fs::write(dir.path().join(INFO_FILE), "not json").unwrap();
        assert!(RunRecord::load(dir.path()).is_err());
    }
}
