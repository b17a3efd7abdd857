//! The loss formulas, scalar and mean-reduced, with their gradients. Inputs are read through
//! their layouts (any strides); gradients come out row-major. Numerically stable forms are used
//! where the naive one overflows (log-sum-exp for cross-entropy, `max(x, 0) - x*y + ln(1 +
//! e^-|x|)` for BCE with logits); the constants follow PyTorch so results match it.
//! Means over zero elements are 0/0 = NaN, as in PyTorch.

use crate::elementwise::UnaryOp;
use kiln_tensor::{Float, Layout};

/// PyTorch clamps BCE's logarithms at -100 so that p = 0 or 1 gives a finite loss.
const LOG_FLOOR: f64 = -100.0;
/// PyTorch's floor on `p (1 - p)` in the BCE gradient.
const BCE_GRAD_EPS: f64 = 1e-12;

/// Row `r` of an `[N, C]` layout as a closure over column indices.
fn row<'a, T: Float>(x: &'a [T], xl: &Layout, r: usize) -> impl Fn(usize) -> T + 'a {
    let (base, s1) = (xl.offset() + r * xl.strides()[0], xl.strides()[1]);
    move |j| x[base + j * s1]
}

/// `(max, ln sum exp(x - max))` of one row of `c` values: `logsumexp = max + second`.
fn log_sum_exp<T: Float>(c: usize, at: &impl Fn(usize) -> T) -> (T, T) {
    let m = (0..c).fold(T::NEG_INFINITY, |a, j| a.max(at(j)));
    (m, (0..c).fold(T::ZERO, |a, j| a + (at(j) - m).exp()).ln())
}

/// `mean_n( logsumexp(x[n, :]) - x[n, target[n]] )` for logits `[N, C]`.
pub fn cross_entropy<T: Float>(x: &[T], xl: &Layout, targets: &[usize]) -> T {
    let c = xl.dims()[1];
    let mut total = T::ZERO;
    for (r, &t) in targets.iter().enumerate() {
        let at = row(x, xl, r);
        let (m, lse) = log_sum_exp(c, &at);
        total += m + lse - at(t);
    }
    total / T::from_usize(targets.len())
}

/// `(softmax(x[n, :]) - onehot(target[n])) * g / N`, row-major `[N, C]`.
pub fn cross_entropy_backward<T: Float>(x: &[T], xl: &Layout, targets: &[usize], g: T) -> Vec<T> {
    let c = xl.dims()[1];
    let scale = g / T::from_usize(targets.len());
    let mut out = Vec::with_capacity(targets.len() * c);
    for (r, &t) in targets.iter().enumerate() {
        let at = row(x, xl, r);
        let (m, lse) = log_sum_exp(c, &at);
        out.extend((0..c).map(|j| {
            let onehot = if j == t { T::ONE } else { T::ZERO };
            ((at(j) - m - lse).exp() - onehot) * scale
        }));
    }
    out
}

/// Mean of `f(a_i, b_i)` over two same-shaped operands.
fn mean_of<T: Float>(a: (&[T], &Layout), b: (&[T], &Layout), f: impl Fn(T, T) -> T) -> T {
    let n = a.1.elem_count();
    let sum = a.1.strided_index().zip(b.1.strided_index()).fold(T::ZERO, |acc, (i, j)| acc + f(a.0[i], b.0[j]));
    sum / T::from_usize(n)
}

/// `f(a_i, b_i) * g / N` for every element, row-major.
fn grad_of<T: Float>(a: (&[T], &Layout), b: (&[T], &Layout), g: T, f: impl Fn(T, T) -> T) -> Vec<T> {
    let scale = g / T::from_usize(a.1.elem_count());
    a.1.strided_index().zip(b.1.strided_index()).map(|(i, j)| f(a.0[i], b.0[j]) * scale).collect()
}

/// `mean( -(y ln p + (1 - y) ln(1 - p)) )` with each log clamped at -100.
pub fn bce<T: Float>(p: (&[T], &Layout), y: (&[T], &Layout)) -> T {
    let floor = T::from_f64(LOG_FLOOR);
    mean_of(p, y, |p, y| -(y * p.ln().max(floor) + (T::ONE - y) * (T::ONE - p).ln().max(floor)))
}

/// d bce / d p = `(p - y) / max(p (1 - p), 1e-12) * g / N`.
pub fn bce_backward<T: Float>(p: (&[T], &Layout), y: (&[T], &Layout), g: T) -> Vec<T> {
    let eps = T::from_f64(BCE_GRAD_EPS);
    grad_of(p, y, g, |p, y| (p - y) / (p * (T::ONE - p)).max(eps))
}

/// `mean( max(x, 0) - x y + ln(1 + e^-|x|) )`: BCE of `sigmoid(x)`, stable for any `x`.
pub fn bce_with_logits<T: Float>(x: (&[T], &Layout), y: (&[T], &Layout)) -> T {
    mean_of(x, y, |x, y| x.max(T::ZERO) - x * y + (-x.abs()).exp().ln_1p())
}

/// `(sigmoid(x) - y) * g / N`.
pub fn bce_with_logits_backward<T: Float>(x: (&[T], &Layout), y: (&[T], &Layout), g: T) -> Vec<T> {
    grad_of(x, y, g, |x, y| UnaryOp::Sigmoid.apply(x) - y)
}

/// `mean( (a - b)^2 )`.
pub fn mse<T: Float>(a: (&[T], &Layout), b: (&[T], &Layout)) -> T {
    mean_of(a, b, |a, b| (a - b) * (a - b))
}

/// `(2 (a - b) g / N, -2 (a - b) g / N)`.
pub fn mse_backward<T: Float>(a: (&[T], &Layout), b: (&[T], &Layout), g: T) -> (Vec<T>, Vec<T>) {
    let ga = grad_of(a, b, g, |a, b| T::from_f64(2.0) * (a - b));
    let gb = ga.iter().map(|&v| -v).collect();
    (ga, gb)
}

/// Per row of `[N, C]` logits scaled by `1 / temperature`: the log-softmax values.
fn log_softmax_rows<T: Float>(x: &[T], xl: &Layout, inv_t: T) -> Vec<T> {
    let (n, c) = (xl.dims()[0], xl.dims()[1]);
    let mut out = Vec::with_capacity(n * c);
    for r in 0..n {
        let at = row(x, xl, r);
        let scaled = |j: usize| at(j) * inv_t;
        let (m, lse) = log_sum_exp(c, &scaled);
        out.extend((0..c).map(|j| scaled(j) - m - lse));
    }
    out
}

/// Knowledge distillation's loss (Hinton et al. 2015) with PyTorch's `batchmean` semantics:
/// `T^2 / N * sum_n sum_c p_t (ln p_t - ln p_s)`, `p = softmax(logits / T)`, i.e.
/// `F.kl_div(log_softmax(s / T), softmax(t / T), reduction='batchmean') * T * T`. Terms with
/// `p_t = 0` contribute 0 (`xlogy`).
pub fn distill_kl<T: Float>(s: (&[T], &Layout), t: (&[T], &Layout), temperature: T) -> T {
    let n = s.1.dims()[0];
    let (ls, lt) = (log_softmax_rows(s.0, s.1, T::ONE / temperature), log_softmax_rows(t.0, t.1, T::ONE / temperature));
    let total = ls.iter().zip(&lt).fold(T::ZERO, |acc, (&ls, &lt)| {
        let p = lt.exp();
        if p == T::ZERO {
            acc
        } else {
            acc + p * (lt - ls)
        }
    });
    total * temperature * temperature / T::from_usize(n)
}

/// Gradients of [`distill_kl`] times `g`, row-major `[N, C]`: w.r.t. the student logits
/// `T / N * (p_s - p_t)`, w.r.t. the teacher logits `T / N * p_t (a - sum_c p_t a)` with
/// `a = ln p_t - ln p_s`.
pub fn distill_kl_backward<T: Float>(s: (&[T], &Layout), t: (&[T], &Layout), temperature: T, g: T) -> (Vec<T>, Vec<T>) {
    let (n, c) = (s.1.dims()[0], s.1.dims()[1]);
    let (ls, lt) = (log_softmax_rows(s.0, s.1, T::ONE / temperature), log_softmax_rows(t.0, t.1, T::ONE / temperature));
    let scale = g * temperature / T::from_usize(n);
    let (mut gs, mut gt) = (Vec::with_capacity(n * c), Vec::with_capacity(n * c));
    for r in 0..n {
        let (ls, lt) = (&ls[r * c..(r + 1) * c], &lt[r * c..(r + 1) * c]);
        let pt: Vec<T> = lt.iter().map(|v| v.exp()).collect();
        let term = |j: usize| if pt[j] == T::ZERO { T::ZERO } else { lt[j] - ls[j] };
        let kl = (0..c).fold(T::ZERO, |acc, j| acc + pt[j] * term(j));
        gs.extend((0..c).map(|j| (ls[j].exp() - pt[j]) * scale));
        gt.extend((0..c).map(|j| pt[j] * (term(j) - kl) * scale));
    }
    (gs, gt)
}
