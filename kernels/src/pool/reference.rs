//! Scalar reference 2-D max pooling (no padding) and its scatter-add backward. The input is read
//! through its strides; outputs are row-major. The only implementation today, and the oracle
//! for any faster one.

use kiln_tensor::{Float, Layout};

/// Values and argmax (flat `h*W + w` within the input plane) of every `k x k` window at stride
/// `s`, for an `[N, C, H, W]` layout. Ties go to the first element in row-major window order;
/// a NaN wins over any number (the first NaN is kept), as in PyTorch.
pub fn max_pool2d<T: Float>(x: &[T], xl: &Layout, k: usize, s: usize, oh: usize, ow: usize) -> (Vec<T>, Vec<i64>) {
    let (d, st) = (xl.dims(), xl.strides());
    let (n, c, w) = (d[0], d[1], d[3]);
    let cap = n * c * oh * ow;
    let (mut vals, mut idx) = (Vec::with_capacity(cap), Vec::with_capacity(cap));
    for ni in 0..n {
        for ci in 0..c {
            let plane = xl.offset() + ni * st[0] + ci * st[1];
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut best, mut best_at) = (T::NEG_INFINITY, None);
                    for ky in 0..k {
                        for kx in 0..k {
                            let (y, xw) = (oy * s + ky, ox * s + kx);
                            let v = x[plane + y * st[2] + xw * st[3]];
                            let better = match best_at {
                                None => true,
                                Some(_) => !best.is_nan() && (v.is_nan() || v > best),
                            };
                            if better {
                                best = v;
                                best_at = Some(y * w + xw);
                            }
                        }
                    }
                    vals.push(best);
                    idx.push(best_at.unwrap_or(0) as i64);
                }
            }
        }
    }
    (vals, idx)
}

/// Scatter-add of the output gradient (any layout, `[N, C, OH, OW]` in logical order) onto the
/// positions `idx` (flat within each `plane`-sized input plane, one per gradient element).
/// Overlapping windows that chose the same pixel accumulate.
pub fn max_pool2d_backward<T: Float>(g: &[T], gl: &Layout, idx: &[usize], planes: usize, plane: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; planes * plane];
    let per_plane = gl.elem_count().checked_div(planes).unwrap_or(0);
    for (k, (gi, &i)) in gl.strided_index().zip(idx).enumerate() {
        out[(k / per_plane) * plane + i] += g[gi];
    }
    out
}
