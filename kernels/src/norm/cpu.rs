//! Fast CPU kernels of the norm family over contiguous inputs: statistics in one pass (sums of
//! `x - shift` and their squares, the shift being each group's first element so the variance does
//! not cancel; 16 partial sums per block in `T`, blocks added in f64), normalise + affine in one,
//! backward in two (the per-group sums of `dy` and `dy * (x - mean)`, then `dx`). Loops run inside
//! `vectorized` (f32 sums on explicit vectors, `block_sums_f32`); channels or rows (statistics)
//! and blocks (the maps) split over rayon from [`PAR_MIN_NORM`] elements, a block's overhead
//! counted as [`BLOCK_COST`] more. Results differ from `reference.rs` (f64 throughout) by
//! rounding only. Must not: read a layout other than contiguous (or, for LayerNorm, contiguous
//! rows at given starts), or allocate per element.

use super::reference::Stats;
use crate::cpu_common::{as_f32, build};
use crate::elementwise::UnaryOp;
use crate::simd::{self, vectorized};
use crate::simd_dispatch;
use kiln_tensor::Float;
use rayon::prelude::*;
use std::mem::MaybeUninit;

const LANES: usize = 16;

/// Elements from which the norm kernels split over rayon: below the elementwise threshold (2M)
/// because a norm makes four passes over its input per training step and splits by whole
/// channels, so one wake-up of the pool is paid per pass, not per op; W2-BN's first two layers
/// (1.8M and 0.7M elements) split, its last (131k) does not.
pub(crate) const PAR_MIN_NORM: usize = 1 << 18;

/// What one block (one group's run of `inner` elements) costs beyond its elements, in elements:
/// a block's 32 lane sums are added in f64 one after another (their order is part of the result)
/// and the loops restart. W2-BN's last layer (`[64, 128, 4, 4]`, 16-element blocks) took 4.4 ns
/// an element against 0.3 ns for 900-element blocks on Zen 4, so it splits although it has half
/// of [`PAR_MIN_NORM`]'s elements.
const BLOCK_COST: usize = 64;

/// Whether `len` elements in blocks of `inner` are worth splitting over rayon.
fn parallel(len: usize, inner: usize) -> bool {
    len.saturating_add((len / inner.max(1)).saturating_mul(BLOCK_COST)) >= PAR_MIN_NORM
}

/// ReLU's gate after BatchNorm, `(k, beta)` of the channel: an element of the backward sums counts
/// only where the normalised output `(x - mean) * k + beta` (computed as `batch_apply` computes it,
/// so the same elements pass) is positive.
type ReluGate<T> = Option<(T, T)>;

/// `(sum (a - s), sum (a - s) * (b - s))` over one block with `b = a` for statistics, or
/// `(sum a, sum a * (b - s))` with `shift_a` false for the backward sums (over the elements `gate`
/// passes, when given).
#[inline(always)]
fn block_sums<T: Float>(a: &[T], b: &[T], s: T, shift_a: bool, gate: ReluGate<T>) -> (f64, f64) {
    assert_eq!(a.len(), b.len(), "block_sums: operands differ in length");
    let sa = if shift_a { s } else { T::ZERO };
    let passes = |v: T| gate.is_none_or(|(k, beta)| v * k + beta > T::ZERO);
    let (lanes1, lanes2, done) = match (as_f32(a), as_f32(b)) {
        (Some(a32), Some(b32)) => {
            let as32 = |v: T| v.to_f64() as f32;
            let gate32 = gate.map(|(k, beta)| (as32(k), as32(beta)));
            let (p, q, done) = block_sums_f32(simd::isa(), a32, b32, (as32(s), as32(sa)), gate32);
            (p.map(f64::from), q.map(f64::from), done)
        }
        _ => {
            let (mut s1, mut s2) = ([T::ZERO; LANES], [T::ZERO; LANES]);
            for (ca, cb) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
                for l in 0..LANES {
                    let v = cb[l] - s;
                    let u = if passes(v) { ca[l] - sa } else { T::ZERO };
                    s1[l] += u;
                    s2[l] += u * v;
                }
            }
            (s1.map(|v| v.to_f64()), s2.map(|v| v.to_f64()), a.len() / LANES * LANES)
        }
    };
    let mut t1: f64 = lanes1.iter().sum();
    let mut t2: f64 = lanes2.iter().sum();
    for (&u, &v) in a[done..].iter().zip(&b[done..]) {
        let u = if passes(v - s) { u - sa } else { T::ZERO };
        t1 += u.to_f64();
        t2 += (u * (v - s)).to_f64();
    }
    (t1, t2)
}

simd_dispatch! {
    /// `block_sums`' 16 lane sums for f32 on explicit vectors (one 512-bit, two 256-bit or 16
    /// scalar accumulators): lane `l` adds the elements `l, l + 16, ...`, the product rounded before
    /// the add, exactly as the generic loop does, so the sums are that loop's bit for bit. LLVM
    /// left the generic loop scalar for f32 (the statistics ran at 7 GB/s on Zen 4, a fifth of
    /// memory speed). Returns the lanes and how many elements they cover (whole groups of 16).
    pub(super) fn block_sums_f32<S>(a: &[f32], b: &[f32], shifts: (f32, f32), gate: ReluGate<f32>) -> ([f32; LANES], [f32; LANES], usize) {
        let (l, groups) = (S::LANES, a.len() / LANES);
        let (ap, bp, vs, vsa) = (a.as_ptr(), b.as_ptr(), S::splat(shifts.0), S::splat(shifts.1));
        let (k, beta) = gate.unwrap_or((0.0, 0.0));
        let (vk, vbeta, zero) = (S::splat(k), S::splat(beta), S::zero());
        let (mut s1, mut s2) = ([S::zero(); LANES], [S::zero(); LANES]);
        for g in 0..groups {
            for j in 0..LANES / l {
                let at = g * LANES + j * l;
                let mut u = S::sub(S::loadu(ap.add(at)), vsa);
                let v = S::sub(S::loadu(bp.add(at)), vs);
                if gate.is_some() {
                    u = S::select_lt(zero, S::add(S::mul(v, vk), vbeta), u, zero);
                }
                s1[j] = S::add(s1[j], u);
                s2[j] = S::add(s2[j], S::mul(u, v));
            }
        }
        let (mut o1, mut o2) = ([0f32; LANES], [0f32; LANES]);
        for j in 0..LANES / l {
            S::storeu(o1.as_mut_ptr().add(j * l), s1[j]);
            S::storeu(o2.as_mut_ptr().add(j * l), s2[j]);
        }
        (o1, o2, groups * LANES)
    }
}

pub(super) fn finish<T: Float>(sums: Vec<(f64, f64, f64)>, count: usize, eps: f64) -> Stats<T> {
    let m = count.max(1) as f64;
    let (mut mean, mut var, mut invstd) = (Vec::new(), Vec::new(), Vec::new());
    for (shift, s1, s2) in sums {
        let d = s1 / m;
        let v = (s2 / m - d * d).max(0.0);
        mean.push(T::from_f64(shift + d));
        var.push(T::from_f64(v));
        invstd.push(T::from_f64(1.0 / (v + eps).sqrt()));
    }
    Stats { mean, var, invstd }
}

/// Maps `f` over `0..n`, in parallel when `parallel`.
fn per_group<R: Send>(n: usize, parallel: bool, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if parallel {
        (0..n).into_par_iter().map(f).collect()
    } else {
        (0..n).map(f).collect()
    }
}

/// Channel statistics of `x [outer, C, inner]`.
pub fn batch_stats<T: Float>(x: &[T], (outer, c, inner): (usize, usize, usize), eps: f64) -> Stats<T> {
    let sums = per_group(c, parallel(x.len(), inner), |ch| {
        let shift = if x.is_empty() { T::ZERO } else { x[ch * inner] };
        let (mut s1, mut s2) = (0.0, 0.0);
        for o in 0..outer {
            let blk = &x[(o * c + ch) * inner..][..inner];
            let (a, b) = vectorized(
                #[inline(always)]
                || block_sums(blk, blk, shift, true, None),
            );
            s1 += a;
            s2 += b;
        }
        (shift.to_f64(), s1, s2)
    });
    finish(sums, outer * inner, eps)
}

/// Fills `out` (blocks of `inner`, the first being block `start / inner` of `[outer * C]`) with
/// `f(block channel, x block, out block)`.
fn per_block<T: Float>(
    n: usize,
    (c, inner): (usize, usize),
    f: impl Fn(usize, usize, &mut [MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    build(n, inner.max(1), parallel(n, inner), |s, out: &mut [MaybeUninit<T>]| {
        for (j, o) in out.chunks_mut(inner.max(1)).enumerate() {
            let blk = s / inner.max(1) + j;
            f(blk % c.max(1), blk * inner, o)
        }
    })
}

/// `(x - mean[c]) * (invstd[c] * w[c]) + b[c]`, then ReLU with `relu` (`UnaryOp::Relu`).
pub fn batch_apply<T: Float>(
    x: &[T],
    (_, c, inner): (usize, usize, usize),
    (mean, invstd): (&[T], &[T]),
    (w, b): (&[T], &[T]),
    relu: bool,
) -> Vec<T> {
    per_block(x.len(), (c, inner), |ch, at, out| {
        let (mu, k, beta) = (mean[ch], invstd[ch] * w[ch], b[ch]);
        vectorized(
            #[inline(always)]
            || {
                let n = out.len();
                let pairs = out.iter_mut().zip(&x[at..at + n]);
                if relu {
                    pairs.for_each(|(o, &v)| {
                        o.write(UnaryOp::Relu.apply((v - mu) * k + beta));
                    })
                } else {
                    pairs.for_each(|(o, &v)| {
                        o.write((v - mu) * k + beta);
                    })
                }
            },
        )
    })
}

/// `(dx, dw, db)` as the reference's `batch_backward`. With `relu` both passes gate `dy` by the
/// recomputed normalised output (the same expression as [`batch_apply`]'s, so exactly the elements
/// its ReLU passed): no mask is stored and no gated copy of `dy` is written.
pub fn batch_backward<T: Float>(
    x: &[T],
    (outer, c, inner): (usize, usize, usize),
    (mean, invstd): (&[T], &[T]),
    (w, b): (&[T], &[T]),
    dy: &[T],
    (batch, relu): (bool, bool),
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let gate = |ch: usize| relu.then(|| (invstd[ch] * w[ch], b[ch]));
    // Pass 1: per channel, sum dy and sum dy * (x - mean).
    let sums = per_group(c, parallel(x.len(), inner), |ch| {
        let (mut s1, mut s2) = (0.0, 0.0);
        for o in 0..outer {
            let at = (o * c + ch) * inner;
            let (a, b) = vectorized(
                #[inline(always)]
                || block_sums(&dy[at..at + inner], &x[at..at + inner], mean[ch], false, gate(ch)),
            );
            s1 += a;
            s2 += b;
        }
        (s1, s2)
    });
    let m = (outer * inner).max(1) as f64;
    let db: Vec<T> = sums.iter().map(|s| T::from_f64(s.0)).collect();
    let dw: Vec<T> = sums.iter().zip(invstd).map(|(s, &is)| T::from_f64(s.1 * is.to_f64())).collect();
    // Pass 2: dx = w invstd (dy - db / m - (x - mean) invstd dw / m), the last two only in training.
    let coef: Vec<(T, T, T)> = (0..c)
        .map(|ch| {
            let k = w[ch] * invstd[ch];
            let (a, q) = if batch {
                (T::from_f64(sums[ch].0 / m), T::from_f64(sums[ch].1 / m * invstd[ch].to_f64().powi(2)))
            } else {
                (T::ZERO, T::ZERO)
            };
            (k, a, q)
        })
        .collect();
    let dx = per_block(x.len(), (c, inner), |ch, at, out| {
        let ((k, a, q), mu) = (coef[ch], mean[ch]);
        let (gk, gbeta) = gate(ch).unwrap_or((T::ZERO, T::ZERO));
        vectorized(
            #[inline(always)]
            || {
                let n = out.len();
                let triples = out.iter_mut().zip(&dy[at..at + n]).zip(&x[at..at + n]);
                if relu {
                    triples.for_each(|((o, &g), &v)| {
                        let g = if (v - mu) * gk + gbeta > T::ZERO { g } else { T::ZERO };
                        o.write(k * (g - a - (v - mu) * q));
                    })
                } else {
                    triples.for_each(|((o, &g), &v)| {
                        o.write(k * (g - a - (v - mu) * q));
                    })
                }
            },
        )
    });
    (dx, dw, db)
}

/// Row statistics of `x [rows, d]`.
pub fn layer_stats<T: Float>(x: &[T], d: usize, eps: f64) -> Stats<T> {
    layer_stats_at(x, x.len().checked_div(d).unwrap_or(0), d, |r| r * d, eps)
}

/// Statistics of `rows` rows of `d` contiguous elements, row `r` starting at `x[start(r)]` (a
/// narrowed view's rows, read where they lie).
pub fn layer_stats_at<T: Float>(
    x: &[T],
    rows: usize,
    d: usize,
    start: impl Fn(usize) -> usize + Sync + Send,
    eps: f64,
) -> Stats<T> {
    let sums = per_group(rows, parallel(rows * d, d), |r| {
        let row = &x[start(r)..][..d];
        let (s1, s2) = vectorized(
            #[inline(always)]
            || block_sums(row, row, row[0], true, None),
        );
        (row[0].to_f64(), s1, s2)
    });
    finish(sums, d, eps)
}

/// `(x - mean[r]) * invstd[r] * w[j] + b[j]`.
pub fn layer_apply<T: Float>(x: &[T], d: usize, mean: &[T], invstd: &[T], w: &[T], b: &[T]) -> Vec<T> {
    layer_apply_at(x, x.len(), d, |r| r * d, (mean, invstd), (w, b))
}

/// As [`layer_apply`] for `total` elements in rows of `d` starting at `x[start(r)]`; the output
/// is contiguous.
pub fn layer_apply_at<T: Float>(
    x: &[T],
    total: usize,
    d: usize,
    start: impl Fn(usize) -> usize + Sync,
    (mean, invstd): (&[T], &[T]),
    (w, b): (&[T], &[T]),
) -> Vec<T> {
    build(total, d.max(1), parallel(total, d), |s, out: &mut [MaybeUninit<T>]| {
        for (j, o) in out.chunks_mut(d.max(1)).enumerate() {
            let r = s / d.max(1) + j;
            let (mu, is, row) = (mean[r], invstd[r], &x[start(r)..][..d]);
            vectorized(
                #[inline(always)]
                || {
                    for (((o, &v), &wj), &bj) in o.iter_mut().zip(row).zip(w).zip(b) {
                        o.write((v - mu) * is * wj + bj);
                    }
                },
            )
        }
    })
}

/// `(dx, dw, db)` as the reference's `layer_backward`. Pass 1 walks the rows in order, summing
/// `g = dy * w` and `g * (x - mean)` per row and accumulating `dw`, `db` per column; pass 2 is `dx`.
pub fn layer_backward<T: Float>(
    x: &[T],
    d: usize,
    mean: &[T],
    invstd: &[T],
    w: &[T],
    dy: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>) {
    let rows = x.len().checked_div(d).unwrap_or(0);
    let (mut dw, mut db) = (vec![T::ZERO; d], vec![T::ZERO; d]);
    let mut row_sums = Vec::with_capacity(rows);
    let mut g = vec![T::ZERO; d];
    for r in 0..rows {
        let (xr, dyr, (mu, is)) = (&x[r * d..(r + 1) * d], &dy[r * d..(r + 1) * d], (mean[r], invstd[r]));
        vectorized(
            #[inline(always)]
            || {
                for j in 0..d {
                    let xhat = (xr[j] - mu) * is;
                    dw[j] += dyr[j] * xhat;
                    db[j] += dyr[j];
                    g[j] = dyr[j] * w[j];
                }
            },
        );
        row_sums.push(vectorized(
            #[inline(always)]
            || block_sums(&g, xr, mu, false, None),
        ));
    }
    let dx = build(x.len(), d.max(1), parallel(x.len(), d), |s, out: &mut [MaybeUninit<T>]| {
        for (j, o) in out.chunks_mut(d.max(1)).enumerate() {
            let r = s / d.max(1) + j;
            let (mu, is) = (mean[r], invstd[r]);
            let (a, q) =
                (T::from_f64(row_sums[r].0 / d as f64), T::from_f64(row_sums[r].1 / d as f64 * is.to_f64().powi(2)));
            let (xr, dyr) = (&x[r * d..(r + 1) * d], &dy[r * d..(r + 1) * d]);
            vectorized(
                #[inline(always)]
                || {
                    for (((o, &v), &gy), &wj) in o.iter_mut().zip(xr).zip(dyr).zip(w) {
                        o.write(is * (gy * wj - a - (v - mu) * q));
                    }
                },
            )
        }
    });
    (dx, dw, db)
}
