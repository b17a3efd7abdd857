//! Fast CPU losses over contiguous operands: cross-entropy on `[N, C]` logits (+ backward, rows
//! split over rayon above a measured size) and binary cross-entropy on probabilities and on logits
//! (+ backward) as plain slice loops. The formulas, constants and summation order are the
//! reference's (`reference.rs`), so results match it exactly, except f32 cross-entropy, whose
//! `exp` is the SIMD layer's (relative error ~1.5e-7) and whose row sums are vectorised. Non-
//! contiguous operands return `None` and the caller runs the reference. Must not: drop the
//! stable forms (log-sum-exp, `max(x, 0) - x y + ln(1 + e^-|x|)`) or PyTorch's clamps.

use crate::cpu_common::{as_f32, as_f32_out, assume_init, build, PAR_MIN_CHEAP, PAR_MIN_COSTLY};
use crate::elementwise::UnaryOp;
use crate::reduce::cpu::max_ignoring_nan;
use crate::simd;
use crate::simd::vectorized;
use crate::softmax::cpu::exp_shift_sum;
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// PyTorch's clamp of BCE's logarithms (as `reference.rs`; the tests compare the two exactly).
const LOG_FLOOR: f64 = -100.0;
/// PyTorch's floor on `p (1 - p)` in the BCE gradient.
const BCE_GRAD_EPS: f64 = 1e-12;

/// `(max, sum exp(x - max))` of one row; `scratch` receives `exp(x - max)`. f64 sums in order
/// (as the reference), f32 with the SIMD exp and vectorised partial sums.
#[inline(always)]
fn sum_exp<T: Float>(x: &[T], scratch: &mut [MaybeUninit<T>]) -> (T, T) {
    let m = max_ignoring_nan(x);
    let sum = match (as_f32(x), as_f32_out(scratch)) {
        (Some(xf), Some(sf)) => T::from_f64(exp_shift_sum(simd::isa(), xf, m.to_f64() as f32, sf) as f64),
        _ => {
            let mut sum = T::ZERO;
            for (s, &v) in scratch.iter_mut().zip(x) {
                sum += *s.write((v - m).exp());
            }
            sum
        }
    };
    (m, sum)
}

/// `mean_n( logsumexp(x[n, :]) - x[n, target[n]] )` for contiguous `[N, C]` logits; else `None`.
pub fn cross_entropy<T: Float>(x: &[T], xl: &Layout, targets: &[usize]) -> Option<T> {
    let x = &x[xl.contiguous_range()?];
    let c = xl.dims()[1];
    let mut scratch = Vec::with_capacity(c);
    let scratch = &mut scratch.spare_capacity_mut()[..c];
    let total = vectorized(
        #[inline(always)]
        || {
            let mut total = T::ZERO;
            for (r, &t) in targets.iter().enumerate() {
                let row = &x[r * c..][..c];
                let (m, sum) = sum_exp(row, scratch);
                total += m + sum.ln() - row[t];
            }
            total
        },
    );
    Some(total / T::from_usize(targets.len()))
}

/// `(softmax(x[n, :]) - onehot(target[n])) * g / N` for contiguous `[N, C]` logits; else `None`.
pub fn cross_entropy_backward<T: Float>(x: &[T], xl: &Layout, targets: &[usize], g: T) -> Option<Vec<T>> {
    let x = &x[xl.contiguous_range()?];
    let c = xl.dims()[1];
    let scale = g / T::from_usize(targets.len());
    if x.is_empty() {
        return Some(Vec::new());
    }
    Some(build(x.len(), c, x.len() >= PAR_MIN_COSTLY, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                for (k, o) in out.chunks_mut(c).enumerate() {
                    let r = s / c + k;
                    let row = &x[r * c..][..c];
                    let (m, sum) = sum_exp(row, o);
                    // SAFETY: `sum_exp` wrote every element of `o`.
                    let o = unsafe { assume_init(o) };
                    if as_f32(row).is_some() {
                        // o holds exp(x - m): the softmax is o / sum.
                        o.iter_mut().for_each(|v| *v = *v / sum);
                    } else {
                        // The reference's exact form, exp(x - m - lse).
                        let lse = sum.ln();
                        o.iter_mut().zip(row).for_each(|(v, &xv)| *v = (xv - m - lse).exp());
                    }
                    let t = targets[r];
                    o[t] -= T::ONE;
                    o.iter_mut().for_each(|v| *v *= scale);
                }
            },
        )
    }))
}

/// Both operands' contiguous slices, or `None`.
fn dense<'a, T>(a: (&'a [T], &Layout), b: (&'a [T], &Layout)) -> Option<(&'a [T], &'a [T])> {
    let (x, y) = (&a.0[a.1.contiguous_range()?], &b.0[b.1.contiguous_range()?]);
    assert_eq!(x.len(), y.len(), "loss: operands differ in length");
    Some((x, y))
}

/// Mean of `f(a_i, b_i)`, summed in order as the reference does.
#[inline(always)]
fn mean_of<T: Float>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> T {
    a.iter().zip(b).fold(T::ZERO, |acc, (&x, &y)| acc + f(x, y)) / T::from_usize(a.len())
}

/// `f(a_i, b_i) * g / N` for every element.
#[inline(always)]
fn grad_of<T: Float>(a: &[T], b: &[T], g: T, costly: bool, f: impl Fn(T, T) -> T + Sync + Copy) -> Vec<T> {
    let scale = g / T::from_usize(a.len());
    let parallel = a.len() >= if costly { PAR_MIN_COSTLY } else { PAR_MIN_CHEAP };
    build(a.len(), 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                let e = s + out.len();
                for ((o, &x), &y) in out.iter_mut().zip(&a[s..e]).zip(&b[s..e]) {
                    o.write(f(x, y) * scale);
                }
            },
        )
    })
}

/// `mean( -(y ln p + (1 - y) ln(1 - p)) )`, each log clamped at -100; `None` unless contiguous.
pub fn bce<T: Float>(p: (&[T], &Layout), y: (&[T], &Layout)) -> Option<T> {
    let (p, y) = dense(p, y)?;
    let floor = T::from_f64(LOG_FLOOR);
    Some(mean_of(p, y, |p, y| -(y * p.ln().max(floor) + (T::ONE - y) * (T::ONE - p).ln().max(floor))))
}

/// `(p - y) / max(p (1 - p), 1e-12) * g / N`; `None` unless contiguous.
pub fn bce_backward<T: Float>(p: (&[T], &Layout), y: (&[T], &Layout), g: T) -> Option<Vec<T>> {
    let (p, y) = dense(p, y)?;
    let eps = T::from_f64(BCE_GRAD_EPS);
    Some(grad_of(p, y, g, false, move |p, y| (p - y) / (p * (T::ONE - p)).max(eps)))
}

/// `mean( max(x, 0) - x y + ln(1 + e^-|x|) )`; `None` unless contiguous.
pub fn bce_with_logits<T: Float>(x: (&[T], &Layout), y: (&[T], &Layout)) -> Option<T> {
    let (x, y) = dense(x, y)?;
    Some(mean_of(x, y, |x, y| x.max(T::ZERO) - x * y + (-x.abs()).exp().ln_1p()))
}

/// `(sigmoid(x) - y) * g / N`; `None` unless contiguous.
pub fn bce_with_logits_backward<T: Float>(x: (&[T], &Layout), y: (&[T], &Layout), g: T) -> Option<Vec<T>> {
    let (x, y) = dense(x, y)?;
    Some(grad_of(x, y, g, true, |x, y| UnaryOp::Sigmoid.apply(x) - y))
}
