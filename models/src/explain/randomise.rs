//! Model randomisation, Adebayo et al. 2018's cascading test: re-initialise a trained model's
//! layers one at a time from the top (the output layer first) down to the input, and after each
//! compare the attribution maps with the trained model's by Spearman's rank correlation of their
//! absolute values. An attribution that explains the model, not the input, must lose its
//! resemblance once the weights it reads are random. The fresh weights come from a second copy of
//! the architecture built with another seed (the initialisation it was trained from, redrawn). The
//! trained weights are put back afterwards, also when a step fails.
//!
//! Beside the cascade, [`random_floor`]: how alike the maps of two random models are. Where the
//! architecture alone shapes the maps (an unpadded convolution sees centre pixels through more
//! paths than border ones, for any weights) that floor is high, and the cascade cannot fall below
//! it whatever the attribution does.

use super::attribute::{attribute, ExplainConfig, Method};
use super::rank::spearman;
use super::sanity::Grouping;
use super::scorer::Scorer;
use crate::nn::{parameters, Module};
use kiln_autograd::Var;
use kiln_tensor::{Error, Result, Tensor};
use std::collections::HashMap;

/// After randomising `layer` and every layer above it: the mean rank correlation over the samples
/// of |gradient| and of |integrated gradients| maps with the trained model's.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    pub layer: String,
    pub gradient: f64,
    pub ig: f64,
}

/// The inputs the maps are taken on, IG's baseline and settings, and how elements form positions.
pub struct Cascade<'a> {
    pub inputs: &'a Tensor,
    pub baseline: &'a Tensor,
    /// The class explained (the trained model's prediction, kept for every randomised model).
    pub target: &'a [usize],
    pub grouping: Grouping,
    pub ig: ExplainConfig,
}

/// Puts the trained weights back when dropped.
struct Restore(Vec<(Var, Tensor)>);

impl Drop for Restore {
    fn drop(&mut self) {
        for (param, trained) in &self.0 {
            // Same shape, dtype and device as when it was copied: assign cannot fail here.
            let _ = param.tensor().assign(trained);
        }
    }
}

/// Parameters grouped by layer (the name before the last dot), bottom to top.
fn layers(m: &dyn Module) -> Vec<(String, Vec<(String, Var)>)> {
    let mut out: Vec<(String, Vec<(String, Var)>)> = Vec::new();
    for (name, v) in parameters(m) {
        let layer = name.rsplit_once('.').map_or(name.as_str(), |(l, _)| l).to_string();
        match out.last_mut() {
            Some((l, params)) if *l == layer => params.push((name, v)),
            _ => out.push((layer, vec![(name, v)])),
        }
    }
    out
}

/// One map per sample (values per position).
type Maps = Vec<Vec<f64>>;

/// |gradient| and |IG| maps per sample, summed per position.
fn maps(f: &dyn Scorer, c: &Cascade) -> Result<(Maps, Maps)> {
    let saliency =
        attribute(f, c.inputs, None, Some(c.target), &ExplainConfig { method: Method::Saliency, ..c.ig.clone() })?;
    let ig = attribute(
        f,
        c.inputs,
        Some(c.baseline),
        Some(c.target),
        &ExplainConfig { method: Method::IntegratedGradients, ..c.ig.clone() },
    )?;
    let b = c.inputs.dims()[0];
    let grad = (0..b).map(|i| c.grouping.per_position(saliency.sample(i))).collect();
    let ig = (0..b).map(|i| c.grouping.per_position(ig.sample(i)).iter().map(|v| v.abs()).collect()).collect();
    Ok((grad, ig))
}

fn mean_correlation(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| spearman(x, y)).sum::<f64>() / a.len().max(1) as f64
}

/// `fresh`'s parameters by name, checked against every trained one.
fn fresh_parameters(trained: &[(String, Vec<(String, Var)>)], fresh: &dyn Module) -> Result<HashMap<String, Var>> {
    let fresh: HashMap<String, Var> = parameters(fresh).into_iter().collect();
    for (name, v) in trained.iter().flat_map(|(_, p)| p) {
        match fresh.get(name) {
            Some(w) if w.dims() == v.dims() => {}
            _ => {
                return Err(Error::invalid(
                    "randomisation",
                    format!("the fresh model has no parameter `{name}` of shape {:?}", v.dims()),
                ))
            }
        }
    }
    Ok(fresh)
}

/// A copy of every trained weight, put back when the guard drops.
fn save(trained: &[(String, Vec<(String, Var)>)]) -> Result<Restore> {
    let mut saved = Vec::new();
    for (_, params) in trained {
        for (_, v) in params {
            saved.push((v.clone(), v.tensor().deep_copy()?));
        }
    }
    Ok(Restore(saved))
}

/// Gives the layer's parameters the fresh weights.
fn randomise(params: &[(String, Var)], fresh: &HashMap<String, Var>) -> Result<()> {
    for (name, v) in params {
        let w = fresh[name].tensor().to_device(v.device())?;
        v.tensor().assign(&w)?;
    }
    Ok(())
}

/// The cascade on `f`'s model, its fresh weights taken from `fresh` (same architecture): one row
/// per layer, from the top.
pub fn cascading_randomisation(f: &dyn Scorer, fresh: &dyn Module, c: &Cascade) -> Result<Vec<LayerRow>> {
    let trained = layers(f.module());
    let fresh = fresh_parameters(&trained, fresh)?;
    let (grad0, ig0) = maps(f, c)?;
    let _restore = save(&trained)?;
    let mut rows = Vec::new();
    for (layer, params) in trained.iter().rev() {
        randomise(params, &fresh)?;
        let (grad, ig) = maps(f, c)?;
        rows.push(LayerRow {
            layer: layer.clone(),
            gradient: mean_correlation(&grad0, &grad),
            ig: mean_correlation(&ig0, &ig),
        });
    }
    Ok(rows)
}

/// The rank correlations of the maps of `f`'s architecture with the weights of `a` against those
/// with the weights of `b` (two random draws), on the cascade's inputs and targets: the floor of
/// the cascade's last row. The row's layer is `random vs random`.
pub fn random_floor(f: &dyn Scorer, a: &dyn Module, b: &dyn Module, c: &Cascade) -> Result<LayerRow> {
    let trained = layers(f.module());
    let (a, b) = (fresh_parameters(&trained, a)?, fresh_parameters(&trained, b)?);
    let _restore = save(&trained)?;
    let mut drawn = Vec::new();
    for fresh in [&a, &b] {
        for (_, params) in &trained {
            randomise(params, fresh)?;
        }
        drawn.push(maps(f, c)?);
    }
    Ok(LayerRow {
        layer: "random vs random".into(),
        gradient: mean_correlation(&drawn[0].0, &drawn[1].0),
        ig: mean_correlation(&drawn[0].1, &drawn[1].1),
    })
}
