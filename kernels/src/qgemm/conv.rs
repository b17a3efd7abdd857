//! int8 conv2d: per sample, the u8 input made the GEMM's A source (at stride 1 a copy with a
//! zero-point border read in place, else the im2col matrix `[C*KH*KW, OH*OW]`; the zero point
//! stands for 0.0 in the padding; see [`unroll`]), then the swapped-order
//! integer GEMM (`lanes.rs`: output positions in the vector lanes, output channels broadcast),
//! `out[o, p] = epilogue(Σ_r cols[r, p] w[o, r])`, stored straight into NCHW as f32 or requantized
//! u8 (the next layer's input, so int8 activations need not return to f32 between layers).
//! Samples run in parallel over rayon, one thread per sample's GEMM (a sample's GEMM is a few
//! MOPs). Must not: quantize or choose scales (the caller hands u8 activations and packed weights).

use super::epilogue::RawOutput;
use super::lanes::{self, ConvWeights, LaneCall, Source};
use super::{Epilogue, Output, OP};
use crate::conv::im2col::im2col;
use crate::conv::ConvGeom;
use crate::gemm::MatMut;
use kiln_tensor::{Error, Layout, Result};
use rayon::prelude::*;

/// Where a conv's `[N, O, OH, OW]` outputs go.
#[derive(Debug)]
pub enum ConvOutput<'a> {
    F32(&'a mut [f32]),
    /// Requantized with `scale` and `zero_point` (see [`Output::U8`]).
    U8 {
        out: &'a mut [u8],
        scale: f32,
        zero_point: u8,
    },
}

impl ConvOutput<'_> {
    fn len(&self) -> usize {
        match self {
            ConvOutput::F32(o) => o.len(),
            ConvOutput::U8 { out, .. } => out.len(),
        }
    }
}

/// `out [N, O, OH, OW] = epilogue(conv(x, w))` for a contiguous u8 input `x [N, C, H, W]` with
/// zero point `x_zero_point`, and weights `[O, C*KH*KW]` packed as the `k x n = C*KH*KW x O`
/// matrix (`ConvWeights::pack(isa, k, o, MatRef::row_major(w, k).t())`).
pub fn conv2d(
    g: &ConvGeom,
    x: &[u8],
    x_zero_point: u8,
    weights: &ConvWeights,
    epilogue: &Epilogue,
    out: ConvOutput,
) -> Result<()> {
    let k = g.c * g.kh * g.kw;
    let p = g.oh * g.ow;
    if weights.k() != k || weights.n() != g.o {
        return Err(Error::invalid(
            OP,
            format!(
                "conv2d: weights packed as {}x{}, the geometry needs {k}x{} (C*KH*KW x O)",
                weights.k(),
                weights.n(),
                g.o
            ),
        ));
    }
    let x_len = g.in_shape().elem_count_checked(OP)?;
    let out_len = g.out_shape().elem_count_checked(OP)?;
    if x.len() != x_len || out.len() != out_len {
        return Err(Error::invalid(
            OP,
            format!(
                "conv2d: {} input and {} output values given for {} -> {} ({x_len} and {out_len})",
                x.len(),
                out.len(),
                g.in_shape(),
                g.out_shape()
            ),
        ));
    }
    if epilogue.a_zero_point != x_zero_point {
        return Err(Error::invalid(
            OP,
            format!("conv2d: the epilogue folds zero point {}, the input has {x_zero_point}", epilogue.a_zero_point),
        ));
    }
    epilogue.check(g.o)?;
    if out_len == 0 {
        return Ok(());
    }
    // The buffers `unroll` sizes, checked once here (it computes them unchecked).
    let (hp, wp) = (g.h + 2 * g.padding, g.w + 2 * g.padding);
    let sizes = [k.checked_mul(p), g.c.checked_mul(hp).and_then(|v| v.checked_mul(wp))];
    if sizes.iter().any(|v| v.and_then(|v| v.checked_add(SLACK)).is_none()) {
        return Err(Error::SizeOverflow { op: OP, what: format!("the unrolled input of {}", g.in_shape()) });
    }
    let per_input = (g.c * g.h * g.w).max(1);
    crate::denormals::ensure_current_thread();
    // One sample: unroll, then the GEMM; `raw` is this sample's `[O, P]` output as a p x o matrix.
    let one = |x: &[u8], raw: RawOutput| {
        with_scratch(|s| {
            let source = unroll(g, x, x_zero_point, (&mut s.bytes, &mut s.taps));
            let call = LaneCall { source, weights, epilogue, out: raw };
            // SAFETY: `raw` was validated as a p x o view of this sample's output, the epilogue was
            // checked for o columns, and the source describes k taps over p positions.
            unsafe { lanes::run(&call, &mut s.words) }
        })
    };
    let per_sample = g.o * p;
    // Each sample's `[O, P]` output is a p x o matrix (column stride P), validated before use.
    fn each<T: Send>(
        out: &mut [T],
        x: &[u8],
        (per_sample, per_input): (usize, usize),
        view: impl Fn(&mut [T]) -> Output + Sync,
        (p, o): (usize, usize),
        one: impl Fn(&[u8], RawOutput) + Sync,
    ) -> Result<()> {
        out.par_chunks_mut(per_sample).zip(x.par_chunks(per_input)).try_for_each(|(out, x)| {
            let mut view = view(out);
            view.check(p, o)?;
            one(x, view.raw());
            Ok(())
        })
    }
    let sizes = (per_sample, per_input);
    match out {
        ConvOutput::F32(out) => each(out, x, sizes, |o| Output::F32(MatMut::new(o, 1, p)), (p, g.o), one),
        ConvOutput::U8 { out, scale, zero_point } => {
            each(out, x, sizes, |o| Output::U8 { out: MatMut::new(o, 1, p), scale, zero_point }, (p, g.o), one)
        }
    }
}

/// A thread's buffers, kept between calls: a network runs its convs sample by sample, and fresh
/// buffers per sample cost more than a small conv's arithmetic.
#[derive(Default)]
struct Scratch {
    /// The sample with its zero-point border, `[C, H + 2 pad, W + 2 pad]`, then [`SLACK`] bytes
    /// (stride 1), or the plain im2col matrix `[C*KH*KW, OH*OW]` and the slack (other strides).
    bytes: Vec<u8>,
    /// Where each tap's runs start in `bytes`.
    taps: Vec<usize>,
    /// A in the kernel's word layout (`lanes.rs`).
    words: Vec<u32>,
}

/// Bytes after the unrolled input: `lanes.rs` reads whole 16-byte runs, up to 15 bytes past a
/// run's end.
const SLACK: usize = 16;

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        // Only if `f` were re-entered on this thread: fresh buffers then.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// One sample as the GEMM's A source. At stride 1 that is a copy of the input with its zero-point
/// border, read in place: tap (c, i, j) at output position (oh, ow) is bordered pixel
/// `(c, oh + i, ow + j)`, so each tap's run over an output row is contiguous and no im2col matrix
/// is written (LeNet's second conv would have 1,500 runs of 10 bytes per sample). Other strides
/// take the conv family's generic `im2col`.
fn unroll<'a>(
    g: &ConvGeom,
    x: &[u8],
    zero_point: u8,
    (bytes, taps): (&'a mut Vec<u8>, &'a mut Vec<usize>),
) -> Source<'a> {
    let (k, p) = (g.c * g.kh * g.kw, g.oh * g.ow);
    bytes.clear();
    taps.clear();
    if g.stride != 1 {
        bytes.resize(k * p + SLACK, zero_point);
        let sample = Layout::contiguous([1, g.c, g.h, g.w]);
        im2col(g, (x, &sample), (0, 1), &mut bytes[..k * p], zero_point, copy_run);
        taps.extend((0..k).map(|r| r * p));
        return Source { bytes, taps, rows: 1, row_len: p, pitch: 0 };
    }
    let (hp, wp) = (g.h + 2 * g.padding, g.w + 2 * g.padding);
    if g.padding == 0 {
        bytes.extend_from_slice(x);
        bytes.resize(x.len() + SLACK, zero_point);
    } else {
        bytes.resize(g.c * hp * wp + SLACK, zero_point);
        for (plane, src) in x.chunks_exact(g.h * g.w).enumerate() {
            for (h, row) in src.chunks_exact(g.w).enumerate() {
                let at = (plane * hp + h + g.padding) * wp + g.padding;
                copy_run(row, &mut bytes[at..at + g.w]);
            }
        }
    }
    for c in 0..g.c {
        for i in 0..g.kh {
            taps.extend((0..g.kw).map(|j| (c * hp + i) * wp + j));
        }
    }
    Source { bytes, taps, rows: g.oh, row_len: g.ow, pitch: wp }
}

/// Copies one im2col run (an output row's worth, tens of bytes) in 16-, 8- and 4-byte moves, the
/// last one overlapping the one before: a `memcpy` call per run costs more than the copy.
#[inline(always)]
fn copy_run(src: &[u8], dst: &mut [u8]) {
    let n = dst.len().min(src.len());
    let mut by = |w: usize| {
        for at in (0..n - w).step_by(w).chain([n - w]) {
            match w {
                16 => dst[at..at + 16].copy_from_slice(&src[at..at + 16]),
                8 => dst[at..at + 8].copy_from_slice(&src[at..at + 8]),
                _ => dst[at..at + 4].copy_from_slice(&src[at..at + 4]),
            }
        }
    };
    match n {
        16.. => by(16),
        8..=15 => by(8),
        4..=7 => by(4),
        _ => dst[..n].iter_mut().zip(src).for_each(|(d, s)| *d = *s),
    }
}
