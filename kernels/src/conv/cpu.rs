//! Fast CPU conv2d for f32: the im2col + GEMM scheme of `im2col.rs`, but on blocks of samples (the
//! columns of several samples side by side give the GEMM a wider matrix: conv3 of W2 has only 16
//! output pixels per sample), blocks spread over rayon, and every GEMM our packed `sgemm` on an
//! explicit SIMD back end. Any input / gradient layout is read through its strides (no copies);
//! the weight must be contiguous, as `mod.rs` guarantees. f64 returns `None` (the caller runs
//! `im2col.rs`). Must not: change what is computed, only the order of additions (inside the GEMM;
//! the bias added first rather than last when a block is one sample; for the weight gradient, the
//! order in which the per-part partial sums are added).

use super::im2col::{col2im, im2col};
use super::{at4, ConvGeom};
use crate::cpu_common::{as_f32, as_f32_out, assume_init, build};
use crate::gemm::{gemm_with, GemmOptions, MatMut, MatRef};
use crate::simd::{Isa, Simd};
use kiln_tensor::{Float, Layout};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Columns (samples x OH*OW) a block aims for, so that the GEMM's N is wide enough for its 32-wide
/// micro-tiles to amortise packing the weight. W2: conv1 has 900 output pixels per sample, so one
/// sample per block (then the GEMM writes the output in place); conv2 169 (2 samples), conv3 16 (16).
const MIN_WIDTH: usize = 256;

/// Floats of one block's column buffer (`C*KH*KW x samples*OH*OW`) at most: 512 KiB, half of this
/// machine's L2, so the GEMM streams its B operand (read in place) from L2.
const COLS_BUDGET: usize = 1 << 17;

/// Total GEMM work (2·N·O·C·KH·KW·OH·OW flops) from which blocks are spread over several threads:
/// 2 MFLOP, so each of two threads gets at least the 1 MFLOP that `gemm::parallel` asks of a GEMM
/// split (waking a second thread costs 5-50 µs). Measured with `cpu_tests::conv_timings` (release)
/// while a training run kept one of the two cores busy, forward / input grad / weight grad, µs, one
/// thread vs two: [2, 8, 9, 9] * [8, 8, 3, 3] (0.1 MFLOP) 10/10/7 vs 6/11/9; [8, 16, 12, 12] *
/// [16, 16, 3, 3] (3.7 MFLOP) 102/135/103 vs 99/162/160; W2's convs (100-400 MFLOP) within ±20% either
/// way. With the other core taken two threads gained nothing reliably at any size, so the threshold
/// could not be tuned lower than the GEMM's own; re-measure on an idle machine.
const PAR_MIN_FLOPS: usize = 1 << 21;

/// How the batch is cut into blocks of consecutive samples.
#[derive(Debug, Clone, Copy)]
struct Blocks {
    /// Samples per block (the last block may have fewer).
    per: usize,
    /// Number of blocks.
    count: usize,
    /// Whether blocks run on several threads (then each GEMM stays on its thread).
    parallel: bool,
}

impl Blocks {
    /// `None` for an empty problem (any size 0), which `im2col.rs` handles.
    fn new(g: &ConvGeom) -> Option<Blocks> {
        let (ckk, p) = (g.c * g.kh * g.kw, g.oh * g.ow);
        if g.n * g.o * ckk * p == 0 {
            return None;
        }
        let threads = rayon::current_num_threads();
        let parallel = threads > 1 && 2 * g.n * g.o * ckk * p >= PAR_MIN_FLOPS;
        let per = MIN_WIDTH.div_ceil(p).min(COLS_BUDGET / (ckk * p)).clamp(1, g.n);
        let mut count = g.n.div_ceil(per);
        if parallel {
            // A multiple of the thread count and at least two per thread, so threads get equal work.
            count = count.max(2 * threads).next_multiple_of(threads);
        }
        let per = g.n.div_ceil(count);
        Some(Blocks { per, count: g.n.div_ceil(per), parallel })
    }

    fn gemm_opts(&self, isa: Isa) -> GemmOptions {
        GemmOptions { isa, threads: if self.parallel { 1 } else { 0 }, ..GemmOptions::default() }
    }

    /// The samples `n0..n0 + ns` of block `b`.
    fn range(&self, g: &ConvGeom, b: usize) -> (usize, usize) {
        let n0 = b * self.per;
        (n0, self.per.min(g.n - n0))
    }
}

/// `dst = src` (`ADD = false`) or `dst += src` on one run, by whole vectors and a masked tail.
///
/// # Safety
/// Only inside code compiled for `S`'s target features (see [`crate::simd_dispatch!`]).
#[inline(always)]
unsafe fn run<S: Simd, const ADD: bool>(src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "conv2d run lengths differ");
    let (n, l, sp, dp) = (src.len(), S::LANES, src.as_ptr(), dst.as_mut_ptr());
    let mut i = 0;
    while i + l <= n {
        let v = if ADD { S::add(S::loadu(dp.add(i)), S::loadu(sp.add(i))) } else { S::loadu(sp.add(i)) };
        S::storeu(dp.add(i), v);
        i += l;
    }
    if i < n {
        let v = S::load_tail(sp.add(i), n - i);
        let v = if ADD { S::add(S::load_tail(dp.add(i), n - i), v) } else { v };
        S::store_tail(dp.add(i), v, n - i);
    }
}

// Trade-off: the runs im2col copies and col2im adds are output rows (30, 13 and 4 floats in W2), so
// a `memcpy` call per run cost more than the copy itself (6.6% of a W2 step in `perf`). These two
// entry points compile the shared loops of `im2col.rs` once per SIMD back end around [`run`].
crate::simd_dispatch! {
    /// [`im2col`] of samples `n0..n0 + ns` with vector run copies.
    fn im2col_f32<S>(g: &ConvGeom, x: &[f32], xl: &Layout, samples: (usize, usize), cols: &mut [f32]) {
        // SAFETY: the closure runs inside this function, compiled for `S`'s target features.
        im2col(g, (x, xl), samples, cols, 0.0, |s: &[f32], d: &mut [f32]| run::<S, false>(s, d))
    }
}

crate::simd_dispatch! {
    /// [`col2im`] of `ns` samples with vector run adds.
    fn col2im_f32<S>(g: &ConvGeom, cols: &[f32], ns: usize, gx: &mut [f32]) {
        // SAFETY: as in `im2col_f32`.
        col2im(g, cols, ns, gx, |s: &[f32], d: &mut [f32]| run::<S, true>(s, d))
    }
}

crate::simd_dispatch! {
    /// Samples `n0..n0 + ns` of an `[N, O, OH, OW]` gradient (any layout) as a row-major
    /// `[O, ns*OH*OW]` matrix, the layout of the GEMM's columns: one run per plane when its rows are
    /// contiguous and adjacent (the usual case), else one per row, else element by element.
    fn gather_grad<S>(g: &ConvGeom, grad: &[f32], gl: &Layout, samples: (usize, usize), out: &mut [f32]) {
        let (p, (n0, ns)) = (g.oh * g.ow, samples);
        let (sh, sw) = (gl.strides()[2], gl.strides()[3]);
        for o in 0..g.o {
            for s in 0..ns {
                let dst = &mut out[(o * ns + s) * p..][..p];
                let src = at4(gl, n0 + s, o, 0, 0);
                // SAFETY (`run`): this body is compiled for `S` by `simd_dispatch!`.
                if sw == 1 && (sh == g.ow || g.oh == 1) {
                    run::<S, false>(&grad[src..src + p], dst);
                    continue;
                }
                for (oh, dst) in dst.chunks_exact_mut(g.ow).enumerate() {
                    let src = src + oh * sh;
                    if sw == 1 {
                        run::<S, false>(&grad[src..src + g.ow], dst);
                    } else {
                        dst.iter_mut().enumerate().for_each(|(k, d)| *d = grad[src + k * sw]);
                    }
                }
            }
        }
    }
}

/// The gradient of samples `n0..n0 + ns` as the GEMM's row-major `[O, ns*OH*OW]` matrix: read in
/// place when that is how it lies (one sample whose `[O, OH, OW]` block is contiguous, as for W2's
/// first conv, one sample per block), else gathered into `buf` (`gather_grad`). The copy was 15% of
/// that conv's weight gradient (session 15).
fn grad_block<'a>(
    isa: Isa,
    g: &ConvGeom,
    (gs, gl): (&'a [f32], &Layout),
    (n0, ns): (usize, usize),
    buf: &'a mut [f32],
) -> &'a [f32] {
    let (p, st) = (g.oh * g.ow, gl.strides());
    let dense = |d: usize, stride: usize, size: usize| size == 1 || st[d] == stride;
    if ns == 1 && dense(3, 1, g.ow) && dense(2, g.ow, g.oh) && dense(1, p, g.o) {
        let at = at4(gl, n0, 0, 0, 0);
        return &gs[at..at + g.o * p];
    }
    gather_grad(isa, g, gs, gl, (n0, ns), &mut buf[..g.o * ns * p]);
    &buf[..g.o * ns * p]
}

/// `C = A B` (`beta = 0`) or `C += A B` on row-major / strided views; the shapes were checked by the
/// callers' geometry, so a GEMM error is a bug here.
#[allow(clippy::too_many_arguments)]
fn gemm(opts: GemmOptions, m: usize, k: usize, n: usize, a: MatRef<f32>, b: MatRef<f32>, beta: f32, c: &mut [f32]) {
    gemm_with(opts, m, k, n, 1.0, a, b, beta, MatMut::row_major(c, n)).expect("conv2d block GEMM views fit");
}

/// `x [N, C, H, W]` (any layout) convolved with the contiguous weight `w [O, C, KH, KW]` + `bias`;
/// `None` unless f32 with a contiguous weight.
pub fn conv2d<T: Float>(
    isa: Isa,
    g: &ConvGeom,
    x: (&[T], &Layout),
    w: (&[T], &Layout),
    bias: Option<&[T]>,
) -> Option<Vec<T>> {
    let (xs, xl) = (as_f32(x.0)?, x.1);
    let w = &as_f32(w.0)?[w.1.contiguous_range()?];
    let bias = match bias {
        Some(b) => Some(as_f32(b)?),
        None => None,
    };
    let (ckk, p, blocks) = (g.c * g.kh * g.kw, g.oh * g.ow, Blocks::new(g)?);
    let opts = blocks.gemm_opts(isa);
    let sample = g.o * p;
    let wm = MatRef::row_major(w, ckk);
    Some(build(g.n * sample, blocks.per * sample, blocks.parallel, |start, out: &mut [MaybeUninit<T>]| {
        let out = as_f32_out(out).expect("T is f32");
        let width = blocks.per * p;
        let mut cols = vec![0f32; ckk * width];
        if blocks.per == 1 {
            // One sample per block: the GEMM's [O, P] result is the sample's output, so it is written
            // in place on top of the bias (beta = 1), saving the move below.
            for (o, row) in out.chunks_mut(p).enumerate() {
                row.fill(MaybeUninit::new(bias.map_or(0.0, |b| b[o % g.o])));
            }
            // SAFETY: every element was just written.
            let out = unsafe { assume_init(out) };
            for (k, out) in out.chunks_mut(sample).enumerate() {
                im2col_f32(isa, g, xs, xl, (start / sample + k, 1), &mut cols);
                gemm(opts, g.o, ckk, p, wm, MatRef::row_major(&cols, p), 1.0, out);
            }
            return;
        }
        let mut prod = vec![0f32; g.o * width];
        for (b, out) in out.chunks_mut(blocks.per * sample).enumerate() {
            let (n0, ns) = blocks.range(g, start / (blocks.per * sample) + b);
            let width = ns * p;
            im2col_f32(isa, g, xs, xl, (n0, ns), &mut cols[..ckk * width]);
            let cm = MatRef::row_major(&cols[..ckk * width], width);
            gemm(opts, g.o, ckk, width, wm, cm, 0.0, &mut prod[..g.o * width]);
            // prod is [O, ns, P]; the output block is [ns, O, P]: one pass moves it and adds the bias.
            for (s, out) in out.chunks_mut(sample).enumerate() {
                for (o, dst) in out.chunks_mut(p).enumerate() {
                    let src = &prod[(o * ns + s) * p..][..p];
                    match bias {
                        Some(bias) => dst.iter_mut().zip(src).for_each(|(d, &v)| {
                            d.write(v + bias[o]);
                        }),
                        None => dst.iter_mut().zip(src).for_each(|(d, &v)| {
                            d.write(v);
                        }),
                    }
                }
            }
        }
    }))
}

/// Gradient w.r.t. the input from `grad [N, O, OH, OW]` (any layout) and the contiguous weight;
/// `None` unless f32 with a contiguous weight.
pub fn conv2d_backward_input<T: Float>(
    isa: Isa,
    g: &ConvGeom,
    grad: (&[T], &Layout),
    w: (&[T], &Layout),
) -> Option<Vec<T>> {
    let (gs, gl) = (as_f32(grad.0)?, grad.1);
    let w = &as_f32(w.0)?[w.1.contiguous_range()?];
    let (ckk, p, blocks) = (g.c * g.kh * g.kw, g.oh * g.ow, Blocks::new(g)?);
    let opts = blocks.gemm_opts(isa);
    let sample = g.c * g.h * g.w;
    // W^T [C*KH*KW, O] is the weight read with swapped strides.
    let wt = MatRef::new(w, 1, ckk);
    Some(build(g.n * sample, blocks.per * sample, blocks.parallel, |start, out: &mut [MaybeUninit<T>]| {
        let out = as_f32_out(out).expect("T is f32");
        out.fill(MaybeUninit::new(0.0));
        // SAFETY: every element was just written.
        let out = unsafe { assume_init(out) };
        let width = blocks.per * p;
        let (mut gcols, mut gm) = (vec![0f32; ckk * width], vec![0f32; g.o * width]);
        for (b, gx) in out.chunks_mut(blocks.per * sample).enumerate() {
            let (n0, ns) = blocks.range(g, start / (blocks.per * sample) + b);
            let width = ns * p;
            let gmat = MatRef::row_major(grad_block(isa, g, (gs, gl), (n0, ns), &mut gm), width);
            gemm(opts, ckk, g.o, width, wt, gmat, 0.0, &mut gcols[..ckk * width]);
            col2im_f32(isa, g, &gcols[..ckk * width], ns, gx);
        }
    }))
}

/// Gradient w.r.t. the weight from `x` and `grad` (any layouts); `None` unless f32. With several
/// threads the blocks are cut into parts, each summed into its own `[O, C*KH*KW]` buffer, and the
/// buffers are added in part order, so the result depends on the thread count by rounding only.
pub fn conv2d_backward_weight<T: Float>(
    isa: Isa,
    g: &ConvGeom,
    x: (&[T], &Layout),
    grad: (&[T], &Layout),
) -> Option<Vec<T>> {
    let (xs, xl, gs, gl) = (as_f32(x.0)?, x.1, as_f32(grad.0)?, grad.1);
    let (ckk, p, blocks) = (g.c * g.kh * g.kw, g.oh * g.ow, Blocks::new(g)?);
    let opts = blocks.gemm_opts(isa);
    // Two parts per thread, so that a thread sharing its core with another process hands its second
    // part to the other thread (rayon steals it) instead of holding up the whole sum.
    let parts = if blocks.parallel { (2 * rayon::current_num_threads()).min(blocks.count) } else { 1 };
    // Part `t` sums blocks `t * count / parts ..`; the first GEMM of a part overwrites its buffer.
    let part = |t: usize| {
        let mut gw = vec![0f32; g.o * ckk];
        let width = blocks.per * p;
        let (mut cols, mut gm) = (vec![0f32; ckk * width], vec![0f32; g.o * width]);
        for b in t * blocks.count / parts..(t + 1) * blocks.count / parts {
            let (n0, ns) = blocks.range(g, b);
            let width = ns * p;
            im2col_f32(isa, g, xs, xl, (n0, ns), &mut cols[..ckk * width]);
            // cols^T [ns*P, C*KH*KW] is the column buffer read with swapped strides.
            let gmat = MatRef::row_major(grad_block(isa, g, (gs, gl), (n0, ns), &mut gm), width);
            let colst = MatRef::new(&cols[..ckk * width], 1, width);
            let beta = if b == t * blocks.count / parts { 0.0 } else { 1.0 };
            gemm(opts, g.o, width, ckk, gmat, colst, beta, &mut gw);
        }
        gw
    };
    let mut partial: Vec<Vec<f32>> =
        if parts > 1 { (0..parts).into_par_iter().map(part).collect() } else { vec![part(0)] };
    let mut gw = partial.remove(0);
    for other in partial {
        gw.iter_mut().zip(other).for_each(|(a, b)| *a += b);
    }
    Some(gw.into_iter().map(|v| T::from_f64(v as f64)).collect())
}
