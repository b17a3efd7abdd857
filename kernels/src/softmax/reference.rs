//! Scalar reference softmax / log-softmax and their backward maps. The layouts arrive with the
//! softmax axis permuted last, so each run of `n` logical elements is one row.

use kiln_tensor::{Float, Layout};

/// Writes row by row: `out` is addressed through `ol`, the same permutation of a contiguous layout.
pub fn softmax<T: Float>(x: &[T], xl: &Layout, ol: &Layout, n: usize, log: bool) -> Vec<T> {
    let mut out = vec![T::ZERO; xl.elem_count()];
    let (mut xi, mut oi) = (xl.strided_index(), ol.strided_index());
    let mut row = vec![T::ZERO; n];
    let mut pos = vec![0usize; n];
    for _ in 0..(if n == 0 { 0 } else { xl.elem_count() / n }) {
        for k in 0..n {
            row[k] = x[xi.next().expect("row fits")];
            pos[k] = oi.next().expect("row fits");
        }
        let m = row.iter().fold(T::NEG_INFINITY, |a, &v| a.max(v));
        let sum = row.iter().fold(T::ZERO, |a, &v| a + (v - m).exp());
        for k in 0..n {
            out[pos[k]] = if log { row[k] - m - sum.ln() } else { (row[k] - m).exp() / sum };
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
    for _ in 0..(if n == 0 { 0 } else { ol.elem_count() / n }) {
        for k in 0..n {
            yr[k] = y.0[yi.next().expect("row fits")];
            gr[k] = g.0[gi.next().expect("row fits")];
            pos[k] = oi.next().expect("row fits");
        }
        if log {
            let gsum = gr.iter().fold(T::ZERO, |a, &v| a + v);
            for k in 0..n {
                out[pos[k]] = gr[k] - yr[k].exp() * gsum;
            }
        } else {
            let dot = yr.iter().zip(&gr).fold(T::ZERO, |a, (&y, &g)| a + y * g);
            for k in 0..n {
                out[pos[k]] = yr[k] * (gr[k] - dot);
            }
        }
    }
    out
}
