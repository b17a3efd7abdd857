//! Fast CPU elementwise kernels: unary maps, binary ops and their backward maps over contiguous
//! operands, or one contiguous operand beside a broadcast row (`[B, N] + [N]`), column
//! (`[B, N] + [B, 1]`) or scalar, read in place (never materialised). Each op is matched once, outside
//! its loop, so the loop is monomorphic and the compiler vectorises it inside `vectorized`
//! (compiled for AVX-512 / AVX2); outputs are written straight into fresh, uninitialised vectors;
//! rayon splits the work only above a measured size. Any other layout returns `None` and the caller
//! runs `reference.rs`. Results equal the reference bit for bit, except f32 exp / tanh / sigmoid,
//! which use the SIMD layer's approximations (max relative error ~1.5e-7, a few ulps).
//! The helpers every family's `cpu.rs` shares live in `crate::cpu_common`. Must not: change what
//! an op computes, or read a layout it has not classified.

use super::{BinaryOp, UnaryOp};
use crate::cpu_common::{as_f32, as_f32_out};
pub(crate) use crate::cpu_common::{build, build2, PAR_MIN_CHEAP, PAR_MIN_COSTLY};
pub(crate) use crate::simd::map_uninit;
use crate::simd::{self, vectorized, MapFn};
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// How a layout broadcast to the output shape reads its storage, in output order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pattern {
    /// Element `i` at `offset + i`.
    Dense(usize),
    /// A contiguous row of `inner` elements repeated: element `i` at `offset + i % inner`.
    Row { offset: usize, inner: usize },
    /// Each element repeated over a row of `inner`: element `i` at `offset + i / inner`. A scalar is
    /// the case `inner = n`.
    Col { offset: usize, inner: usize },
}

/// Whether `dims`/`strides` are row-major contiguous (dims of size 1 may have any stride).
fn dense(dims: &[usize], strides: &[usize]) -> bool {
    let mut expected = 1;
    for (&d, &s) in dims.iter().zip(strides).rev() {
        if d != 1 && s != expected {
            return false;
        }
        expected *= d;
    }
    true
}

/// The pattern of `l`, or `None` for layouts the fast paths do not cover (transposed, sliced in
/// the middle, broadcast in the middle, ...).
pub(crate) fn classify(l: &Layout) -> Option<Pattern> {
    let (dims, strides, offset) = (l.dims(), l.strides(), l.offset());
    if l.is_contiguous() {
        return Some(Pattern::Dense(offset));
    }
    let bcast = |d: usize| strides[d] == 0 || dims[d] == 1;
    let k = l.rank() - (0..l.rank()).rev().take_while(|&d| bcast(d)).count();
    if dense(&dims[..k], &strides[..k]) {
        return Some(Pattern::Col { offset, inner: dims[k..].iter().product() });
    }
    let k = (0..l.rank()).take_while(|&d| bcast(d)).count();
    if dense(&dims[k..], &strides[k..]) {
        return Some(Pattern::Row { offset, inner: dims[k..].iter().product() });
    }
    None
}

/// The operand read by one segment of output: a slice as long as the segment, or one value.
#[derive(Clone, Copy)]
pub(crate) enum Seg<'a, T> {
    Slice(&'a [T]),
    Splat(T),
}

/// Cuts output elements `start..start + len` into runs over which `b` (read through `p`) is one
/// contiguous slice or one value, calling `f(pos, len, seg)` with `pos` relative to `start`.
#[inline(always)]
pub(crate) fn segments<'a, T: Copy>(
    b: &'a [T],
    p: Pattern,
    start: usize,
    len: usize,
    mut f: impl FnMut(usize, usize, Seg<'a, T>),
) {
    let mut pos = 0;
    while pos < len {
        let i = start + pos;
        let (take, seg) = match p {
            Pattern::Dense(o) => (len, Seg::Slice(&b[o + start..o + start + len])),
            Pattern::Row { offset, inner } => {
                let take = (inner - i % inner).min(len - pos);
                (take, Seg::Slice(&b[offset + i % inner..][..take]))
            }
            Pattern::Col { offset, inner } => ((inner - i % inner).min(len - pos), Seg::Splat(b[offset + i / inner])),
        };
        f(pos, take, seg);
        pos += take;
    }
}

#[inline(always)]
pub(crate) fn map1<T: Copy>(x: &[T], out: &mut [MaybeUninit<T>], f: impl Fn(T) -> T) {
    assert_eq!(x.len(), out.len());
    for (o, &v) in out.iter_mut().zip(x) {
        o.write(f(v));
    }
}

/// `out[i] = f(a[i], b[i])` with `b` a slice or one value.
#[inline(always)]
pub(crate) fn map2<T: Copy>(a: &[T], b: Seg<'_, T>, out: &mut [MaybeUninit<T>], f: impl Fn(T, T) -> T) {
    assert_eq!(a.len(), out.len());
    match b {
        Seg::Slice(b) => {
            assert_eq!(b.len(), out.len());
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                o.write(f(x, y));
            }
        }
        Seg::Splat(y) => {
            for (o, &x) in out.iter_mut().zip(a) {
                o.write(f(x, y));
            }
        }
    }
}

/// `(ga[i], gb[i]) = g[i] * f(a[i], b[i])` where `f` gives both partials, `b` a slice or one value.
#[inline(always)]
pub(crate) fn grad2<T: Float>(
    g: &[T],
    a: &[T],
    b: Seg<'_, T>,
    ga: &mut [MaybeUninit<T>],
    gb: &mut [MaybeUninit<T>],
    f: impl Fn(T, T) -> (T, T),
) {
    assert!(a.len() == g.len() && ga.len() == g.len() && gb.len() == g.len());
    let outs = ga.iter_mut().zip(gb.iter_mut()).zip(g.iter().zip(a));
    match b {
        Seg::Slice(b) => {
            assert_eq!(b.len(), g.len());
            for (((oa, ob), (&gv, &x)), &y) in outs.zip(b) {
                let (pa, pb) = f(x, y);
                oa.write(gv * pa);
                ob.write(gv * pb);
            }
        }
        Seg::Splat(y) => {
            for ((oa, ob), (&gv, &x)) in outs {
                let (pa, pb) = f(x, y);
                oa.write(gv * pa);
                ob.write(gv * pb);
            }
        }
    }
}

fn costly_unary(op: UnaryOp) -> bool {
    matches!(op, UnaryOp::Exp | UnaryOp::Log | UnaryOp::Sigmoid | UnaryOp::Tanh | UnaryOp::PowScalar(_))
}

/// The SIMD layer's f32 map for `op`, where it has one (exp, tanh, sigmoid).
pub(crate) fn simd_map_fn(op: UnaryOp) -> Option<MapFn> {
    match op {
        UnaryOp::Exp => Some(MapFn::Exp),
        UnaryOp::Tanh => Some(MapFn::Tanh),
        UnaryOp::Sigmoid => Some(MapFn::Sigmoid),
        _ => None,
    }
}

/// Whether `n` elements of `op` split over rayon.
pub(crate) fn unary_parallel(op: UnaryOp, n: usize) -> bool {
    n >= if costly_unary(op) { PAR_MIN_COSTLY } else { PAR_MIN_CHEAP }
}

/// Whether `n` elements of `op`'s backward map split over rayon.
pub(crate) fn unary_backward_parallel(op: UnaryOp, n: usize) -> bool {
    n >= if matches!(op, UnaryOp::PowScalar(_) | UnaryOp::Log) { PAR_MIN_COSTLY } else { PAR_MIN_CHEAP }
}

/// Whether `n` elements of binary `op` (or its backward) split over rayon.
pub(crate) fn binary_parallel(op: BinaryOp, n: usize) -> bool {
    n >= if op == BinaryOp::Pow { PAR_MIN_COSTLY } else { PAR_MIN_CHEAP }
}

/// Expands `$run!(closure)` once per unary op, the op a constant inside the closure (so each loop
/// is monomorphic); `$args` are the closure's parameters, passed to `apply` or `derivative`.
macro_rules! per_unary_op {
    ($op:expr, $run:ident, $method:ident($($arg:ident),+)) => {
        match $op {
            UnaryOp::Neg => $run!(|$($arg: T),+| UnaryOp::Neg.$method($($arg),+)),
            UnaryOp::Exp => $run!(|$($arg: T),+| UnaryOp::Exp.$method($($arg),+)),
            UnaryOp::Log => $run!(|$($arg: T),+| UnaryOp::Log.$method($($arg),+)),
            UnaryOp::Sqrt => $run!(|$($arg: T),+| UnaryOp::Sqrt.$method($($arg),+)),
            UnaryOp::Abs => $run!(|$($arg: T),+| UnaryOp::Abs.$method($($arg),+)),
            UnaryOp::Relu => $run!(|$($arg: T),+| UnaryOp::Relu.$method($($arg),+)),
            UnaryOp::LeakyRelu(s) => $run!(move |$($arg: T),+| UnaryOp::LeakyRelu(s).$method($($arg),+)),
            UnaryOp::Sigmoid => $run!(|$($arg: T),+| UnaryOp::Sigmoid.$method($($arg),+)),
            UnaryOp::Tanh => $run!(|$($arg: T),+| UnaryOp::Tanh.$method($($arg),+)),
            UnaryOp::Affine { mul, add } => $run!(move |$($arg: T),+| UnaryOp::Affine { mul, add }.$method($($arg),+)),
            UnaryOp::PowScalar(e) => $run!(move |$($arg: T),+| UnaryOp::PowScalar(e).$method($($arg),+)),
        }
    };
}
pub(crate) use per_unary_op;

/// `op(x)` for a contiguous `x`; `None` for other layouts.
pub fn unary<T: Float>(op: UnaryOp, x: &[T], xl: &Layout) -> Option<Vec<T>> {
    let x = &x[xl.contiguous_range()?];
    let n = x.len();
    if let (Some(f), Some(xf)) = (simd_map_fn(op), as_f32(x)) {
        return Some(build(n, 1, n >= PAR_MIN_COSTLY, |s, out: &mut [MaybeUninit<T>]| {
            let out = as_f32_out(out).expect("T is f32");
            map_uninit(simd::isa(), f, &xf[s..s + out.len()], out)
        }));
    }
    let parallel = unary_parallel(op, n);
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            build(n, 1, parallel, |s, out| {
                vectorized(
                    #[inline(always)]
                    || map1(&x[s..s + out.len()], out, f),
                )
            })
        }};
    }
    Some(per_unary_op!(op, run, apply(v)))
}

/// `grad * f'(x, y)` for contiguous `x`, `y = f(x)` and `grad`; `None` for other layouts.
pub fn unary_backward<T: Float>(
    op: UnaryOp,
    x: (&[T], &Layout),
    y: (&[T], &Layout),
    g: (&[T], &Layout),
) -> Option<Vec<T>> {
    let (x, y, g) = (&x.0[x.1.contiguous_range()?], &y.0[y.1.contiguous_range()?], &g.0[g.1.contiguous_range()?]);
    let n = g.len();
    assert!(x.len() == n && y.len() == n, "unary_backward: operands differ in length");
    let parallel = unary_backward_parallel(op, n);
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            build(n, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let e = s + out.len();
                        for (((o, &xv), &yv), &gv) in out.iter_mut().zip(&x[s..e]).zip(&y[s..e]).zip(&g[s..e]) {
                            o.write(gv * f(xv, yv));
                        }
                    },
                )
            })
        }};
    }
    Some(per_unary_op!(op, run, derivative(a, b)))
}

/// Expands `$run!(closure)` once per binary op with the op a constant inside the closure.
macro_rules! per_binary_op {
    ($op:expr, $run:ident, $method:ident) => {
        match $op {
            BinaryOp::Add => $run!(|a: T, b: T| BinaryOp::Add.$method(a, b)),
            BinaryOp::Sub => $run!(|a: T, b: T| BinaryOp::Sub.$method(a, b)),
            BinaryOp::Mul => $run!(|a: T, b: T| BinaryOp::Mul.$method(a, b)),
            BinaryOp::Div => $run!(|a: T, b: T| BinaryOp::Div.$method(a, b)),
            BinaryOp::Pow => $run!(|a: T, b: T| BinaryOp::Pow.$method(a, b)),
            BinaryOp::Maximum => $run!(|a: T, b: T| BinaryOp::Maximum.$method(a, b)),
            BinaryOp::Minimum => $run!(|a: T, b: T| BinaryOp::Minimum.$method(a, b)),
        }
    };
}
pub(crate) use per_binary_op;

/// The dense operand (as the output-sized slice), the other operand with its pattern, and whether
/// they were swapped (the dense one is `b`). `None` unless at least one side is dense.
#[allow(clippy::type_complexity)]
fn dense_first<'a, T>(
    n: usize,
    a: (&'a [T], &Layout),
    b: (&'a [T], &Layout),
) -> Option<(&'a [T], &'a [T], Pattern, bool)> {
    match (classify(a.1)?, classify(b.1)?) {
        (Pattern::Dense(o), p) => Some((&a.0[o..o + n], b.0, p, false)),
        (p, Pattern::Dense(o)) => Some((&b.0[o..o + n], a.0, p, true)),
        _ => None,
    }
}

/// `op(a, b)` with both layouts already broadcast to the output shape; `None` unless one operand is
/// contiguous and the other contiguous, a broadcast row or column, or a scalar.
pub fn binary<T: Float>(op: BinaryOp, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Option<Vec<T>> {
    let n = al.elem_count();
    let (d, o, p, swap) = dense_first(n, (a, al), (b, bl))?;
    let parallel = binary_parallel(op, n);
    macro_rules! fill {
        ($f:expr) => {
            build(n, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let n = out.len();
                        // The callback must inline too, or its loop is compiled without AVX.
                        segments(
                            o,
                            p,
                            s,
                            n,
                            #[inline(always)]
                            |pos, len, b| map2(&d[s + pos..][..len], b, &mut out[pos..pos + len], $f),
                        )
                    },
                )
            })
        };
    }
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            if swap {
                fill!(move |x, y| f(y, x))
            } else {
                fill!(f)
            }
        }};
    }
    Some(per_binary_op!(op, run, apply))
}

/// Gradients w.r.t. `a` and `b` at the output shape; `None` unless `g` is contiguous and `a`, `b`
/// form a pattern [`binary`] covers.
pub fn binary_backward<T: Float>(
    op: BinaryOp,
    a: (&[T], &Layout),
    b: (&[T], &Layout),
    g: (&[T], &Layout),
) -> Option<(Vec<T>, Vec<T>)> {
    let g = &g.0[g.1.contiguous_range()?];
    let n = g.len();
    let (d, o, p, swap) = dense_first(n, a, b)?;
    let parallel = binary_parallel(op, n);
    // `f(dense, other)` gives (d/d dense, d/d other); the outputs are swapped back at the end.
    macro_rules! fill {
        ($f:expr) => {
            build2(n, 1, parallel, |s, gd: &mut [MaybeUninit<T>], go: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let n = gd.len();
                        segments(
                            o,
                            p,
                            s,
                            n,
                            #[inline(always)]
                            |pos, len, b| {
                                let (gs, ds) = (&g[s + pos..][..len], &d[s + pos..][..len]);
                                grad2(gs, ds, b, &mut gd[pos..pos + len], &mut go[pos..pos + len], $f)
                            },
                        )
                    },
                )
            })
        };
    }
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            if swap {
                let (gb, ga) = fill!(move |x, y| {
                    let (pa, pb) = f(y, x);
                    (pb, pa)
                });
                (ga, gb)
            } else {
                fill!(f)
            }
        }};
    }
    Some(per_binary_op!(op, run, partials))
}
