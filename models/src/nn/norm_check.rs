//! Input checks of the normalisation layers, as PyTorch makes them: a layer only normalises inputs
//! of the shape it was built for (no silent broadcast of a size-1 side, no extra dims). Kept apart
//! from `norm.rs` so the layers' arithmetic and these rules change independently. Must not compute.

use kiln_autograd::Var;
use kiln_tensor::{Error, Result};

/// BatchNorm2d: `[N, C, H, W]` with `C` the layer's channels, and in training more than one value
/// per channel (a variance of one value is 0 and the unbiased running variance would divide by 0).
pub(super) fn batch_norm_2d_input(x: &Var, channels: usize, training: bool) -> Result<()> {
    const OP: &str = "BatchNorm2d";
    let d = x.dims();
    if d.len() != 4 {
        return Err(Error::invalid(OP, format!("expected 4D input [N, C, H, W], got shape {:?}", d)));
    }
    if d[1] != channels {
        return Err(Error::invalid(OP, format!("input {:?} has {} channels, the layer has {channels}", d, d[1])));
    }
    if training && d[0].saturating_mul(d[2]).saturating_mul(d[3]) <= 1 {
        return Err(Error::invalid(
            OP,
            format!("expected more than 1 value per channel when training, got input {:?}", d),
        ));
    }
    Ok(())
}

/// LayerNorm over the last dim: the input's last dim must be the layer's normalised size.
pub(super) fn layer_norm_input(x: &Var, dim: usize) -> Result<()> {
    match x.dims().last() {
        Some(&last) if last == dim => Ok(()),
        _ => Err(Error::invalid(
            "LayerNorm",
            format!("normalised shape is [{dim}], expected an input of shape [*, {dim}], got {:?}", x.dims()),
        )),
    }
}
