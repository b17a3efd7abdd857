//! Scalar back end: one f32 per "vector", plain Rust, builds on every target. Its `fma` is an
//! unfused `a * b + c` (a fused `mul_add` is a slow library call on CPUs without FMA).

use super::Simd;

/// The portable back end (`Isa::Scalar`).
#[derive(Debug, Clone, Copy)]
pub struct Scalar;

impl Simd for Scalar {
    type V = f32;
    const LANES: usize = 1;

    #[inline(always)]
    unsafe fn zero() -> f32 {
        0.0
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        *p
    }
    #[inline(always)]
    unsafe fn loadu(p: *const f32) -> f32 {
        *p
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: f32) {
        *p = v
    }
    #[inline(always)]
    unsafe fn storeu(p: *mut f32, v: f32) {
        *p = v
    }
    #[inline(always)]
    unsafe fn load_tail(_p: *const f32, _n: usize) -> f32 {
        0.0 // n < LANES = 1, so n == 0
    }
    #[inline(always)]
    unsafe fn store_tail(_p: *mut f32, _v: f32, _n: usize) {}
    #[inline(always)]
    unsafe fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    unsafe fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    unsafe fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    unsafe fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    unsafe fn fma(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    unsafe fn max(a: f32, b: f32) -> f32 {
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn min(a: f32, b: f32) -> f32 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn prefetch(_p: *const f32) {}
    #[inline(always)]
    unsafe fn select_lt(a: f32, b: f32, x: f32, y: f32) -> f32 {
        if a < b {
            x
        } else {
            y
        }
    }
    #[inline(always)]
    unsafe fn hsum(v: f32) -> f32 {
        v
    }
    #[inline(always)]
    unsafe fn round(v: f32) -> f32 {
        v.round_ties_even()
    }
    #[inline(always)]
    unsafe fn exp2i(n: f32) -> f32 {
        // NaN casts to 0, which is harmless: the polynomial it multiplies is NaN too.
        f32::from_bits((((n as i32) + 127) as u32) << 23)
    }
}
