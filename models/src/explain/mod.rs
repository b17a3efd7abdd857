//! Attribution: why a trained classifier gave its answer, as a number per input element.
//! Saliency, gradient x input, integrated gradients (Riemann and Gauss-Legendre rules, the
//! completeness delta returned with the attribution) and SmoothGrad (`attribute.rs`), for any model
//! seen as a differentiable map from an input batch to class scores (`scorer.rs`: image classifiers
//! in pixel space, the W3 review classifier at its embedding layer); the checks that say whether
//! an attribution can be trusted (`sanity.rs`, `randomise.rs`: completeness, model randomisation,
//! deletion / replacement faithfulness; `rank.rs`: the statistics they use); and what people look
//! at (`picture.rs`: PNG grids; `html.rs`: a review's tokens shaded in a self-contained page;
//! `text.rs`: tokens as the model saw them, and ANSI colours). Conventions follow Captum's. Every
//! gradient comes from kiln's autograd; nothing here trains or changes a model for good.

pub mod attribute;
pub mod html;
pub mod picture;
pub mod quadrature;
pub mod randomise;
pub mod rank;
pub mod sanity;
pub mod scorer;
pub mod text;

pub use attribute::{attribute, Attribution, ExplainConfig, Method};
pub use quadrature::Rule;
pub use scorer::{ReviewScorer, Scorer};

#[cfg(test)]
mod tests;
