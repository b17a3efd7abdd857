//! Masked-token pretraining of W3's encoder (`kiln pretrain sentiment`): the embedding and the
//! BiLSTM of `model.rs` read a review with 15% of its tokens masked (`masking.rs`), and the two
//! directions' outputs at each masked position (2 x 64 = 128, the embedding width) predict the
//! original token through the embedding table itself (a tied projection, plus a bias per token),
//! with a fused log-softmax cross-entropy over the whole vocabulary. Only the 25,000 training
//! reviews are read, labels unused; a seeded 1,000 of them are held out to measure masked-token
//! accuracy. `kiln train sentiment --init` starts W3 from the result (`init_classifier`).

use super::super::run::{
    add_module, add_optimizer, base_metadata, check_loss, seconds, ModelKind, Reporter, RunConfig, RunError, RunResult,
};
use super::masking::{MaskedBatch, Masking};
use super::model::{lengths, SentimentNet, EMBED_DIM, HIDDEN};
use super::subsets::{hold_out, subsample};
use super::{loader, VOCAB_FILE, VOCAB_WORDS};
use crate::checkpoint::Checkpoint;
use crate::data::{load_texts, sha256_file, FetchOptions, Loader, Split, TokenBatcher, Vocab, PAD_ID};
use crate::nn::{self, join_name, Embedding, Lstm, LstmConfig, Module};
use crate::optim::{Adam, LrSchedule, Optimizer};
use crate::train::Progress;
use kiln_autograd::{backward, cross_entropy, no_grad, Var};
use kiln_kernels::reduce::argmax;
use kiln_tensor::{Result, Rng, Tensor};
use serde_json::{json, Value};
use std::time::Instant;

pub const DEFAULT_EPOCHS: usize = 5;
pub const DEFAULT_BATCH: usize = 64;
pub const DEFAULT_LR: f64 = 1e-3;
pub const MASK_RATE: f64 = 0.15;
/// Training reviews kept out of pretraining to measure it (a tenth of a smaller set).
pub const HELD_OUT_REVIEWS: usize = 1000;
/// The checkpoint metadata key (value `masked-lm`) that marks a pretraining checkpoint.
pub const PRETRAINING_KEY: &str = "pretraining";
pub const PRETRAINING_OBJECTIVE: &str = "masked-lm";

/// W3's encoder with its tied output: the embedding has one row more than the vocabulary (the
/// [MASK] token, id = vocabulary size), and `output_bias` one entry per row.
pub struct MaskedLm {
    pub embedding: Embedding,
    pub lstm: Lstm,
    pub output_bias: Var,
    vocab_size: usize,
}

impl MaskedLm {
    /// Initialised as `SentimentNet::new` initialises the same layers.
    pub fn new(vocab_size: usize, rng: &mut Rng) -> Result<MaskedLm> {
        let cfg = LstmConfig { input_size: EMBED_DIM, hidden_size: HIDDEN, num_layers: 1, bidirectional: true };
        let rows = vocab_size + 1;
        Ok(MaskedLm {
            embedding: Embedding::new(rows, EMBED_DIM, Some(PAD_ID as usize), rng)?,
            lstm: Lstm::new(cfg, rng),
            output_bias: Var::leaf(Tensor::zeros([rows], kiln_tensor::DType::F32)),
            vocab_size,
        })
    }

    pub fn masking(&self, rate: f64) -> Masking {
        Masking { rate, mask_id: self.vocab_size as i64, vocab_size: self.vocab_size }
    }

    /// The mean cross-entropy over the masked positions of a `[b, t]` batch, and how many of them
    /// the top-1 prediction gets right. `lengths` are the batch's real token counts.
    pub fn loss(&self, masked: &MaskedBatch, b: usize, t: usize, lengths: &[usize]) -> RunResult<(Var, usize)> {
        let device = self.embedding.weight.device();
        let ids = Tensor::from_vec(masked.inputs.clone(), [b, t])?.to_device(device)?;
        let encoded = self.lstm.forward_with_state(&self.embedding.lookup(&ids)?, Some(lengths))?.output;
        let m = masked.positions.len();
        let positions = Tensor::from_vec(masked.positions.clone(), [m])?.to_device(device)?;
        let picked = encoded.reshape([b * t, 2 * HIDDEN])?.index_select(0, &positions)?;
        let logits = picked.matmul(&self.embedding.weight.t()?)?.add(&self.output_bias)?;
        let targets = Tensor::from_vec(masked.targets.clone(), [m])?.to_device(device)?;
        let loss = cross_entropy(&logits, &targets)?;
        let pred = argmax(logits.tensor(), 1, false)?.to_vec::<i64>()?;
        Ok((loss, pred.iter().zip(&masked.targets).filter(|(p, t)| p == t).count()))
    }
}

impl Module for MaskedLm {
    /// Token ids [B, T] to the encoder's outputs [B, T, 128].
    fn forward(&self, ids: &Var) -> Result<Var> {
        let lens = lengths(ids.tensor())?;
        Ok(self.lstm.forward_with_state(&self.embedding.lookup(ids.tensor())?, Some(&lens))?.output)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        self.embedding.visit_parameters(&join_name(prefix, "embedding"), f);
        self.lstm.visit_parameters(&join_name(prefix, "lstm"), f);
        f(join_name(prefix, "output_bias"), &self.output_bias);
    }
}

/// Copies a pretraining checkpoint's encoder into W3: the LSTM as it is, the embedding without
/// its [MASK] row. The classifier head stays as initialised.
pub fn init_classifier(net: &SentimentNet, ck: &Checkpoint, source: &str) -> RunResult<()> {
    if ck.metadata.get(PRETRAINING_KEY).map(String::as_str) != Some(PRETRAINING_OBJECTIVE) {
        return Err(RunError::Invalid(format!("--init {source}: not a `kiln pretrain sentiment` checkpoint")));
    }
    let table = ck.get("model.embedding.weight")?;
    let rows = net.embedding.weight.dims()[0];
    if table.dims() != [rows + 1, EMBED_DIM] {
        return Err(RunError::Invalid(format!(
            "--init {source}: its embedding is {} but this vocabulary needs [{}, {EMBED_DIM}] (the vocabulary and [MASK])",
            table.shape(),
            rows + 1
        )));
    }
    net.embedding.weight.tensor().assign(&table.narrow(0, 0, rows)?.contiguous()?)?;
    for (name, v) in nn::parameters(&net.lstm) {
        let key = format!("model.lstm.{name}");
        let saved = ck.get(&key)?;
        if saved.shape() != v.tensor().shape() {
            return Err(RunError::Invalid(format!(
                "--init {source}: `{key}` is {}, W3 needs {}",
                saved.shape(),
                v.tensor().shape()
            )));
        }
        v.tensor().assign(saved)?;
    }
    Ok(())
}

/// Sums over an epoch of masked batches.
#[derive(Default)]
struct Tally {
    loss: f64,
    correct: usize,
    masked: usize,
}

impl Tally {
    fn add(&mut self, loss: f64, correct: usize, masked: usize) {
        self.loss += loss * masked as f64;
        self.correct += correct;
        self.masked += masked;
    }
    fn mean_loss(&self) -> f64 {
        self.loss / self.masked.max(1) as f64
    }
    fn accuracy(&self) -> f64 {
        self.correct as f64 / self.masked.max(1) as f64
    }
}

/// One batch's ids, shape and lengths.
fn batch_ids(inputs: &Tensor) -> RunResult<(Vec<i64>, usize, usize, Vec<usize>)> {
    let (b, t) = (inputs.dims()[0], inputs.dims()[1]);
    Ok((inputs.to_vec::<i64>()?, b, t, lengths(inputs)?))
}

/// Masked-token loss and accuracy on the held-out reviews, with the same masks every epoch.
fn evaluate(model: &MaskedLm, held: &Loader<TokenBatcher>, rate: f64, seed: u64) -> RunResult<Tally> {
    let mut tally = Tally::default();
    for (step, batch) in held.epoch(0).enumerate() {
        let (ids, b, t, lens) = batch_ids(&batch?.inputs)?;
        let masked = model.masking(rate).apply(&ids, &mut Rng::new(seed ^ (step as u64 + 1).wrapping_mul(0x5851_F42D)));
        let (loss, correct) = no_grad(|| model.loss(&masked, b, t, &lens))?;
        tally.add(loss.tensor().to_scalar::<f32>()? as f64, correct, masked.positions.len());
    }
    Ok(tally)
}

/// Pretrains for `cfg.epochs` with mask rate `rate`; the final record.
pub fn pretrain(cfg: &RunConfig, rate: f64) -> RunResult<Value> {
    cfg.validate()?;
    if !(rate > 0.0 && rate < 1.0) {
        return Err(RunError::Invalid(format!("--mask-rate must be in (0, 1), got {rate}")));
    }
    if cfg.resume.is_some() || cfg.adversarial.is_some() {
        return Err(RunError::Invalid("pretraining has no --resume or --adversarial".into()));
    }
    let train_texts = subsample(load_texts(&cfg.data_dir, Split::Train, &FetchOptions::from_env())?, cfg.limit);
    // The vocabulary W3 builds from the same reviews, so a fine-tuned run and one from scratch
    // encode alike.
    let vocab = Vocab::build(train_texts.texts.iter().map(String::as_str), VOCAB_WORDS);
    let held_count = HELD_OUT_REVIEWS.min(train_texts.len() / 10).max(1);
    let (rest, held) = hold_out(&train_texts, held_count, cfg.seed);
    std::fs::create_dir_all(&cfg.out_dir).map_err(|source| RunError::Io { path: cfg.out_dir.clone(), source })?;
    let vocab_path = cfg.out_dir.join(VOCAB_FILE);
    vocab.save(&vocab_path)?;
    let (train, held) = (loader(&rest, &vocab, cfg, true)?, loader(&held, &vocab, cfg, false)?);
    let model = MaskedLm::new(vocab.len(), &mut Rng::new(cfg.seed))?;
    nn::to_device(&model, cfg.device)?;
    let mut opt = Adam::new(nn::parameters(&model), cfg.lr, (0.9, 0.999), 0.0);
    let schedule = LrSchedule::Cosine { warmup: 0, total: cfg.epochs, min_lr: 0.0 };
    let mut reporter = Reporter::open(cfg, ModelKind::Sentiment)?;
    let mut last = json!({});
    for epoch in 0..cfg.epochs {
        let start = Instant::now();
        opt.set_lr(schedule.lr_at(cfg.lr, epoch));
        let progress = Progress::new(train.batches_per_epoch() as u64, &format!("epoch {}", epoch + 1), !cfg.json);
        let mut tally = Tally::default();
        for (step, batch) in train.epoch(epoch as u64).enumerate() {
            let (ids, b, t, lens) = batch_ids(&batch?.inputs)?;
            let seed = cfg.seed ^ ((epoch as u64) << 32 | step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let masked = model.masking(rate).apply(&ids, &mut Rng::new(seed));
            let (loss, correct) = model.loss(&masked, b, t, &lens)?;
            opt.step(&backward(&loss)?)?;
            let l = loss.tensor().to_scalar::<f32>()? as f64;
            check_loss("the masked-token loss", l, epoch, step + 1)?;
            tally.add(l, correct, masked.positions.len());
            progress.tick(format!("loss {:.3} acc {:.1}%", tally.mean_loss(), 100.0 * tally.accuracy()));
        }
        progress.finish();
        let train_seconds = seconds(start);
        let heldout = evaluate(&model, &held, rate, cfg.seed ^ 0xe7a1)?;
        let mut ck = Checkpoint::new();
        add_module(&mut ck, "model", &model);
        add_optimizer(&mut ck, "optim", &opt);
        ck.metadata = base_metadata(ModelKind::Sentiment, epoch + 1, cfg);
        ck.metadata.insert(PRETRAINING_KEY.into(), PRETRAINING_OBJECTIVE.into());
        ck.metadata.insert("mask_rate".into(), format!("{rate}"));
        ck.metadata.insert("vocab".into(), VOCAB_FILE.into());
        ck.metadata.insert("vocab_sha256".into(), sha256_file(&vocab_path)?);
        ck.metadata.insert("heldout_masked_accuracy".into(), format!("{}", heldout.accuracy()));
        ck.save(&cfg.checkpoint_path())?;
        last = json!({
            "epoch": epoch + 1, "train_loss": tally.mean_loss(), "train_masked_accuracy": tally.accuracy(),
            "heldout_loss": heldout.mean_loss(), "heldout_masked_accuracy": heldout.accuracy(),
            "masked_tokens": tally.masked, "lr": opt.lr(), "train_seconds": train_seconds, "seconds": seconds(start),
        });
        reporter.epoch(last.clone())?;
    }
    let fin = json!({
        "model": "sentiment", "pretraining": PRETRAINING_OBJECTIVE, "epochs": last.get("epoch"),
        "heldout_masked_accuracy": last.get("heldout_masked_accuracy"),
        "checkpoint": cfg.checkpoint_path().display().to_string(),
    });
    reporter.finish(fin.clone())?;
    Ok(fin)
}
