//! What an attribution differentiates: a model seen as a map from a batch of input points to class
//! scores `[n, K]`, differentiable with respect to the points. Image classifiers are seen in pixel
//! space ([`PixelClassifier`], normalisation inside, so an attribution maps onto the picture); the
//! W3 review classifier at its embedding layer ([`ReviewScorer`]: the embedding output is the
//! input, so integrated gradients integrate along embeddings, from the PAD embedding). Row `r` of a
//! batch of points belongs to sample `owners[r]` of the batch being explained, which is how a
//! review's length follows every point on its path. This file must not compute attributions.

use crate::nn::Module;
use crate::robust::PixelClassifier;
use crate::zoo::sentiment::{model::lengths, SentimentNet};
use kiln_autograd::{cat, no_grad, Var};
use kiln_tensor::{Device, Error, Result, Tensor};

/// A classifier as attribution sees it.
pub trait Scorer {
    /// The model behind the scores (attribution runs it in evaluation mode).
    fn module(&self) -> &dyn Module;

    /// Where the model lives; points are moved there.
    fn device(&self) -> Device;

    /// Class scores `[n, K]` (logits) of `points` `[n, ...]`; row `r` is a point of sample `owners[r]`.
    fn scores(&self, points: &Var, owners: &[usize]) -> Result<Var>;

    /// The class probabilities one row of scores stands for (softmax unless the model says otherwise).
    fn probabilities(&self, scores: &[f64]) -> Vec<f64> {
        let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exp: Vec<f64> = scores.iter().map(|s| (s - top).exp()).collect();
        let sum: f64 = exp.iter().sum();
        exp.iter().map(|e| e / sum).collect()
    }
}

impl Scorer for PixelClassifier<'_> {
    fn module(&self) -> &dyn Module {
        self.model()
    }

    fn device(&self) -> Device {
        PixelClassifier::device(self)
    }

    fn scores(&self, points: &Var, _owners: &[usize]) -> Result<Var> {
        self.logits(points)
    }
}

/// W3 seen from its embedding layer, for one batch of right-padded reviews. Its two class scores
/// are `[-z, z]` for the review's logit `z`: the score of "positive" is the logit itself and that
/// of "negative" its negation, so an attribution towards either class is evidence for it, on the
/// logit (not the probability). The probabilities are the model's own, `sigmoid(+-z)`.
pub struct ReviewScorer<'a> {
    net: &'a SentimentNet,
    ids: Tensor,
    lengths: Vec<usize>,
}

impl<'a> ReviewScorer<'a> {
    /// The scorer of the reviews `ids` (`[B, T]` token ids, right-padded).
    pub fn new(net: &'a SentimentNet, ids: &Tensor) -> Result<ReviewScorer<'a>> {
        let lengths = lengths(ids)?;
        Ok(ReviewScorer { net, ids: ids.clone(), lengths })
    }

    /// Real tokens per review (the LSTM reads no further).
    pub fn lengths(&self) -> &[usize] {
        &self.lengths
    }

    /// The reviews' embeddings `[B, T, E]`: the points attribution explains.
    pub fn inputs(&self) -> Result<Tensor> {
        Ok(no_grad(|| self.net.embedding.lookup(&self.ids))?.tensor().clone())
    }

    /// The PAD embedding at every position `[B, T, E]`: integrated gradients' baseline, and what a
    /// token replaced by PAD becomes.
    pub fn pad_baseline(&self) -> Result<Tensor> {
        self.baseline_of(crate::data::PAD_ID)
    }

    /// The embedding of token `id` at every position `[B, T, E]` (another baseline to integrate from).
    pub fn baseline_of(&self, id: u32) -> Result<Tensor> {
        let n: usize = self.ids.dims().iter().product();
        let ids = Tensor::from_vec(vec![i64::from(id); n], self.ids.dims())?.to_device(self.ids.device())?;
        Ok(no_grad(|| self.net.embedding.lookup(&ids))?.tensor().clone())
    }
}

impl Scorer for ReviewScorer<'_> {
    fn module(&self) -> &dyn Module {
        self.net
    }

    fn device(&self) -> Device {
        crate::nn::device_of(self.net)
    }

    fn scores(&self, points: &Var, owners: &[usize]) -> Result<Var> {
        let lens = owners
            .iter()
            .map(|&o| {
                self.lengths.get(o).copied().ok_or_else(|| {
                    Error::invalid(
                        "ReviewScorer",
                        format!("point of review {o}, but the batch has {}", self.lengths.len()),
                    )
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let z = self.net.forward_embedded(points, &lens)?;
        cat(&[&z.neg()?, &z], 1)
    }

    fn probabilities(&self, scores: &[f64]) -> Vec<f64> {
        let z = scores.get(1).copied().unwrap_or(0.0);
        let positive = 1.0 / (1.0 + (-z).exp());
        vec![1.0 - positive, positive]
    }
}
