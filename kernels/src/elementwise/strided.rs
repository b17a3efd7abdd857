//! Fast CPU elementwise kernels over any layout, for what `cpu.rs`'s patterns do not cover
//! (transposed, narrowed, broadcast over a middle axis as BatchNorm's `[1, C, 1, 1]` against
//! `[N, C, H, W]`, both operands broadcast): the output walk is split into an outer odometer over
//! the dimensions the operands cannot merge and an inner run over the last merged one, where each
//! operand is a contiguous slice (stride 1), one value (stride 0), or a strided run gathered into a
//! stack buffer. An operand stored transposed against the output (strided along the inner run,
//! contiguous along the last outer dim) is read a band of output rows at a time instead: each band
//! column is one contiguous stretch of memory, transposed into a tile (`crate::transpose`, SIMD for
//! f32) whose rows the inner loops then read as slices — one pass over each cache line instead of
//! one line per element. The inner loops are `cpu.rs`'s, inlined into `vectorized`; rayon splits
//! the output above the same sizes as there. Every element is computed by the same formula as the
//! reference, so results equal it bit for bit (f32 exp / tanh / sigmoid use the SIMD
//! approximations as in `cpu.rs`). Must not: reorder or combine the math of an element, or be
//! tried before `cpu.rs` (whose results published runs reproduce).

use super::cpu::{
    binary_parallel, grad2, map1, map2, per_binary_op, per_unary_op, simd_map_fn, unary_backward_parallel,
    unary_parallel, Seg,
};
use super::{BinaryOp, UnaryOp};
use crate::cpu_common::{as_f32, as_f32_out, build, build2};
use crate::simd;
use crate::simd::vectorized;
use crate::transpose::transpose_block;
use kiln_tensor::{Float, Layout};
use std::mem::MaybeUninit;

/// The longest inner piece handled at once (the size of the gather buffers: 8 KB of f64 each).
const PIECE: usize = 1024;

/// Output rows per band of a tiled operand: 16 consecutive values of it per output column, one
/// 64-byte cache line of f32.
const BAND_ROWS: usize = 16;

/// Output columns per tile: whole rows up to 1,024, so that a band's rows of the contiguous
/// operands and of the output are one sequential stretch each (`BAND_ROWS` consecutive rows)
/// rather than 16 short streams per tile. Measured on Zen 4 (session 14, one thread, quiet,
/// transposed add at 64x32x900 against the contiguous add, the same band loop written out bare):
/// 16 x 904 1.84-2.23x, 16 x 256 2.57-2.80x, 16 x 128 2.97x, 8 x 904 1.95x, 32 x 904 2.54x. The
/// transposition alone took 225 us and the band's add alone 290 us against 830 us for both:
/// what is lost is the two phases' streams evicting each other, which software prefetches of the
/// next band (tried, T0 and T1) did not win back. A tile is then 66 KB of f32: L2, not L1.
const TILE_COLS: usize = 1024;

/// A tile's row pitch: padded past `TILE_COLS` so that its rows are not 1 KB apart (the 8 rows an
/// 8 x 8 block stores would share cache sets and can 4 KB-alias the loads: transposed relu 2.84x
/// -> 2.41x against an unpadded tile in one sweep, the transposes alone 300 -> 235 us, within noise
/// in another run).
const TILE_LD: usize = TILE_COLS + 8;

/// The walk of one output shape shared by `K` operand layouts: merged dims (outer ones, then the
/// inner run) with each operand's strides and offset.
pub(crate) struct Walk<const K: usize> {
    outer: Vec<usize>,
    outer_strides: [Vec<usize>; K],
    inner: usize,
    inner_strides: [usize; K],
    base: [usize; K],
    /// Operands read through band tiles: strided along the inner run, stride 1 along the last
    /// outer dim.
    tiled: [bool; K],
}

/// Where the walk stands at the start of an output row: its outer index and each operand's offset.
struct Cursor<const K: usize> {
    index: Vec<usize>,
    offsets: [usize; K],
}

/// The per-thread scratch of a walk: a gather buffer per operand, and a band tile per tiled one.
struct Scratch<T, const K: usize> {
    gathered: [[T; PIECE]; K],
    tiles: [Vec<T>; K],
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
        let inner_strides: [usize; K] = std::array::from_fn(|k| strides[k].first().copied().unwrap_or(1));
        let tiled = std::array::from_fn(|k| inner_strides[k] > 1 && strides[k].get(1) == Some(&1));
        let outer = merged.iter().skip(1).rev().copied().collect();
        let outer_strides = std::array::from_fn(|k| strides[k].iter().skip(1).rev().copied().collect());
        Walk { outer, outer_strides, inner, inner_strides, base: std::array::from_fn(|k| layouts[k].offset()), tiled }
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

    fn scratch<T: Float>(&self) -> Scratch<T, K> {
        let tiles =
            std::array::from_fn(|k| if self.tiled[k] { vec![T::ZERO; BAND_ROWS * TILE_LD] } else { Vec::new() });
        Scratch { gathered: [[T::ZERO; PIECE]; K], tiles }
    }

    /// Calls `f(pos, len, segs)` for pieces of output elements `start..start + len` that stay in
    /// one row and are at most [`PIECE`] long, in any order; `pos` is relative to `start` and
    /// `segs[k]` is operand `k`'s `len` values there (a slice of `data[k]` or of a buffer, or one
    /// value). Whole rows go a band at a time when an operand is tiled.
    #[inline(always)]
    fn pieces<T: Float>(
        &self,
        data: [&[T]; K],
        start: usize,
        len: usize,
        mut f: impl FnMut(usize, usize, [Seg<'_, T>; K]),
    ) {
        let mut scratch = self.scratch::<T>();
        let banded = self.tiled.contains(&true);
        let (row, mut col) = (start / self.inner, start % self.inner);
        let mut cur = self.seek(row);
        let mut pos = 0;
        while pos < len {
            if banded && col == 0 {
                // `banded` implies an outer dim (a tiled operand's stride 1 is on one).
                let last = self.outer.len() - 1;
                let rows = BAND_ROWS.min(self.outer[last] - cur.index[last]).min((len - pos) / self.inner);
                if rows > 0 {
                    self.band(data, &cur, rows, pos, &mut scratch, &mut f);
                    pos += rows * self.inner;
                    (0..rows).for_each(|_| self.advance(&mut cur));
                    continue;
                }
            }
            let take = (self.inner - col).min(len - pos).min(PIECE);
            let mut bufs = scratch.gathered.iter_mut();
            let segs = std::array::from_fn(|k| {
                let at = cur.offsets[k] + col * self.inner_strides[k];
                self.seg(k, data[k], at, take, bufs.next().expect("one buffer per operand"))
            });
            f(pos, take, segs);
            pos += take;
            col += take;
            if col == self.inner && pos < len {
                col = 0;
                self.advance(&mut cur);
            }
        }
    }

    /// `rows` whole output rows from `cur` (output position `pos`), tile by tile: the tiled
    /// operands transposed into their tiles, then each row's piece of the tile.
    #[inline(always)]
    fn band<T: Float>(
        &self,
        data: [&[T]; K],
        cur: &Cursor<K>,
        rows: usize,
        pos: usize,
        scratch: &mut Scratch<T, K>,
        f: &mut impl FnMut(usize, usize, [Seg<'_, T>; K]),
    ) {
        let last = self.outer.len() - 1;
        for c0 in (0..self.inner).step_by(TILE_COLS) {
            let cols = TILE_COLS.min(self.inner - c0);
            for k in (0..K).filter(|&k| self.tiled[k]) {
                let at = cur.offsets[k] + c0 * self.inner_strides[k];
                transpose_block(data[k], at, self.inner_strides[k], rows, cols, &mut scratch.tiles[k], TILE_LD);
            }
            for r in 0..rows {
                let (mut bufs, tiles) = (scratch.gathered.iter_mut(), &scratch.tiles);
                let segs = std::array::from_fn(|k| {
                    let buf = bufs.next().expect("one buffer per operand");
                    if self.tiled[k] {
                        Seg::Slice(&tiles[k][r * TILE_LD..][..cols])
                    } else {
                        let at = cur.offsets[k] + r * self.outer_strides[k][last] + c0 * self.inner_strides[k];
                        self.seg(k, data[k], at, cols, buf)
                    }
                });
                f(pos + r * self.inner + c0, cols, segs);
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
}

/// `buf[i] = data[at + i * stride]`.
#[inline(always)]
fn gather_run<'a, T: Copy>(data: &[T], at: usize, stride: usize, buf: &'a mut [T]) -> &'a [T] {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = data[at + i * stride];
    }
    buf
}

/// `seg` as a slice of `len` values, a repeated value written out into `buf`.
#[inline(always)]
fn expand<'a, T: Copy>(seg: Seg<'a, T>, len: usize, buf: &'a mut [T]) -> &'a [T] {
    match seg {
        Seg::Slice(v) => v,
        Seg::Splat(v) => {
            buf[..len].fill(v);
            &buf[..len]
        }
    }
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
            walk.pieces([x], s, out.len(), |pos, len, [xs]| {
                let o = as_f32_out(&mut out[pos..pos + len]).expect("T is f32");
                match xs {
                    Seg::Slice(v) => simd::map_uninit(simd::isa(), f, as_f32(v).expect("T is f32"), o),
                    Seg::Splat(v) => {
                        let mut one = [MaybeUninit::uninit()];
                        simd::map_uninit(simd::isa(), f, as_f32(&[v]).expect("T is f32"), &mut one);
                        // SAFETY: `map_uninit` wrote the one value.
                        fill(o, unsafe { one[0].assume_init() })
                    }
                }
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
                        walk.pieces(
                            [x],
                            s,
                            out.len(),
                            #[inline(always)]
                            |pos, len, [xs]| {
                                let o = &mut out[pos..pos + len];
                                match xs {
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
                            [x.0, y.0, g.0],
                            s,
                            out.len(),
                            #[inline(always)]
                            |pos, len, [xs, ys, gs]| {
                                let xs = expand(xs, len, &mut bx);
                                let ys = expand(ys, len, &mut by);
                                let gs = expand(gs, len, &mut bg);
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
                        walk.pieces(
                            [a, b],
                            s,
                            out.len(),
                            #[inline(always)]
                            |pos, len, [x, y]| {
                                let o = &mut out[pos..pos + len];
                                match (x, y) {
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
                        let (mut ba, mut bg) = ([T::ZERO; PIECE], [T::ZERO; PIECE]);
                        walk.pieces(
                            [a.0, b.0, g.0],
                            s,
                            ga.len(),
                            #[inline(always)]
                            |pos, len, [av, bv, gv]| {
                                let av = expand(av, len, &mut ba);
                                let gv = expand(gv, len, &mut bg);
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
                walk.pieces(
                    [x],
                    s,
                    out.len(),
                    #[inline(always)]
                    |pos, len, [xs]| {
                        let o = &mut out[pos..pos + len];
                        match xs {
                            Seg::Slice(v) => map1(v, o, |e| e),
                            Seg::Splat(v) => fill(o, v),
                        }
                    },
                )
            },
        )
    })
}
