//! Fast CPU elementwise kernels over any layout, for what `cpu.rs`'s patterns do not cover
//! (transposed, narrowed, broadcast over a middle axis as BatchNorm's `[1, C, 1, 1]` against
//! `[N, C, H, W]`, both operands broadcast): the output walk is split into an outer odometer over
//! the dimensions the operands cannot merge and an inner run over the last merged one, where each
//! operand is a contiguous slice (stride 1), one value (stride 0), or a strided run gathered into a
//! stack buffer. The inner loops are `cpu.rs`'s, inlined into `vectorized`; rayon splits the output
//! above the same sizes as there. Every element is computed by the same formula as the reference,
//! so results equal it bit for bit (f32 exp / tanh / sigmoid use the SIMD approximations as in
//! `cpu.rs`). Must not: reorder or combine the math of an element, or be tried before `cpu.rs`
//! (whose results published runs reproduce).

use super::cpu::{
    binary_parallel, grad2, map1, map2, per_binary_op, per_unary_op, simd_map_fn, unary_backward_parallel,
    unary_parallel, Seg,
};
use super::{BinaryOp, UnaryOp};
use crate::cpu_common::{as_f32, as_f32_out, build, build2};
use crate::simd;
use crate::simd::vectorized;
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// The longest inner piece handled at once (the size of the gather buffers: 8 KB of f64 each).
const PIECE: usize = 1024;

/// The walk of one output shape shared by `K` operand layouts: merged dims (outer ones, then the
/// inner run) with each operand's strides and offset.
pub(crate) struct Walk<const K: usize> {
    outer: Vec<usize>,
    outer_strides: [Vec<usize>; K],
    inner: usize,
    inner_strides: [usize; K],
    base: [usize; K],
}

/// Where the walk stands at the start of an output row: its outer index and each operand's offset.
struct Cursor<const K: usize> {
    index: Vec<usize>,
    offsets: [usize; K],
}

impl<const K: usize> Walk<K> {
    /// All layouts must have one shape with at least one element.
    pub(crate) fn new(layouts: [&Layout; K]) -> Walk<K> {
        let dims = layouts[0].dims();
        let (mut merged, mut strides) = (Vec::new(), std::array::from_fn::<Vec<usize>, K, _>(|_| Vec::new()));
        // Innermost first: a dim joins the group inside it when every operand steps over the
        // whole group with its stride (so stride-0 broadcast dims merge with each other too).
        for d in (0..dims.len()).rev() {
            if dims[d] == 1 {
                continue;
            }
            let joins = merged.last().is_some_and(|&n: &usize| {
                (0..K).all(|k| layouts[k].strides()[d] == strides[k].last().expect("same length") * n)
            });
            if joins {
                *merged.last_mut().expect("non-empty") *= dims[d];
            } else {
                merged.push(dims[d]);
                (0..K).for_each(|k| strides[k].push(layouts[k].strides()[d]));
            }
        }
        let inner = merged.first().copied().unwrap_or(1);
        let inner_strides = std::array::from_fn(|k| strides[k].first().copied().unwrap_or(1));
        let outer = merged.iter().skip(1).rev().copied().collect();
        let outer_strides = std::array::from_fn(|k| strides[k].iter().skip(1).rev().copied().collect());
        Walk { outer, outer_strides, inner, inner_strides, base: std::array::from_fn(|k| layouts[k].offset()) }
    }

    fn seek(&self, mut row: usize) -> Cursor<K> {
        let mut index = vec![0; self.outer.len()];
        let mut offsets = self.base;
        for d in (0..self.outer.len()).rev() {
            index[d] = row % self.outer[d];
            row /= self.outer[d];
            (0..K).for_each(|k| offsets[k] += index[d] * self.outer_strides[k][d]);
        }
        Cursor { index, offsets }
    }

    fn advance(&self, c: &mut Cursor<K>) {
        for d in (0..self.outer.len()).rev() {
            c.index[d] += 1;
            (0..K).for_each(|k| c.offsets[k] += self.outer_strides[k][d]);
            if c.index[d] < self.outer[d] {
                return;
            }
            (0..K).for_each(|k| c.offsets[k] -= self.outer_strides[k][d] * self.outer[d]);
            c.index[d] = 0;
        }
    }

    /// Calls `f(pos, len, offsets)` for pieces of output elements `start..start + len` that stay in
    /// one row and are at most [`PIECE`] long; `pos` is relative to `start`, `offsets` are each
    /// operand's storage index of the piece's first element.
    #[inline(always)]
    fn pieces(&self, start: usize, len: usize, mut f: impl FnMut(usize, usize, [usize; K])) {
        let (row, mut col) = (start / self.inner, start % self.inner);
        let mut cur = self.seek(row);
        let mut pos = 0;
        while pos < len {
            let take = (self.inner - col).min(len - pos).min(PIECE);
            f(pos, take, std::array::from_fn(|k| cur.offsets[k] + col * self.inner_strides[k]));
            pos += take;
            col += take;
            if col == self.inner && pos < len {
                col = 0;
                self.advance(&mut cur);
            }
        }
    }

    /// Operand `k`'s `len` elements from storage index `at`: a slice, one value, or gathered into `buf`.
    #[inline(always)]
    fn seg<'a, T: Copy>(&self, k: usize, data: &'a [T], at: usize, len: usize, buf: &'a mut [T]) -> Seg<'a, T> {
        match self.inner_strides[k] {
            1 => Seg::Slice(&data[at..at + len]),
            0 => Seg::Splat(data[at]),
            s => Seg::Slice(gather_run(data, at, s, &mut buf[..len])),
        }
    }

    /// As [`Walk::seg`], a repeated value written out into `buf`.
    #[inline(always)]
    fn slice<'a, T: Copy>(&self, k: usize, data: &'a [T], at: usize, len: usize, buf: &'a mut [T]) -> &'a [T] {
        match self.inner_strides[k] {
            1 => &data[at..at + len],
            0 => {
                buf[..len].fill(data[at]);
                &buf[..len]
            }
            s => gather_run(data, at, s, &mut buf[..len]),
        }
    }
}

/// `buf[i] = data[at + i * stride]`.
#[inline(always)]
fn gather_run<'a, T: Copy>(data: &[T], at: usize, stride: usize, buf: &'a mut [T]) -> &'a [T] {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = data[at + i * stride];
    }
    buf
}

#[inline(always)]
fn fill<T: Copy>(out: &mut [MaybeUninit<T>], v: T) {
    for o in out {
        o.write(v);
    }
}

/// `op(x)` for any layout of `x`.
pub fn unary<T: Float>(op: UnaryOp, x: &[T], xl: &Layout) -> Vec<T> {
    let n = xl.elem_count();
    if n == 0 {
        return Vec::new();
    }
    let walk = Walk::new([xl]);
    let parallel = unary_parallel(op, n);
    if let (Some(f), Some(_)) = (simd_map_fn(op), as_f32(x)) {
        return build(n, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
            let mut buf = [T::ZERO; PIECE];
            walk.pieces(s, out.len(), |pos, len, at| {
                let x = as_f32(walk.slice(0, x, at[0], len, &mut buf)).expect("T is f32");
                simd::map_uninit(simd::isa(), f, x, as_f32_out(&mut out[pos..pos + len]).expect("T is f32"))
            })
        });
    }
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            build(n, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let mut buf = [T::ZERO; PIECE];
                        walk.pieces(
                            s,
                            out.len(),
                            #[inline(always)]
                            |pos, len, at| {
                                let o = &mut out[pos..pos + len];
                                match walk.seg(0, x, at[0], len, &mut buf) {
                                    Seg::Slice(v) => map1(v, o, f),
                                    Seg::Splat(v) => fill(o, f(v)),
                                }
                            },
                        )
                    },
                )
            })
        }};
    }
    per_unary_op!(op, run, apply(v))
}

/// `grad * f'(x, y)` for any layouts of `x`, `y = f(x)` and `grad` (one shape).
pub fn unary_backward<T: Float>(op: UnaryOp, x: (&[T], &Layout), y: (&[T], &Layout), g: (&[T], &Layout)) -> Vec<T> {
    let n = g.1.elem_count();
    if n == 0 {
        return Vec::new();
    }
    let walk = Walk::new([x.1, y.1, g.1]);
    let parallel = unary_backward_parallel(op, n);
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            build(n, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let (mut bx, mut by, mut bg) = ([T::ZERO; PIECE], [T::ZERO; PIECE], [T::ZERO; PIECE]);
                        walk.pieces(
                            s,
                            out.len(),
                            #[inline(always)]
                            |pos, len, at| {
                                let xs = walk.slice(0, x.0, at[0], len, &mut bx);
                                let ys = walk.slice(1, y.0, at[1], len, &mut by);
                                let gs = walk.slice(2, g.0, at[2], len, &mut bg);
                                for (((o, &xv), &yv), &gv) in out[pos..pos + len].iter_mut().zip(xs).zip(ys).zip(gs) {
                                    o.write(gv * f(xv, yv));
                                }
                            },
                        )
                    },
                )
            })
        }};
    }
    per_unary_op!(op, run, derivative(a, b))
}

/// `op(a, b)` for any layouts, both already broadcast to the output shape.
pub fn binary<T: Float>(op: BinaryOp, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Vec<T> {
    let n = al.elem_count();
    if n == 0 {
        return Vec::new();
    }
    let walk = Walk::new([al, bl]);
    let parallel = binary_parallel(op, n);
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            build(n, 1, parallel, |s, out: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let (mut ba, mut bb) = ([T::ZERO; PIECE], [T::ZERO; PIECE]);
                        walk.pieces(
                            s,
                            out.len(),
                            #[inline(always)]
                            |pos, len, at| {
                                let o = &mut out[pos..pos + len];
                                match (walk.seg(0, a, at[0], len, &mut ba), walk.seg(1, b, at[1], len, &mut bb)) {
                                    (Seg::Slice(x), y) => map2(x, y, o, f),
                                    (Seg::Splat(x), Seg::Slice(y)) => map2(y, Seg::Splat(x), o, move |q, p| f(p, q)),
                                    (Seg::Splat(x), Seg::Splat(y)) => fill(o, f(x, y)),
                                }
                            },
                        )
                    },
                )
            })
        }};
    }
    per_binary_op!(op, run, apply)
}

/// Gradients w.r.t. `a` and `b` at the output shape, for any layouts of `a`, `b` (broadcast to it)
/// and `g`.
pub fn binary_backward<T: Float>(
    op: BinaryOp,
    a: (&[T], &Layout),
    b: (&[T], &Layout),
    g: (&[T], &Layout),
) -> (Vec<T>, Vec<T>) {
    let n = g.1.elem_count();
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let walk = Walk::new([a.1, b.1, g.1]);
    let parallel = binary_parallel(op, n);
    macro_rules! run {
        ($f:expr) => {{
            let f = $f;
            build2(n, 1, parallel, |s, ga: &mut [MaybeUninit<T>], gb: &mut [MaybeUninit<T>]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let (mut ba, mut bb, mut bg) = ([T::ZERO; PIECE], [T::ZERO; PIECE], [T::ZERO; PIECE]);
                        walk.pieces(
                            s,
                            ga.len(),
                            #[inline(always)]
                            |pos, len, at| {
                                let av = walk.slice(0, a.0, at[0], len, &mut ba);
                                let bv = walk.seg(1, b.0, at[1], len, &mut bb);
                                let gv = walk.slice(2, g.0, at[2], len, &mut bg);
                                grad2(gv, av, bv, &mut ga[pos..pos + len], &mut gb[pos..pos + len], f)
                            },
                        )
                    },
                )
            })
        }};
    }
    per_binary_op!(op, run, partials)
}

/// The elements of any layout `l` of `x` in logical order (a contiguous copy), each read once.
pub fn gather<T: Float>(x: &[T], l: &Layout) -> Vec<T> {
    let n = l.elem_count();
    if n == 0 {
        return Vec::new();
    }
    let walk = Walk::new([l]);
    build(n, 1, n >= super::cpu::PAR_MIN_CHEAP, |s, out: &mut [MaybeUninit<T>]| {
        vectorized(
            #[inline(always)]
            || {
                let mut buf = [T::ZERO; PIECE];
                walk.pieces(
                    s,
                    out.len(),
                    #[inline(always)]
                    |pos, len, at| {
                        let o = &mut out[pos..pos + len];
                        match walk.seg(0, x, at[0], len, &mut buf) {
                            Seg::Slice(v) => map1(v, o, |e| e),
                            Seg::Splat(v) => fill(o, v),
                        }
                    },
                )
            },
        )
    })
}
