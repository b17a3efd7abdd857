//! The one closeness check of kiln's tests: [`assert_close`] compares two sets of values (tensors
//! on any device, or slices of any float dtype) element by element against a [`Tol`] and, on
//! failure, reports the worst element and how many are outside the tolerance. Used by the tests
//! of every crate; must not be used to decide anything outside a test.

use crate::{Element, Tensor};

/// Allowed error `rel * |want| + abs`. A plain `f64` `t` means `rel = abs = t` (relative above 1,
/// absolute near 0); `Tol::rel(r).abs(a)` sets both (a tiny `abs` keeps small values relative).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tol {
    pub rel: f64,
    pub abs: f64,
}

impl Tol {
    pub fn rel(rel: f64) -> Tol {
        Tol { rel, abs: 0.0 }
    }

    pub fn abs(self, abs: f64) -> Tol {
        Tol { abs, ..self }
    }

    /// What `want` may differ by.
    pub fn allowed(&self, want: f64) -> f64 {
        self.rel * want.abs() + self.abs
    }
}

impl From<f64> for Tol {
    fn from(t: f64) -> Tol {
        Tol { rel: t, abs: t }
    }
}

impl From<f32> for Tol {
    fn from(t: f32) -> Tol {
        Tol::from(t as f64)
    }
}

/// Values [`assert_close`] can compare: read as f64 in logical (row-major) order.
pub trait CloseValues {
    fn close_values(&self) -> Vec<f64>;
    /// The dims, where there are any to compare (tensors); slices have none.
    fn close_dims(&self) -> Option<Vec<usize>> {
        None
    }
}

impl CloseValues for Tensor {
    fn close_values(&self) -> Vec<f64> {
        self.to_vec_f64().expect("assert_close: the values of a tensor")
    }
    fn close_dims(&self) -> Option<Vec<usize>> {
        Some(self.dims().to_vec())
    }
}

impl<T: Element> CloseValues for [T] {
    fn close_values(&self) -> Vec<f64> {
        self.iter().map(|v| v.to_f64()).collect()
    }
}

impl<T: Element> CloseValues for Vec<T> {
    fn close_values(&self) -> Vec<f64> {
        self.as_slice().close_values()
    }
}

impl<T: Element, const N: usize> CloseValues for [T; N] {
    fn close_values(&self) -> Vec<f64> {
        self.as_slice().close_values()
    }
}

/// Whether `got` is within `tol` of `want`: equal, or `|got - want| <= tol.allowed(want)`; NaN
/// only against NaN, an infinity only against the same infinity.
pub fn is_close(got: f64, want: f64, tol: impl Into<Tol>) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    got == want || (got - want).abs() <= tol.into().allowed(want)
}

/// Panics unless `got` and `want` have the same dims (where both have dims) and length, and every
/// element is [`is_close`]. The message names `what`, the worst element (index, both values, the
/// error relative to what was allowed) and the count of elements outside the tolerance.
#[track_caller]
pub fn assert_close<G, W>(what: &str, got: &G, want: &W, tol: impl Into<Tol>)
where
    G: CloseValues + ?Sized,
    W: CloseValues + ?Sized,
{
    let tol = tol.into();
    if let (Some(g), Some(w)) = (got.close_dims(), want.close_dims()) {
        assert_eq!(g, w, "{what}: dims");
    }
    let (g, w) = (got.close_values(), want.close_values());
    assert_eq!(g.len(), w.len(), "{what}: lengths");
    let mut bad = 0;
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&a, &b)) in g.iter().zip(&w).enumerate() {
        if !is_close(a, b, tol) {
            bad += 1;
            // How many times the allowed error it is (infinite for a NaN or infinity mismatch).
            let ratio = (a - b).abs() / tol.allowed(b);
            let ratio = if ratio.is_nan() { f64::INFINITY } else { ratio };
            if worst.is_none_or(|(_, r)| ratio > r) {
                worst = Some((i, ratio));
            }
        }
    }
    if let Some((i, ratio)) = worst {
        panic!(
            "{what}: {bad} of {} elements differ by more than {tol:?}; worst is element {i}: got {}, want {} \
             ({ratio:.3e} times the allowed error)",
            g.len(),
            g[i],
            w[i]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_worst_element_and_the_count() {
        assert_close("same", &[1.0f64, f64::NAN, f64::INFINITY], &vec![1.0, f64::NAN, f64::INFINITY], 0.0);
        assert_close("near zero is absolute", &[1e-9f32], &[0.0f32], 1e-8);
        assert!(!is_close(1e-30, 2e-30, Tol::rel(1e-3).abs(1e-38)), "small values stay relative");
        let msg = std::panic::catch_unwind(|| {
            assert_close("x", &[1.0, 2.5, 3.0, f64::NAN], &[1.0, 2.0, 3.1, 4.0], 0.01);
        })
        .unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("3 of 4") && msg.contains("element 3: got NaN, want 4"), "{msg}");
        let t = Tensor::from_vec(vec![1.0f32, 2.0], [2]).unwrap();
        let u = Tensor::from_vec(vec![1.0f32, 2.0], [1, 2]).unwrap();
        assert!(std::panic::catch_unwind(|| assert_close("dims", &t, &u, 1.0)).is_err());
        assert_close("tensor vs slice", &t, &[1.0f32, 2.0], 0.0);
    }
}
