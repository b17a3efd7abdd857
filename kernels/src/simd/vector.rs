//! The `Simd` trait: the vector primitives every CPU kernel is written in, plus exp / tanh / sigmoid
//! approximations built from them once (so every back end computes the same polynomial).

/// Largest relative error of [`Simd::exp`] against `f64::exp` measured by the tests on
/// `[-87, 88]` (measured 1.17e-7, i.e. about 1 ulp, on every back end). Outside that range see
/// [`Simd::exp`].
pub const EXP_MAX_REL_ERR: f32 = 1.5e-7;
/// Largest absolute error of [`Simd::tanh`] against `f64::tanh` over `[-12, 12]` (measured 9.2e-8);
/// the relative error on `[-0.01, 0.01]` is at most 2.9e-7.
pub const TANH_MAX_ABS_ERR: f32 = 1.2e-7;
/// Largest absolute error of [`Simd::sigmoid`] against the f64 formula over `[-30, 30]` (measured
/// 8.8e-8).
pub const SIGMOID_MAX_ABS_ERR: f32 = 1.2e-7;

/// One back end's f32 vector: `LANES` lanes of `V`.
///
/// # Safety
/// Every method may execute instructions of the back end's instruction set: call them only from
/// code compiled with those target features (see [`crate::simd_dispatch!`]) on a CPU that has them.
/// Pointer arguments follow `std::ptr::read_unaligned` rules; `load`/`store` also need alignment to
/// `4 * LANES` bytes.
#[allow(clippy::missing_safety_doc)] // one contract for every method, stated above
pub trait Simd: Copy + 'static {
    /// The vector register type.
    type V: Copy;
    /// f32 lanes in `V`.
    const LANES: usize;

    unsafe fn zero() -> Self::V;
    unsafe fn splat(x: f32) -> Self::V;
    /// Aligned load of `LANES` values.
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn loadu(p: *const f32) -> Self::V;
    /// Aligned store of `LANES` values.
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn storeu(p: *mut f32, v: Self::V);
    /// Loads the first `n < LANES` values, the other lanes zero; reads nothing past `p + n`.
    unsafe fn load_tail(p: *const f32, n: usize) -> Self::V;
    /// Stores the first `n < LANES` lanes; writes nothing past `p + n`.
    unsafe fn store_tail(p: *mut f32, v: Self::V, n: usize);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused (one rounding) on the SIMD back ends; two roundings on `Scalar`.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// x86 `maxps` semantics: `a > b ? a : b`, so a NaN in either returns `b`.
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// x86 `minps` semantics: `a < b ? a : b`, so a NaN in either returns `b`.
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// Hints the cache line holding `p` into L2 (`prefetcht1`; never faults, a no-op on `Scalar`).
    /// L2 rather than L1: lines at large power-of-two strides (a C tile's rows) share few L1 sets and
    /// would evict each other before use.
    unsafe fn prefetch(p: *const f32);
    /// Per lane `a < b ? x : y` (false when either is NaN).
    unsafe fn select_lt(a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
    /// Sum of all lanes.
    unsafe fn hsum(v: Self::V) -> f32;
    /// Round to the nearest integer, ties to even.
    unsafe fn round(v: Self::V) -> Self::V;
    /// `2^n` for lanes holding integers `n` in `[-127, 128]`: `-127` gives 0 and `128` gives +inf.
    unsafe fn exp2i(n: Self::V) -> Self::V;

    /// `e^x` by Cephes' `expf` scheme: `x = n ln2 + r` with `|r| <= ln2/2` (ln2 split in two for an
    /// exact reduction), a degree-7 polynomial for `e^r`, then `* 2^n`. Relative error at most
    /// [`EXP_MAX_REL_ERR`] where the result is a normal f32 (`x` in about `[-87.3, 88.3]`); below
    /// that the result flushes to 0 (by `x <= -87.7`), and `x >= 88.38` gives +inf (the true overflow
    /// is at 88.72). NaN stays NaN.
    #[inline(always)]
    unsafe fn exp(x: Self::V) -> Self::V {
        // max/min with the constant first so a NaN `x` is what comes out (see `max`).
        let x = Self::min(Self::splat(89.0), Self::max(Self::splat(-88.0), x));
        let n = Self::round(Self::mul(x, Self::splat(std::f32::consts::LOG2_E)));
        let r = Self::fma(n, Self::splat(-0.693_359_4), x);
        let r = Self::fma(n, Self::splat(2.121_944_4e-4), r);
        let mut p = Self::splat(1.987_569_1e-4);
        p = Self::fma(p, r, Self::splat(1.398_199_9e-3));
        p = Self::fma(p, r, Self::splat(8.333_452e-3));
        p = Self::fma(p, r, Self::splat(4.166_579_6e-2));
        p = Self::fma(p, r, Self::splat(1.666_666_5e-1));
        p = Self::fma(p, r, Self::splat(0.5)); // Cephes' 5.0000001201e-1 rounds to 0.5 in f32
        let r2 = Self::mul(r, r);
        p = Self::fma(p, r2, Self::add(r, Self::splat(1.0)));
        Self::mul(p, Self::exp2i(n))
    }

    /// `tanh(x)`: for `|x| < 0.625` Eigen's 13/6-degree rational `x P(x^2) / Q(x^2)` (accurate in
    /// relative terms near 0, where `tanh x ~ x`), above it `1 - 2 / (e^(2|x|) + 1)` with the sign of
    /// `x` (the rational evaluated in f32 loses ~4 ulp near ±1 and stops short of 1). Absolute error
    /// at most [`TANH_MAX_ABS_ERR`], relative error near 0 about 1 ulp; exactly ±1 far out, odd,
    /// NaN stays NaN.
    #[inline(always)]
    #[allow(clippy::excessive_precision)] // Eigen's coefficients as published
    unsafe fn tanh(x: Self::V) -> Self::V {
        let ax = Self::max(x, Self::sub(Self::zero(), x));
        let one = Self::splat(1.0);
        // Large |x|: clamp so e^(2|x|) stays finite (from 10 on the formula rounds to exactly 1).
        let e = Self::exp(Self::add(Self::min(Self::splat(10.0), ax), Self::min(Self::splat(10.0), ax)));
        let big = Self::sub(one, Self::div(Self::splat(2.0), Self::add(e, one)));
        let big = Self::select_lt(x, Self::zero(), Self::sub(Self::zero(), big), big);
        // Small |x|: the rational, on x clamped so wild inputs cannot overflow x^12 in lanes not kept.
        let xs = Self::min(one, Self::max(Self::splat(-1.0), x));
        let x2 = Self::mul(xs, xs);
        let mut p = Self::splat(-2.76076847742355e-16);
        p = Self::fma(p, x2, Self::splat(2.00018790482477e-13));
        p = Self::fma(p, x2, Self::splat(-8.60467152213735e-11));
        p = Self::fma(p, x2, Self::splat(5.12229709037114e-08));
        p = Self::fma(p, x2, Self::splat(1.48572235717979e-05));
        p = Self::fma(p, x2, Self::splat(6.37261928875436e-04));
        p = Self::fma(p, x2, Self::splat(4.89352455891786e-03));
        let mut q = Self::splat(1.19825839466702e-06);
        q = Self::fma(q, x2, Self::splat(1.18534705686654e-04));
        q = Self::fma(q, x2, Self::splat(2.26843463243900e-03));
        q = Self::fma(q, x2, Self::splat(4.89352518554385e-03));
        let small = Self::div(Self::mul(xs, p), q);
        Self::select_lt(ax, Self::splat(0.625), small, big)
    }

    /// `1 / (1 + e^-x)` with [`Simd::exp`]; absolute error at most [`SIGMOID_MAX_ABS_ERR`], exactly
    /// 0 and 1 far out, NaN stays NaN.
    #[inline(always)]
    unsafe fn sigmoid(x: Self::V) -> Self::V {
        let one = Self::splat(1.0);
        let e = Self::exp(Self::sub(Self::zero(), x));
        Self::div(one, Self::add(one, e))
    }
}
