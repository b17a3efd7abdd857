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
    if len == 1 && layout.dims().len() >= 2 {
        gather_planes(src, layout, dst);
    } else if len == 1 {
        dst.extend(layout.strided_index().map(|i| src[i]));
    } else {
        for start in blocks {
            dst.extend_from_slice(&src[start..start + len]);
        }
    }
}

/// Side of the square tiles [`gather_planes`] copies. 16, not 32: at a power-of-two stride (a
/// 512-wide matrix) the lines of one tile side map to very few L1 sets, and 32 of them thrash.
const TILE: usize = 16;

/// The last two dims of `layout` as planes (a transpose, or any 2-D pattern whose inner stride is
/// not 1), one tiled copy per plane, walking the source along its smaller stride. Element by
/// element through the strided iterator this was 18% of a W1 step.
fn gather_planes<T: Copy>(src: &[T], layout: &Layout, dst: &mut Vec<T>) {
    let (dims, strides) = (layout.dims(), layout.strides());
    let r = dims.len();
    let (rows, cols, rs, cs) = (dims[r - 2], dims[r - 1], strides[r - 2], strides[r - 1]);
    if layout.elem_count() == 0 {
        return;
    }
    let start = dst.len();
    dst.resize(start + layout.elem_count(), src[layout.offset()]);
    let planes = layout.leading_dims(r - 2);
    for (plane, base) in dst[start..].chunks_mut(rows * cols).zip(planes.strided_index()) {
        for r0 in (0..rows).step_by(TILE) {
            for c0 in (0..cols).step_by(TILE) {
                let (r1, c1) = ((r0 + TILE).min(rows), (c0 + TILE).min(cols));
                if cs <= rs {
                    for i in r0..r1 {
                        for j in c0..c1 {
                            plane[i * cols + j] = src[base + i * rs + j * cs];
                        }
                    }
                } else {
                    for j in c0..c1 {
                        for i in r0..r1 {
                            plane[i * cols + j] = src[base + i * rs + j * cs];
                        }
                    }
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiled_plane_copies_match_the_strided_iterator() {
        let src: Vec<u32> = (0..40 * 37 * 3).collect();
        for (dims, perm) in [
            (vec![37, 40], vec![1, 0]),
            (vec![3, 37, 40], vec![0, 2, 1]),
            (vec![3, 37, 40], vec![2, 0, 1]),
            (vec![1, 1], vec![1, 0]),
            (vec![0, 5], vec![1, 0]),
        ] {
            let n: usize = dims.iter().product();
            let l = Layout::contiguous(dims.clone()).permute(&perm).unwrap();
            let want: Vec<u32> = l.strided_index().map(|i| src[i]).collect();
            let mut got = vec![7u32];
            gather_into(&src[..n.max(1)], &l, &mut got);
            assert_eq!(got[0], 7, "{dims:?} {perm:?}: appends");
            assert_eq!(&got[1..], &want[..], "{dims:?} {perm:?}");
        }
        // A narrowed, offset transpose.
        let l = Layout::contiguous([37, 40]).narrow(1, 3, 30).unwrap().transpose(0, 1).unwrap();
        let want: Vec<u32> = l.strided_index().map(|i| src[i]).collect();
        assert_eq!(gather(&src, &l), want);
    }
}
