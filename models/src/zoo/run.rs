//! What every training run shares: the configuration the CLI fills in, the run folder
//! (`runs/<model>-<timestamp>` with checkpoints, `metrics.jsonl`, curves), per-epoch reporting (a
//! human line, or one JSON object per line with `--json`), and saving / restoring model and
//! optimizer state for `--resume`. Model-specific code stays in each model's folder.

use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::data::DataError;
use crate::nn::{self, Module};
use crate::optim::Optimizer;
use crate::train::{save_line_plot, MetricsLog, Series};
use kiln_tensor::Device;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

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
}

impl RunConfig {
    /// `runs/<model>-<unix seconds>` when no `--out` is given.
    pub fn default_out_dir(model: ModelKind) -> PathBuf {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from("runs").join(format!("{}-{secs}", model.name()))
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
        if self.batch_size == 0 || self.epochs == 0 {
            return Err(RunError::Invalid("--epochs and --batch-size must be at least 1".into()));
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
        })
    }
}

/// Per-run bookkeeping: the metrics log, the curves, and how epochs are reported.
pub struct Reporter {
    log: MetricsLog,
    json: bool,
    history: Vec<Value>,
    out_dir: PathBuf,
}

impl Reporter {
    pub fn open(cfg: &RunConfig) -> RunResult<Reporter> {
        std::fs::create_dir_all(&cfg.out_dir).map_err(|source| RunError::Io { path: cfg.out_dir.clone(), source })?;
        let path = cfg.out_dir.join("metrics.jsonl");
        let log = MetricsLog::open(&path).map_err(|source| RunError::Io { path, source })?;
        Ok(Reporter { log, json: cfg.json, history: Vec::new(), out_dir: cfg.out_dir.clone() })
    }

    /// Records one epoch: metrics log, stdout (JSON or a human line), and the curves PNG.
    pub fn epoch(&mut self, record: Value) -> RunResult<()> {
        self.log.write(&record).map_err(|source| RunError::Io { path: self.log.path().into(), source })?;
        if self.json {
            println!("{record}");
        } else {
            println!("{}", human_line(&record));
        }
        self.history.push(record);
        self.plot()
    }

    /// The last line: `{"final": true, ...}`.
    pub fn finish(&mut self, mut record: Value) -> RunResult<()> {
        record["final"] = json!(true);
        self.log.write(&record).map_err(|source| RunError::Io { path: self.log.path().into(), source })?;
        if self.json {
            println!("{record}");
        } else {
            println!("done: {}", human_line(&record));
        }
        Ok(())
    }

    /// One PNG per metric family: losses in `loss.png`, accuracies in `accuracy.png`.
    fn plot(&self) -> RunResult<()> {
        let series = |keys: &[&str]| -> Vec<Series> {
            keys.iter()
                .filter_map(|k| {
                    let points: Vec<(f64, f64)> = self
                        .history
                        .iter()
                        .filter_map(|r| Some((r.get("epoch")?.as_f64()?, r.get(*k)?.as_f64()?)))
                        .collect();
                    (!points.is_empty()).then(|| Series { name: k.replace('_', " "), points })
                })
                .collect()
        };
        for (file, title, keys) in [
            ("loss.png", "loss", &["train_loss", "d_loss", "g_loss", "test_loss"][..]),
            ("accuracy.png", "accuracy", &["train_accuracy", "test_accuracy"][..]),
        ] {
            let s = series(keys);
            if !s.is_empty() {
                save_line_plot(title, "epoch", &s, &self.out_dir.join(file)).map_err(RunError::Invalid)?;
            }
        }
        Ok(())
    }
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
