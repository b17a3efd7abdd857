//! Scalar reference index_select / index_add / gather / scatter_add. Indices arrive already
//! range-checked (as usize, in the index tensor's logical order). One trick is used throughout:
//! a layout with the indexed axis' stride set to 0 walks, element by element, the storage offset
//! of "this position with the axis coordinate zeroed"; adding `index * axis_stride` finishes it.

use kiln_tensor::{Float, Layout, StridedIndex};

/// Offsets of every position of `dims` under `strides`/`offset`, with the `axis` coordinate ignored.
fn axis_zeroed(dims: &[usize], strides: &[usize], offset: usize, axis: usize) -> StridedIndex {
    let mut s = strides.to_vec();
    s[axis] = 0;
    // Zeroing a stride only shrinks the span of a valid layout, so this cannot fail.
    Layout::new(dims.to_vec().into(), s, offset).expect("a layout with one stride zeroed").strided_index()
}

/// `out[.., i, ..] = x[.., idx[i], ..]` along `axis`.
pub fn index_select<T: Copy>(x: &[T], xl: &Layout, axis: usize, idx: &[usize]) -> Vec<T> {
    let mut dims = xl.dims().to_vec();
    dims[axis] = idx.len();
    let inner: usize = dims[axis + 1..].iter().product();
    let sa = xl.strides()[axis];
    axis_zeroed(&dims, xl.strides(), xl.offset(), axis)
        .enumerate()
        .map(|(k, base)| x[base + idx[(k / inner) % idx.len()] * sa])
        .collect()
}

/// Zeros of `shape` with `src[.., i, ..]` added at `[.., idx[i], ..]` (repeated indices accumulate).
pub fn index_add<T: Float>(shape: &[usize], axis: usize, idx: &[usize], src: &[T], sl: &Layout) -> Vec<T> {
    let strides = kiln_tensor::Shape::from(shape).contiguous_strides();
    let mut out = vec![T::ZERO; shape.iter().product()];
    let inner: usize = sl.dims()[axis + 1..].iter().product();
    let bases = axis_zeroed(sl.dims(), &strides, 0, axis);
    for (k, (base, si)) in bases.zip(sl.strided_index()).enumerate() {
        out[base + idx[(k / inner) % idx.len()] * strides[axis]] += src[si];
    }
    out
}

/// torch.gather: `out[p] = x[p with its axis coordinate replaced by idx[p]]` for every position
/// `p` of the index tensor (`index_dims`).
pub fn gather<T: Copy>(x: &[T], xl: &Layout, axis: usize, idx: &[usize], index_dims: &[usize]) -> Vec<T> {
    let sa = xl.strides()[axis];
    axis_zeroed(index_dims, xl.strides(), xl.offset(), axis).zip(idx).map(|(base, &i)| x[base + i * sa]).collect()
}

/// Zeros of `shape` with `src[p]` added at `p with its axis coordinate replaced by idx[p]` for
/// every position `p` of the index tensor; `sl` is src's layout restricted to the index's dims.
pub fn scatter_add<T: Float>(shape: &[usize], axis: usize, idx: &[usize], src: &[T], sl: &Layout) -> Vec<T> {
    let strides = kiln_tensor::Shape::from(shape).contiguous_strides();
    let mut out = vec![T::ZERO; shape.iter().product()];
    let bases = axis_zeroed(sl.dims(), &strides, 0, axis);
    for ((base, si), &i) in bases.zip(sl.strided_index()).zip(idx) {
        out[base + i * strides[axis]] += src[si];
    }
    out
}
