//! Strided copies: gather the elements of any layout into a dense row-major buffer, block by block
//! (each run of contiguous elements is one `copy_from_slice`). Used by `contiguous()`, `to_vec` and
//! dtype conversion; the only data movement this crate does.

use crate::{Element, Layout};

/// Appends the elements of `layout` over `src`, in logical order, to `dst`.
pub fn gather_into<T: Copy>(src: &[T], layout: &Layout, dst: &mut Vec<T>) {
    dst.reserve(layout.elem_count());
    if let Some(range) = layout.contiguous_range() {
        dst.extend_from_slice(&src[range]);
        return;
    }
    let blocks = layout.strided_blocks();
    let len = blocks.block_len;
    if len == 1 {
        dst.extend(layout.strided_index().map(|i| src[i]));
    } else {
        for start in blocks {
            dst.extend_from_slice(&src[start..start + len]);
        }
    }
}

pub fn gather<T: Copy>(src: &[T], layout: &Layout) -> Vec<T> {
    let mut out = Vec::new();
    gather_into(src, layout, &mut out);
    out
}

/// Gathers and converts element by element through f64 (exact for every pair kiln stores,
/// except the intended rounding into f16/bf16/f32 and integer truncation).
pub fn gather_convert<S: Element, D: Element>(src: &[S], layout: &Layout) -> Vec<D> {
    if let Some(range) = layout.contiguous_range() {
        return src[range].iter().map(|&x| D::from_f64(x.to_f64())).collect();
    }
    layout.strided_index().map(|i| D::from_f64(src[i].to_f64())).collect()
}
