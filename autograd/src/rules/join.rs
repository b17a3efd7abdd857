//! Backward rules of cat and stack: each input gets its slice of the gradient, as a narrow view.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_tensor::{Result, Tensor};

/// y = cat(xs, axis)  =>  dxs[i] = dy narrowed to the rows xs[i] filled.
pub(super) fn cat(xs: &[Var], axis: usize, grad: &Tensor) -> Result<Grads> {
    let mut start = 0;
    xs.iter()
        .map(|x| {
            let len = x.dims()[axis];
            let g = when_needed(x, || grad.narrow(axis as isize, start, len));
            start += len;
            g
        })
        .collect()
}

/// y = stack(xs, axis)  =>  dxs[i] = dy at index i of the new axis (narrow + squeeze, a view).
pub(super) fn stack(xs: &[Var], axis: usize, grad: &Tensor) -> Result<Grads> {
    xs.iter()
        .enumerate()
        .map(|(i, x)| when_needed(x, || grad.narrow(axis as isize, i, 1)?.squeeze(axis as isize)))
        .collect()
}
