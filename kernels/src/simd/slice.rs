//! Slice-level helpers on the SIMD primitives: `axpy`, `axpby`, `dot`, `scale` and `map` (exp / tanh /
//! sigmoid / ...). Each has an `_with(isa, ..)` form that forces a back end and a plain form that
//! uses the default [`isa()`](super::isa). Tails shorter than a vector use masked loads/stores.

use super::{isa, Isa, Simd};
use crate::simd_dispatch;
use std::mem::MaybeUninit;

/// An elementwise function [`map`] can apply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MapFn {
    Exp,
    Tanh,
    Sigmoid,
    Relu,
    /// `x > 0 ? x : slope * x`
    LeakyRelu(f32),
}

impl MapFn {
    /// Applies the function to one vector.
    ///
    /// # Safety
    /// As for [`Simd`]: only inside code compiled for `S`'s target features.
    #[inline(always)]
    pub unsafe fn apply<S: Simd>(self, v: S::V) -> S::V {
        match self {
            MapFn::Exp => S::exp(v),
            MapFn::Tanh => S::tanh(v),
            MapFn::Sigmoid => S::sigmoid(v),
            // max(0, v) returns v when v is NaN (PyTorch propagates NaN); adding +0 turns the -0 it
            // keeps into +0, so every other input gives the bits max(v, 0) gave.
            MapFn::Relu => S::add(S::max(S::zero(), v), S::zero()),
            // max(x, s x) is the leaky ReLU for 0 <= s <= 1.
            MapFn::LeakyRelu(s) if (0.0..=1.0).contains(&s) => S::max(v, S::mul(v, S::splat(s))),
            MapFn::LeakyRelu(s) => {
                let pos = S::add(S::max(S::zero(), v), S::zero());
                let neg = S::min(v, S::zero());
                S::fma(neg, S::splat(s), pos)
            }
        }
    }
}

simd_dispatch! {
    /// `y += alpha * x`.
    fn axpy_raw<S>(alpha: f32, x: &[f32], y: &mut [f32]) {
        let (n, l) = (x.len(), S::LANES);
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        let a = S::splat(alpha);
        let mut i = 0;
        while i + 2 * l <= n {
            let y0 = S::fma(a, S::loadu(xp.add(i)), S::loadu(yp.add(i)));
            let y1 = S::fma(a, S::loadu(xp.add(i + l)), S::loadu(yp.add(i + l)));
            S::storeu(yp.add(i), y0);
            S::storeu(yp.add(i + l), y1);
            i += 2 * l;
        }
        while i + l <= n {
            S::storeu(yp.add(i), S::fma(a, S::loadu(xp.add(i)), S::loadu(yp.add(i))));
            i += l;
        }
        if i < n {
            let r = n - i;
            S::store_tail(yp.add(i), S::fma(a, S::load_tail(xp.add(i), r), S::load_tail(yp.add(i), r)), r);
        }
    }
}

simd_dispatch! {
    /// `y = a * x + b * y`; `b == 0` writes `y` without reading it.
    fn axpby_raw<S>(a: f32, x: &[f32], b: f32, y: &mut [f32]) {
        let (n, l) = (x.len(), S::LANES);
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr());
        let (av, bv) = (S::splat(a), S::splat(b));
        let mut i = 0;
        if b == 0.0 {
            while i + l <= n {
                S::storeu(yp.add(i), S::mul(av, S::loadu(xp.add(i))));
                i += l;
            }
            if i < n {
                S::store_tail(yp.add(i), S::mul(av, S::load_tail(xp.add(i), n - i)), n - i);
            }
        } else {
            while i + l <= n {
                S::storeu(yp.add(i), S::fma(av, S::loadu(xp.add(i)), S::mul(bv, S::loadu(yp.add(i)))));
                i += l;
            }
            if i < n {
                let r = n - i;
                let v = S::fma(av, S::load_tail(xp.add(i), r), S::mul(bv, S::load_tail(yp.add(i), r)));
                S::store_tail(yp.add(i), v, r);
            }
        }
    }
}

simd_dispatch! {
    /// `sum x[i] y[i]` with four independent accumulators (so the FMA latency is hidden).
    fn dot_raw<S>(x: &[f32], y: &[f32]) -> f32 {
        let (n, l) = (x.len(), S::LANES);
        let (xp, yp) = (x.as_ptr(), y.as_ptr());
        let mut acc = [S::zero(); 4];
        let mut i = 0;
        while i + 4 * l <= n {
            for (u, a) in acc.iter_mut().enumerate() {
                *a = S::fma(S::loadu(xp.add(i + u * l)), S::loadu(yp.add(i + u * l)), *a);
            }
            i += 4 * l;
        }
        while i + l <= n {
            acc[0] = S::fma(S::loadu(xp.add(i)), S::loadu(yp.add(i)), acc[0]);
            i += l;
        }
        if i < n {
            acc[1] = S::fma(S::load_tail(xp.add(i), n - i), S::load_tail(yp.add(i), n - i), acc[1]);
        }
        S::hsum(S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3])))
    }
}

simd_dispatch! {
    /// `x *= alpha`.
    fn scale_raw<S>(alpha: f32, x: &mut [f32]) {
        let (n, l) = (x.len(), S::LANES);
        let xp = x.as_mut_ptr();
        let a = S::splat(alpha);
        let mut i = 0;
        while i + l <= n {
            S::storeu(xp.add(i), S::mul(a, S::loadu(xp.add(i))));
            i += l;
        }
        if i < n {
            S::store_tail(xp.add(i), S::mul(a, S::load_tail(xp.add(i), n - i)), n - i);
        }
    }
}

simd_dispatch! {
    /// `y[i] = f(x[i])` into `y`, which need not be initialised (kernels write fresh outputs this
    /// way; [`map_with`] passes an initialised slice). Lengths must match.
    pub fn map_uninit<S>(f: MapFn, x: &[f32], y: &mut [MaybeUninit<f32>]) {
        assert_eq!(x.len(), y.len(), "map: x and y differ in length");
        let (n, l) = (x.len(), S::LANES);
        let (xp, yp) = (x.as_ptr(), y.as_mut_ptr() as *mut f32);
        let mut i = 0;
        while i + l <= n {
            S::storeu(yp.add(i), f.apply::<S>(S::loadu(xp.add(i))));
            i += l;
        }
        if i < n {
            S::store_tail(yp.add(i), f.apply::<S>(S::load_tail(xp.add(i), n - i)), n - i);
        }
    }
}

/// `y += alpha * x` on back end `isa`.
///
/// # Panics
/// If `x` and `y` differ in length.
pub fn axpy_with(isa: Isa, alpha: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: x and y differ in length");
    axpy_raw(isa, alpha, x, y)
}

/// `y += alpha * x` on the default back end.
pub fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    axpy_with(isa(), alpha, x, y)
}

/// `y = a * x + b * y` on back end `isa`; with `b == 0` `y` is only written (NaNs in it vanish).
///
/// # Panics
/// If `x` and `y` differ in length.
pub fn axpby_with(isa: Isa, a: f32, x: &[f32], b: f32, y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpby: x and y differ in length");
    axpby_raw(isa, a, x, b, y)
}

/// `y = a * x + b * y` on the default back end.
pub fn axpby(a: f32, x: &[f32], b: f32, y: &mut [f32]) {
    axpby_with(isa(), a, x, b, y)
}

/// The dot product of `x` and `y` on back end `isa`.
///
/// # Panics
/// If `x` and `y` differ in length.
pub fn dot_with(isa: Isa, x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "dot: x and y differ in length");
    dot_raw(isa, x, y)
}

/// The dot product of `x` and `y` on the default back end.
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    dot_with(isa(), x, y)
}

/// `x *= alpha` on back end `isa`.
pub fn scale_with(isa: Isa, alpha: f32, x: &mut [f32]) {
    scale_raw(isa, alpha, x)
}

/// `x *= alpha` on the default back end.
pub fn scale(alpha: f32, x: &mut [f32]) {
    scale_with(isa(), alpha, x)
}

/// `y[i] = f(x[i])` on back end `isa`.
///
/// # Panics
/// If `x` and `y` differ in length.
pub fn map_with(isa: Isa, f: MapFn, x: &[f32], y: &mut [f32]) {
    // SAFETY: `MaybeUninit<f32>` has f32's layout, and only initialised f32 values are written.
    let y = unsafe { &mut *(y as *mut [f32] as *mut [MaybeUninit<f32>]) };
    map_uninit(isa, f, x, y)
}

/// `y[i] = f(x[i])` on the default back end.
pub fn map(f: MapFn, x: &[f32], y: &mut [f32]) {
    map_with(isa(), f, x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 4.0 - 2.0
            })
            .collect()
    }

    fn supported() -> Vec<Isa> {
        Isa::ALL
            .into_iter()
            .filter(|i| {
                let ok = i.is_supported();
                if !ok {
                    println!("skipping {:?}: this CPU lacks it", i);
                }
                ok
            })
            .collect()
    }

    #[test]
    fn helpers_match_scalar_loops_on_every_path_and_length() {
        for isa in supported() {
            for n in [0, 1, 7, 8, 15, 16, 17, 33, 64, 257] {
                let (x, y0) = (data(n, 1), data(n, 2));
                let mut y = y0.clone();
                axpy_with(isa, 0.5, &x, &mut y);
                for i in 0..n {
                    assert!((y[i] - (y0[i] + 0.5 * x[i])).abs() <= 1e-6, "{isa:?} axpy n={n} i={i}");
                }
                let want: f64 = x.iter().zip(&y0).map(|(a, b)| *a as f64 * *b as f64).sum();
                let got = dot_with(isa, &x, &y0) as f64;
                assert!((got - want).abs() <= 1e-5 * (n as f64 + 1.0), "{isa:?} dot n={n}: {got} vs {want}");
                let mut w = vec![f32::NAN; n];
                axpby_with(isa, 2.0, &x, 0.0, &mut w);
                assert!(w.iter().zip(&x).all(|(a, b)| *a == 2.0 * b), "{isa:?} axpby b=0 n={n}");
                axpby_with(isa, 2.0, &x, -1.0, &mut w);
                assert!(w.iter().zip(&x).all(|(a, b)| *a == 0.0 * b), "{isa:?} axpby n={n}");
                let mut z = x.clone();
                scale_with(isa, -3.0, &mut z);
                assert!(z.iter().zip(&x).all(|(a, b)| *a == -3.0 * b), "{isa:?} scale n={n}");
                let mut r = vec![0.0; n];
                map_with(isa, MapFn::LeakyRelu(0.2), &x, &mut r);
                assert!(r.iter().zip(&x).all(|(a, b)| *a == if *b > 0.0 { *b } else { 0.2 * b }));
                map_with(isa, MapFn::LeakyRelu(-2.0), &x, &mut r);
                assert!(r.iter().zip(&x).all(|(a, b)| *a == if *b > 0.0 { *b } else { -2.0 * b }));
                map_with(isa, MapFn::Relu, &x, &mut r);
                assert!(r.iter().zip(&x).all(|(a, b)| *a == b.max(0.0)));
            }
        }
    }

    #[test]
    fn tails_do_not_touch_memory_past_the_slice() {
        for isa in supported() {
            let x = data(40, 3);
            let mut buf = [7.0f32; 40];
            for n in 0..33 {
                map_with(isa, MapFn::Exp, &x[..n], &mut buf[..n]);
                assert!(buf[n..].iter().all(|v| *v == 7.0), "{isa:?} n={n}");
                buf[..n].fill(7.0);
            }
        }
    }

    /// Max relative (exp) or absolute (tanh, sigmoid) error of `f` over a dense grid and the edges.
    fn max_err(isa: Isa, f: MapFn, lo: f32, hi: f32, truth: fn(f64) -> f64, relative: bool) -> (f64, f32) {
        let n = 200_001;
        let x: Vec<f32> = (0..n).map(|i| lo + (hi - lo) * i as f32 / (n - 1) as f32).collect();
        let mut y = vec![0.0; n];
        map_with(isa, f, &x, &mut y);
        let mut worst = (0.0f64, 0.0f32);
        for (xi, yi) in x.iter().zip(&y) {
            let t = truth(*xi as f64);
            let e = if relative { ((*yi as f64 - t) / t).abs() } else { (*yi as f64 - t).abs() };
            if e > worst.0 {
                worst = (e, *xi);
            }
        }
        worst
    }

    #[test]
    fn approximations_stay_within_their_documented_error() {
        use crate::simd::{EXP_MAX_REL_ERR, SIGMOID_MAX_ABS_ERR, TANH_MAX_ABS_ERR};
        for isa in supported() {
            let (e, at) = max_err(isa, MapFn::Exp, -87.0, 88.0, f64::exp, true);
            println!("{isa:?}: exp max rel err {e:.3e} at {at}");
            assert!(e <= EXP_MAX_REL_ERR as f64, "{isa:?} exp rel err {e:e} at {at}");
            let (e, at) = max_err(isa, MapFn::Exp, -5.0, 5.0, f64::exp, true);
            assert!(e <= EXP_MAX_REL_ERR as f64, "{isa:?} exp rel err {e:e} at {at}");
            let (e, at) = max_err(isa, MapFn::Tanh, -12.0, 12.0, f64::tanh, false);
            println!("{isa:?}: tanh max abs err {e:.3e} at {at}");
            assert!(e <= TANH_MAX_ABS_ERR as f64, "{isa:?} tanh abs err {e:e} at {at}");
            let (e, at) = max_err(isa, MapFn::Tanh, -0.01, 0.01, f64::tanh, true);
            println!("{isa:?}: tanh max rel err near 0 {e:.3e} at {at}");
            assert!(e <= 4e-7, "{isa:?} tanh rel err near 0 {e:e} at {at}");
            let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
            let (e, at) = max_err(isa, MapFn::Sigmoid, -30.0, 30.0, sig, false);
            println!("{isa:?}: sigmoid max abs err {e:.3e} at {at}");
            assert!(e <= SIGMOID_MAX_ABS_ERR as f64, "{isa:?} sigmoid abs err {e:e} at {at}");
        }
    }

    #[test]
    fn approximations_handle_the_edges() {
        for isa in supported() {
            let x = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -200.0, 200.0, 0.0, -0.0, 89.0, -88.0];
            let mut y = [0.0f32; 9];
            map_with(isa, MapFn::Exp, &x, &mut y);
            assert!(y[0].is_nan(), "{isa:?} exp(NaN) = {}", y[0]);
            assert_eq!(&y[1..], &[f32::INFINITY, 0.0, 0.0, f32::INFINITY, 1.0, 1.0, f32::INFINITY, 0.0], "{isa:?}");
            map_with(isa, MapFn::Tanh, &x, &mut y);
            assert!(y[0].is_nan());
            assert_eq!(&y[1..7], &[1.0, -1.0, -1.0, 1.0, 0.0, 0.0], "{isa:?}");
            map_with(isa, MapFn::Sigmoid, &x, &mut y);
            assert!(y[0].is_nan());
            assert_eq!(&y[1..7], &[1.0, 0.0, 0.0, 1.0, 0.5, 0.5], "{isa:?}");
        }
    }
}
