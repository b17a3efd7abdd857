//! Fast embedding lookups and their backward on the CPU: `index_select` / `index_add` along axis 0
//! of contiguous tensors move whole rows (one `copy_from_slice`, or one vectorised add, per index)
//! instead of walking every element through a strided index. Same results as `reference.rs`, bit
//! for bit (each output element receives its additions in the same order). Other axes and strided
//! inputs return `None` and take the reference. Must not: reorder additions into a row.

use crate::simd::vectorized;
use kiln_tensor::{Float, Layout};

/// Rows `idx` of `x` viewed as `[n, row]`, when `x` is contiguous.
pub fn select_rows<T: Copy>(x: &[T], xl: &Layout, idx: &[usize]) -> Option<Vec<T>> {
    let x = &x[xl.contiguous_range()?];
    let row: usize = xl.dims()[1..].iter().product();
    let mut out = Vec::with_capacity(idx.len() * row);
    for &i in idx {
        out.extend_from_slice(&x[i * row..(i + 1) * row]);
    }
    Some(out)
}

/// Zeros of `[rows, row..]` with row `k` of `src` added at row `idx[k]`, when `src` is contiguous.
pub fn add_rows<T: Float>(shape: &[usize], idx: &[usize], src: &[T], sl: &Layout) -> Option<Vec<T>> {
    let src = &src[sl.contiguous_range()?];
    let row: usize = shape[1..].iter().product();
    let mut out = vec![T::ZERO; shape.iter().product()];
    vectorized(
        #[inline(always)]
        || {
            for (k, &i) in idx.iter().enumerate() {
                for (o, s) in out[i * row..(i + 1) * row].iter_mut().zip(&src[k * row..(k + 1) * row]) {
                    *o += *s;
                }
            }
        },
    );
    Some(out)
}
