//! W3's network (DESIGN.md §6): Embedding(vocab, 128, padding 0) -> one bidirectional LSTM layer
//! of hidden 64 -> the final forward and backward states concatenated (128) -> Dropout(0.2) ->
//! Linear(128, 1), one logit per review. Sequence lengths are read off the right padding, so the
//! LSTM runs packed-sequence style (the backward direction starts at the last real token).

use crate::data::PAD_ID;
use crate::nn::{join_name, Dropout, Embedding, Linear, Lstm, LstmConfig, Module};
use kiln_autograd::{cat, Var};
use kiln_tensor::{Error, Result, Rng, Tensor};

pub const EMBED_DIM: usize = 128;
pub const HIDDEN: usize = 64;

pub struct SentimentNet {
    pub embedding: Embedding,
    pub lstm: Lstm,
    pub dropout: Dropout,
    pub fc: Linear,
}

impl SentimentNet {
    pub fn new(vocab_size: usize, rng: &mut Rng) -> Result<SentimentNet> {
        let cfg = LstmConfig { input_size: EMBED_DIM, hidden_size: HIDDEN, num_layers: 1, bidirectional: true };
        Ok(SentimentNet {
            embedding: Embedding::new(vocab_size, EMBED_DIM, Some(PAD_ID as usize), rng)?,
            lstm: Lstm::new(cfg, rng),
            dropout: Dropout::new(0.2, rng),
            fc: Linear::new(2 * HIDDEN, 1, true, rng),
        })
    }
}

/// Per row of right-padded ids [B, T]: one past the last non-padding token (at least 1).
pub fn lengths(ids: &Tensor) -> Result<Vec<usize>> {
    let dims = ids.dims();
    if dims.len() != 2 || dims[1] == 0 {
        return Err(Error::invalid("sentiment", format!("token ids of shape {} are not [batch, time]", ids.shape())));
    }
    let t = dims[1];
    let v = ids.to_vec_f64()?;
    Ok(v.chunks(t).map(|row| row.iter().rposition(|&id| id != PAD_ID as f64).map_or(1, |p| p + 1)).collect())
}

impl SentimentNet {
    /// Logits [B, 1] of reviews already embedded (`x` [B, T, 128]) with `lengths` real tokens each:
    /// the network above its embedding layer, where attribution integrates (`explain::scorer`).
    pub fn forward_embedded(&self, x: &Var, lengths: &[usize]) -> Result<Var> {
        let out = self.lstm.forward_with_state(x, Some(lengths))?;
        let b = lengths.len();
        let fwd = out.h_n.narrow(0, 0, 1)?.reshape([b, HIDDEN])?;
        let bwd = out.h_n.narrow(0, 1, 1)?.reshape([b, HIDDEN])?;
        let h = cat(&[&fwd, &bwd], 1)?;
        self.fc.forward(&self.dropout.forward(&h)?)
    }
}

impl Module for SentimentNet {
    /// Token ids [B, T] (i64) to logits [B, 1].
    fn forward(&self, ids: &Var) -> Result<Var> {
        let lens = lengths(ids.tensor())?;
        self.forward_embedded(&self.embedding.lookup(ids.tensor())?, &lens)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        self.embedding.visit_parameters(&join_name(prefix, "embedding"), f);
        self.lstm.visit_parameters(&join_name(prefix, "lstm"), f);
        self.fc.visit_parameters(&join_name(prefix, "fc"), f);
    }

    fn set_training(&self, training: bool) {
        self.dropout.set_training(training);
    }

    fn training(&self) -> Option<bool> {
        self.dropout.training()
    }

    fn reseed(&self, seed: u64) {
        self.dropout.reseed(seed);
    }
}
