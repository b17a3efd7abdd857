//! What every training run shares: the configuration the CLI fills in, the run folder
//! (`runs/<model>-<YYYYMMDD-HHMMSS>` with checkpoints, `metrics.jsonl`, `run.json`, curves and
//! `report.html`), per-epoch reporting (a human line, or one JSON object per line with `--json`),
//! and saving / restoring model and optimizer state for `--resume`. Model-specific code stays in
//! each model's folder.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::data::fsutil::atomic_write;
use crate::data::DataError;
use crate::nn::{self, Module};
use crate::optim::Optimizer;
use crate::report::{self, provenance, RunRecord};
use crate::robust::AdversarialTraining;
use crate::train::MetricsLog;
use kiln_tensor::Device;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Instant, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Tensor(#[from] kiln_tensor::Error),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Invalid(String),
}

pub type RunResult<T> = std::result::Result<T, RunError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Gan,
    Cnn,
    Sentiment,
    Lenet,
}

impl ModelKind {
    pub const ALL: [ModelKind; 4] = [ModelKind::Gan, ModelKind::Cnn, ModelKind::Sentiment, ModelKind::Lenet];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Gan => "gan",
            ModelKind::Cnn => "cnn",
            ModelKind::Sentiment => "sentiment",
            ModelKind::Lenet => "lenet",
        }
    }
}

impl FromStr for ModelKind {
    type Err = RunError;
    fn from_str(s: &str) -> RunResult<ModelKind> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| RunError::Invalid(format!("unknown model `{s}` (expected gan, cnn, sentiment or lenet)")))
    }
}

/// Everything `kiln train` passes to a model's training function.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
    pub data_dir: PathBuf,
    pub out_dir: PathBuf,
    pub resume: Option<PathBuf>,
    /// One JSON object per line on stdout instead of human output.
    pub json: bool,
    /// Use only the first N training (and N test) samples: smoke tests and quick looks.
    pub limit: Option<usize>,
    /// Where the model and its batches live (`Device::Cpu` or a resolved CUDA device).
    pub device: Device,
    /// Train on adversarial batches (`kiln train <lenet|cnn> --adversarial`); image classifiers only.
    pub adversarial: Option<AdversarialTraining>,
    /// Evaluate on the test set every this many epochs (and after the last): few-label runs take
    /// many short epochs, and W3's 25,000 test reviews cost more than such an epoch.
    pub eval_every: usize,
}

impl RunConfig {
    /// `runs/<model>-<YYYYMMDD-HHMMSS>` (UTC) when no `--out` is given; `-2`, `-3`, ... follow when
    /// a run started in the same second already took the name.
    pub fn default_out_dir(model: ModelKind) -> PathBuf {
        let (stamp, _) = provenance::utc_stamp(SystemTime::now());
        let base = PathBuf::from("runs").join(format!("{}-{stamp}", model.name()));
        let (mut dir, mut k) = (base.clone(), 2);
        while dir.exists() {
            dir = base.with_file_name(format!("{}-{stamp}-{k}", model.name()));
            k += 1;
        }
        dir
    }

    /// The checks every training run makes before it starts: a learning rate that is a finite
    /// non-negative number (a negative, NaN or infinite one trains to NaN weights), and at least
    /// one epoch and one sample per batch.
    pub fn validate(&self) -> RunResult<()> {
        if !self.lr.is_finite() || self.lr < 0.0 {
            return Err(RunError::Invalid(format!(
                "learning rate {} is not a finite non-negative number (--lr)",
                self.lr
            )));
        }
        if self.batch_size == 0 || self.epochs == 0 || self.eval_every == 0 {
            return Err(RunError::Invalid("--epochs, --batch-size and --eval-every must be at least 1".into()));
        }
        Ok(())
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.out_dir.join("checkpoint.safetensors")
    }

    /// The fields recorded in checkpoints and the first metrics line.
    pub fn describe(&self, model: ModelKind) -> Value {
        json!({
            "model": model.name(), "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
            "seed": self.seed, "limit": self.limit,
            "adversarial": self.adversarial.as_ref().map(AdversarialTraining::describe),
        })
    }
}

/// Per-run bookkeeping: the metrics log, `run.json`, the curves, `report.html`, and how epochs
/// are reported.
pub struct Reporter {
    log: MetricsLog,
    json: bool,
    history: Vec<Value>,
    out_dir: PathBuf,
    info: Value,
    started: Instant,
}

impl Reporter {
    /// Opens the run folder and writes `run.json`. Call it after the data is loaded, so the data
    /// source is known.
    pub fn open(cfg: &RunConfig, model: ModelKind) -> RunResult<Reporter> {
        std::fs::create_dir_all(&cfg.out_dir).map_err(|source| RunError::Io { path: cfg.out_dir.clone(), source })?;
        let path = cfg.out_dir.join(report::METRICS_FILE);
        let log = MetricsLog::open(&path).map_err(|source| RunError::Io { path, source })?;
        let info = json!({
            "model": model.name(),
            "command": command_line(),
            "config": cfg.describe(model),
            "device": cfg.device.to_string(),
            "threads": rayon::current_num_threads(),
            "data": crate::data::sources_used(),
            "cpu": provenance::cpu_model(),
            "isa": provenance::isa(),
            "kiln_version": provenance::VERSION,
            "commit": provenance::commit(),
            "started": provenance::utc_stamp(SystemTime::now()).1,
        });
        let info_path = cfg.out_dir.join(report::INFO_FILE);
        let text = serde_json::to_string_pretty(&info).map_err(|e| RunError::Invalid(e.to_string()))?;
        atomic_write(&info_path, text.as_bytes())?;
        let history = MetricsLog::read(&cfg.out_dir.join(report::METRICS_FILE)).unwrap_or_default();
        Ok(Reporter { log, json: cfg.json, history, out_dir: cfg.out_dir.clone(), info, started: Instant::now() })
    }

    /// Records one epoch: metrics log, stdout (JSON or a human line), the curves and the report.
    pub fn epoch(&mut self, record: Value) -> RunResult<()> {
        self.log.write(&record).map_err(|source| RunError::Io { path: self.log.path().into(), source })?;
        if self.json {
            println!("{record}");
        } else {
            println!("{}", human_line(&record));
        }
        self.history.push(record);
        self.refresh()
    }

    /// The last line: `{"final": true, ..., "wall_seconds": ...}`, and the finished report.
    pub fn finish(&mut self, mut record: Value) -> RunResult<()> {
        record["final"] = json!(true);
        record["wall_seconds"] = json!(seconds(self.started));
        self.log.write(&record).map_err(|source| RunError::Io { path: self.log.path().into(), source })?;
        if self.json {
            println!("{record}");
        } else {
            println!("done: {}", human_line(&record));
            println!("report: {}", self.out_dir.join(report::REPORT_FILE).display());
        }
        self.history.push(record);
        self.refresh()
    }

    /// Rewrites `loss.{png,svg}`, `accuracy.{png,svg}` and `report.html` from the records so far.
    fn refresh(&self) -> RunResult<()> {
        let run = RunRecord::new(&self.out_dir, self.info.clone(), &self.history);
        report::write_charts(&run).map_err(RunError::Invalid)?;
        report::write_report(&[run], &self.out_dir.join(report::REPORT_FILE)).map_err(RunError::Invalid)
    }
}

/// How this process was started, with the program's folder left out ("kiln train lenet ...").
fn command_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        if let Some(name) = Path::new(first.as_str()).file_name() {
            *first = name.to_string_lossy().into_owned();
        }
    }
    args.join(" ")
}

fn human_line(record: &Value) -> String {
    let Some(map) = record.as_object() else { return record.to_string() };
    map.iter()
        .map(|(k, v)| match v.as_f64() {
            Some(f) if v.is_f64() => format!("{k} {f:.4}"),
            _ => format!("{k} {v}"),
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Adds a module's parameters and buffers to `ck` under `prefix.`.
pub fn add_module(ck: &mut Checkpoint, prefix: &str, m: &dyn Module) {
    for (name, v) in nn::parameters(m) {
        ck.insert(format!("{prefix}.{name}"), v.tensor());
    }
    for (name, t) in nn::buffers(m) {
        ck.insert(format!("{prefix}.{name}"), &t);
    }
}

pub fn add_optimizer(ck: &mut Checkpoint, prefix: &str, opt: &dyn Optimizer) {
    for (name, t) in opt.state() {
        ck.insert(format!("{prefix}.{name}"), &t);
    }
}

/// Copies `src` into the existing tensor `dst` in place (shapes and dtypes must match).
fn copy_into(name: &str, dst: &kiln_tensor::Tensor, src: &kiln_tensor::Tensor) -> RunResult<()> {
    if dst.shape() != src.shape() || dst.dtype() != src.dtype() {
        return Err(RunError::Invalid(format!(
            "checkpoint tensor `{name}` is {:?} {} but the model expects {:?} {}",
            src.dtype(),
            src.shape(),
            dst.dtype(),
            dst.shape()
        )));
    }
    Ok(dst.assign(src)?)
}

/// Loads a module's parameters and buffers from `ck` (names under `prefix.`), in place.
pub fn load_module(ck: &Checkpoint, prefix: &str, m: &dyn Module) -> RunResult<()> {
    for (name, v) in nn::parameters(m) {
        let key = format!("{prefix}.{name}");
        copy_into(&key, v.tensor(), ck.get(&key)?)?;
    }
    for (name, t) in nn::buffers(m) {
        let key = format!("{prefix}.{name}");
        copy_into(&key, &t, ck.get(&key)?)?;
    }
    Ok(())
}

/// The optimizer state stored under `prefix.`.
pub fn optimizer_state(ck: &Checkpoint, prefix: &str) -> BTreeMap<String, kiln_tensor::Tensor> {
    let p = format!("{prefix}.");
    ck.tensors.iter().filter_map(|(k, t)| k.strip_prefix(&p).map(|rest| (rest.to_string(), t.clone()))).collect()
}

/// Metadata every kiln training checkpoint carries.
pub fn base_metadata(model: ModelKind, epoch: usize, cfg: &RunConfig) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("model".to_string(), model.name().to_string()),
        ("epoch".to_string(), epoch.to_string()),
        ("config".to_string(), cfg.describe(model).to_string()),
    ])
}

/// The model kind and completed epochs recorded in a checkpoint.
pub fn checkpoint_info(ck: &Checkpoint, path: &Path) -> RunResult<(ModelKind, usize)> {
    let model = ck
        .metadata
        .get("model")
        .ok_or_else(|| RunError::Invalid(format!("{}: not a kiln training checkpoint (no model)", path.display())))?
        .parse()?;
    // A checkpoint that says no epoch, or one that is not a count, is an error: resuming it at
    // epoch 0 would silently train again (and overwrite) what it holds.
    let epoch = match ck.metadata.get("epoch") {
        Some(e) => e.parse().map_err(|_| {
            RunError::Invalid(format!("{}: epoch `{e}` in the checkpoint is not a count of epochs", path.display()))
        })?,
        None => {
            return Err(RunError::Invalid(format!("{}: not a kiln training checkpoint (no epoch)", path.display())))
        }
    };
    Ok((model, epoch))
}

/// A typed error when a training loss is NaN or infinite, naming the epoch (from 1) and the step
/// of the epoch (from 1): the run stops there, before the next checkpoint could replace a good one.
pub fn check_loss(what: &str, loss: f64, epoch: usize, step: usize) -> RunResult<()> {
    if loss.is_finite() {
        return Ok(());
    }
    Err(RunError::Invalid(format!(
        "{what} became {loss} at epoch {}, step {step}; stopping (the last checkpoint is kept; try a lower --lr)",
        epoch + 1
    )))
}

/// Seconds since `start` as f64.
pub fn seconds(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_run_folders_are_named_by_utc_date_and_time() {
        let dir = RunConfig::default_out_dir(ModelKind::Lenet);
        let name = dir.file_name().unwrap().to_str().unwrap();
        let stamp = name.strip_prefix("lenet-").unwrap();
        assert_eq!(dir.parent(), Some(Path::new("runs")));
        assert_eq!(stamp.len(), "YYYYMMDD-HHMMSS".len(), "{name}");
        assert!(stamp.chars().enumerate().all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() }), "{name}");
        assert!(stamp.starts_with("20"));
    }

    #[test]
    fn the_command_line_names_the_program_without_its_folder() {
        // cargo starts test binaries by their full path; the record keeps the file name only.
        let line = command_line();
        let program = line.split(' ').next().unwrap();
        assert!(!program.is_empty() && !program.contains('/'), "{line}");
    }
}
