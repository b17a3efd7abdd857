//! Scalar reference softmax / log-softmax and their backward maps. The layouts arrive with the
//! softmax axis permuted last, so each run of `n` logical elements is one row.

use kiln_tensor::{Float, Layout};

/// Writes row by row: `out` is addressed through `ol`, the same permutation of a contiguous layout.
pub fn softmax<T: Float>(x: &[T], xl: &Layout, ol: &Layout, n: usize, log: bool) -> Vec<T> {
    let mut out = vec![T::ZERO; xl.elem_count()];
    let (mut xi, mut oi) = (xl.strided_index(), ol.strided_index());
    let mut row = vec![T::ZERO; n];
    let mut pos = vec![0usize; n];
    for _ in 0..xl.elem_count().checked_div(n).unwrap_or(0) {
        for (r, p) in row.iter_mut().zip(pos.iter_mut()) {
            *r = x[xi.next().expect("row fits")];
            *p = oi.next().expect("row fits");
        }
        let m = row.iter().fold(T::NEG_INFINITY, |a, &v| a.max(v));
        let sum = row.iter().fold(T::ZERO, |a, &v| a + (v - m).exp());
        for (&r, &p) in row.iter().zip(&pos) {
            out[p] = if log { r - m - sum.ln() } else { (r - m).exp() / sum };
        }
    }
    out
}

/// Given the forward output `y` and upstream `g` (both addressed through layouts permuted the same
/// way): softmax: `y * (g - sum(g * y))`; log-softmax: `g - exp(y) * sum(g)`.
pub fn softmax_backward<T: Float>(y: (&[T], &Layout), g: (&[T], &Layout), ol: &Layout, n: usize, log: bool) -> Vec<T> {
    let mut out = vec![T::ZERO; ol.elem_count()];
    let (mut yi, mut gi, mut oi) = (y.1.strided_index(), g.1.strided_index(), ol.strided_index());
    let (mut yr, mut gr, mut pos) = (vec![T::ZERO; n], vec![T::ZERO; n], vec![0usize; n]);
    for _ in 0..ol.elem_count().checked_div(n).unwrap_or(0) {
        for ((yv, gv), p) in yr.iter_mut().zip(gr.iter_mut()).zip(pos.iter_mut()) {
            *yv = y.0[yi.next().expect("row fits")];
            *gv = g.0[gi.next().expect("row fits")];
            *p = oi.next().expect("row fits");
        }
        if log {
            let gsum = gr.iter().fold(T::ZERO, |a, &v| a + v);
            for ((&yv, &gv), &p) in yr.iter().zip(&gr).zip(&pos) {
                out[p] = gv - yv.exp() * gsum;
            }
        } else {
            let dot = yr.iter().zip(&gr).fold(T::ZERO, |a, (&y, &g)| a + y * g);
            for ((&yv, &gv), &p) in yr.iter().zip(&gr).zip(&pos) {
                out[p] = yv * (gv - dot);
            }
        }
    }
    out
}
