//! Scalar reference loops of the norm family over contiguous inputs, with f64 accumulators and the
//! textbook two-pass statistics: the oracle for `cpu.rs`. BatchNorm sees `x` as `[outer, C, inner]`
//! (`[N, C, H * W]`) with statistics and affine per channel; LayerNorm sees `[rows, D]` with
//! statistics per row and affine per column. Must not: be clever.

use crate::elementwise::UnaryOp;
use kiln_tensor::Float;

/// Per-group mean, biased variance and `1 / sqrt(var + eps)`.
pub struct Stats<T> {
    pub mean: Vec<T>,
    pub var: Vec<T>,
    pub invstd: Vec<T>,
}

fn finish<T: Float>(sum: Vec<f64>, sq: impl Fn(usize, f64) -> f64, count: usize, eps: f64) -> Stats<T> {
    let m = count.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / m).collect();
    let var: Vec<f64> = mean.iter().enumerate().map(|(g, &mu)| sq(g, mu) / m).collect();
    Stats {
        mean: mean.iter().map(|&v| T::from_f64(v)).collect(),
        invstd: var.iter().map(|&v| T::from_f64(1.0 / (v + eps).sqrt())).collect(),
        var: var.into_iter().map(T::from_f64).collect(),
    }
}

/// Channel statistics of `x [outer, C, inner]` over `outer` and `inner`.
pub fn batch_stats<T: Float>(x: &[T], (outer, c, inner): (usize, usize, usize), eps: f64) -> Stats<T> {
    let at = |o: usize, ch: usize, i: usize| x[(o * c + ch) * inner + i].to_f64();
    let mut sum = vec![0.0; c];
    for o in 0..outer {
        for (ch, s) in sum.iter_mut().enumerate() {
            for i in 0..inner {
                *s += at(o, ch, i);
            }
        }
    }
    let sq = |ch: usize, mu: f64| {
        (0..outer).flat_map(|o| (0..inner).map(move |i| (o, i))).map(|(o, i)| (at(o, ch, i) - mu).powi(2)).sum()
    };
    finish(sum, sq, outer * inner, eps)
}

/// `(x - mean[c]) * invstd[c] * w[c] + b[c]` rounded to `T`, BatchNorm's output before its
/// optional ReLU.
fn batch_affine<T: Float>(v: T, ch: usize, mean: &[T], invstd: &[T], (w, b): (&[T], &[T])) -> T {
    T::from_f64((v.to_f64() - mean[ch].to_f64()) * invstd[ch].to_f64() * w[ch].to_f64() + b[ch].to_f64())
}

/// `(x - mean[c]) * invstd[c] * w[c] + b[c]`, then `max(., 0)` with `relu` (the fused BatchNorm +
/// ReLU; NaN stays NaN as in `UnaryOp::Relu`).
pub fn batch_apply<T: Float>(
    x: &[T],
    (_, c, inner): (usize, usize, usize),
    (mean, invstd): (&[T], &[T]),
    affine: (&[T], &[T]),
    relu: bool,
) -> Vec<T> {
    x.iter()
        .enumerate()
        .map(|(k, &v)| {
            let y = batch_affine(v, k / inner % c, mean, invstd, affine);
            if relu {
                UnaryOp::Relu.apply(y)
            } else {
                y
            }
        })
        .collect()
}

/// Gradients `(dx, dw, db)` of [`batch_apply`] given `dy`; with `batch` the mean and variance are
/// the batch's own (training), so `dx` also flows through them; else they are constants (eval).
/// With `relu`, `dy` first passes ReLU's derivative at the normalised output (recomputed from `x`:
/// zero where it is not positive).
pub fn batch_backward<T: Float>(
    x: &[T],
    dims: (usize, usize, usize),
    (mean, invstd): (&[T], &[T]),
    (w, b): (&[T], &[T]),
    dy: &[T],
    (batch, relu): (bool, bool),
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let (_, c, inner) = dims;
    let ch = |k: usize| k / inner % c;
    let xhat = |k: usize| (x[k].to_f64() - mean[ch(k)].to_f64()) * invstd[ch(k)].to_f64();
    let dy: Vec<f64> = (0..x.len())
        .map(|k| {
            // ReLU's derivative (`UnaryOp::Relu`): 1 above zero, else 0, applied as a choice so an
            // infinite dy below zero gives 0 as PyTorch's threshold_backward does, not NaN.
            let pass = !relu || batch_affine(x[k], ch(k), mean, invstd, (w, b)) > T::ZERO;
            if pass {
                dy[k].to_f64()
            } else {
                0.0
            }
        })
        .collect();
    let (mut db, mut dw) = (vec![0.0; c], vec![0.0; c]);
    for k in 0..x.len() {
        db[ch(k)] += dy[k];
        dw[ch(k)] += dy[k] * xhat(k);
    }
    let m = (x.len() / c.max(1)).max(1) as f64;
    let dx = (0..x.len())
        .map(|k| {
            let g = ch(k);
            let scale = w[g].to_f64() * invstd[g].to_f64();
            let d = if batch { dy[k] - db[g] / m - xhat(k) * dw[g] / m } else { dy[k] };
            T::from_f64(scale * d)
        })
        .collect();
    let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
    (dx, cast(dw), cast(db))
}

/// Row statistics of `x [rows, d]`.
pub fn layer_stats<T: Float>(x: &[T], d: usize, eps: f64) -> Stats<T> {
    let rows = x.len().checked_div(d).unwrap_or(0);
    let row = |r: usize| x[r * d..(r + 1) * d].iter().map(|v| v.to_f64());
    let sum = (0..rows).map(|r| row(r).sum()).collect();
    finish(sum, |r, mu| row(r).map(|v| (v - mu).powi(2)).sum(), d, eps)
}

/// `(x - mean[r]) * invstd[r] * w[j] + b[j]`.
pub fn layer_apply<T: Float>(x: &[T], d: usize, mean: &[T], invstd: &[T], w: &[T], b: &[T]) -> Vec<T> {
    x.iter()
        .enumerate()
        .map(|(k, &v)| {
            let (r, j) = (k / d, k % d);
            T::from_f64((v.to_f64() - mean[r].to_f64()) * invstd[r].to_f64() * w[j].to_f64() + b[j].to_f64())
        })
        .collect()
}

/// Gradients `(dx, dw, db)` of [`layer_apply`] with the row statistics depending on `x`.
pub fn layer_backward<T: Float>(
    x: &[T],
    d: usize,
    mean: &[T],
    invstd: &[T],
    w: &[T],
    dy: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let rows = x.len().checked_div(d).unwrap_or(0);
    let (mut dw, mut db, mut dx) = (vec![0.0; d], vec![0.0; d], Vec::with_capacity(x.len()));
    for r in 0..rows {
        let (mu, is) = (mean[r].to_f64(), invstd[r].to_f64());
        let xhat: Vec<f64> = (0..d).map(|j| (x[r * d + j].to_f64() - mu) * is).collect();
        let g: Vec<f64> = (0..d).map(|j| dy[r * d + j].to_f64() * w[j].to_f64()).collect();
        let g_mean = g.iter().sum::<f64>() / d as f64;
        let gx_mean = g.iter().zip(&xhat).map(|(a, b)| a * b).sum::<f64>() / d as f64;
        for j in 0..d {
            dw[j] += dy[r * d + j].to_f64() * xhat[j];
            db[j] += dy[r * d + j].to_f64();
            dx.push(T::from_f64(is * (g[j] - g_mean - xhat[j] * gx_mean)));
        }
    }
    let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
    (dx, cast(dw), cast(db))
}
