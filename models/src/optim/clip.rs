//! Gradient clipping by global norm (PyTorch's `clip_grad_norm_`): if the L2 norm of all gradients
//! together exceeds `max_norm`, every gradient is scaled by `max_norm / (norm + 1e-6)`.

use kiln_autograd::{GradStore, Var};
use kiln_kernels::elementwise::{unary, UnaryOp};
use kiln_tensor::{Error, Result};

/// Clips in place and returns the norm before clipping.
/// `max_norm` must be a non-negative number (`+inf` only measures); NaN or a negative bound is a
/// typed error, since either would scale every gradient by NaN or flip its sign.
pub fn clip_grad_norm(grads: &mut GradStore, params: &[(String, Var)], max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::hyper("clip_grad_norm", "max_norm", max_norm, "a non-negative number"));
    }
    let mut sq = 0.0f64;
    for (_, p) in params {
        if let Some(g) = grads.get(p) {
            sq += g.to_vec_f64()?.iter().map(|v| v * v).sum::<f64>();
        }
    }
    let norm = sq.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for (_, p) in params {
            if let Some(g) = grads.get(p) {
                let scaled = unary(UnaryOp::Affine { mul: scale, add: 0.0 }, g)?;
                grads.insert(p, scaled);
            }
        }
    }
    Ok(norm)
}
