//! The forward half of every op: `Var` methods (and a few free functions) that call one
//! kiln-kernels function and record an `Op`. One file per op family, named as kiln-kernels names it, matching `rules/` (`view` and
//! `overloads` have no kernel family: views are layout changes, overloads are sugar). No backward
//! math here.

mod conv;
mod dropout;
pub(crate) mod elementwise;
mod embedding;
pub(crate) mod join;
pub(crate) mod loss;
pub(crate) mod lstm;
mod matmul;
pub(crate) mod norm;
mod overloads;
mod pool;
mod reduce;
mod softmax;
mod view;

/// Resolves an insertion axis for an output of rank `rank + 1` (unsqueeze, stack): `-1` appends.
pub(crate) fn insertion_axis(
    axis: isize,
    rank: usize,
    op: &'static str,
    shape: &kiln_tensor::Shape,
) -> kiln_tensor::Result<usize> {
    let r = rank as isize + 1;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(kiln_tensor::Error::AxisOutOfRange { op, axis, rank, shape: shape.clone() });
    }
    Ok(a as usize)
}
