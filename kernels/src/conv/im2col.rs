//! conv2d through GEMM: im2col unrolls receptive fields into a `[C*KH*KW, OH*OW]` matrix per sample
//! so the forward is `W [O, C*KH*KW] @ cols`; the input gradient is `W^T @ grad` folded back by
//! col2im (scatter-add); the weight gradient is `grad @ cols^T` summed over samples. Every GEMM goes
//! through `gemm::product`. This is the generic (f32 and f64) single-threaded path; `cpu.rs` runs f32
//! in blocks of samples over rayon and reuses the block-level `im2col` / `col2im` below. Tested
//! against `reference.rs`; must not change results.
//!
//! Trade-off: one sample at a time, reusing a single column buffer. A whole-batch GEMM would give
//! the GEMM a wider matrix, but needs N times the column memory and a transpose of the output;
//! this keeps memory bounded and writes each sample's output in place.

use super::ConvGeom;
use crate::gemm::{product, view_at, Gemm, MatRef};
use kiln_tensor::{Float, Layout, Result};

/// The output positions `lo..hi` (along one axis of `out` positions) whose input coordinate under
/// kernel tap `k` lies inside an input axis of `size`: `0 <= pos * stride + k - padding < size`.
#[inline(always)]
fn valid_range(g: &ConvGeom, k: usize, size: usize, out: usize) -> (usize, usize) {
    let lo = g.padding.saturating_sub(k).div_ceil(g.stride).min(out);
    let hi = (size + g.padding).saturating_sub(k).div_ceil(g.stride).clamp(lo, out);
    (lo, hi)
}

/// Samples `n0..n0 + ns` of `x` (any layout) as columns side by side: `cols[r * ns*P + s*P + oh*OW + ow]`
/// (with `r = (c*KH + i)*KW + j`, `P = OH*OW`) is the input pixel of sample `n0 + s` under kernel tap
/// (c, i, j) at output position (oh, ow), or `pad` in the padding (0 for floats; the int8 conv
/// passes its input's zero point, which stands for 0.0). `copy(src, dst)` copies one contiguous
/// run of equal lengths (`cpu.rs` passes a SIMD copy; here it is `copy_from_slice`).
#[inline(always)]
pub(crate) fn im2col<T: Copy>(
    g: &ConvGeom,
    (x, xl): (&[T], &Layout),
    (n0, ns): (usize, usize),
    cols: &mut [T],
    pad: T,
    copy: impl Fn(&[T], &mut [T]),
) {
    // Strides in locals and the valid ranges per tap hoisted: the runs are short (one output row,
    // often tens of elements), so per-run index arithmetic is a large part of the cost.
    let (st, base) = (xl.strides(), xl.offset());
    let (s0, s1, s2, sw) = (st[0], st[1], st[2], st[3]);
    let p = g.oh * g.ow;
    let width = ns * p;
    for c in 0..g.c {
        for i in 0..g.kh {
            // Output rows rlo..rhi read input rows inside the image; the others are all padding.
            let (rlo, rhi) = valid_range(g, i, g.h, g.oh);
            for j in 0..g.kw {
                let r = (c * g.kh + i) * g.kw + j;
                let (lo, hi) = valid_range(g, j, g.w, g.ow);
                for s in 0..ns {
                    let row = &mut cols[r * width + s * p..][..p];
                    row[..rlo * g.ow].fill(pad);
                    row[rhi * g.ow..].fill(pad);
                    if lo == hi {
                        row[rlo * g.ow..rhi * g.ow].fill(pad);
                        continue;
                    }
                    // The first valid output column reads input column lo * stride + j - padding.
                    let plane = base + (n0 + s) * s0 + c * s1 + (lo * g.stride + j - g.padding) * sw;
                    for (oh, dst) in row.chunks_exact_mut(g.ow).enumerate().take(rhi).skip(rlo) {
                        dst[..lo].fill(pad);
                        dst[hi..].fill(pad);
                        let src = plane + (oh * g.stride + i - g.padding) * s2;
                        let dst = &mut dst[lo..hi];
                        if g.stride == 1 && sw == 1 {
                            copy(&x[src..src + dst.len()], dst);
                        } else {
                            dst.iter_mut().enumerate().for_each(|(k, d)| *d = x[src + k * g.stride * sw]);
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto the input pixel it came from.
/// `gx` is the contiguous `[ns, C, H, W]` gradient of the block's samples; padding entries are dropped.
/// `add(src, dst)` adds one contiguous run onto another of the same length (`dst += src`).
#[inline(always)]
pub(crate) fn col2im<T: Float>(g: &ConvGeom, cols: &[T], ns: usize, gx: &mut [T], add: impl Fn(&[T], &mut [T])) {
    let p = g.oh * g.ow;
    let width = ns * p;
    for c in 0..g.c {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let r = (c * g.kh + i) * g.kw + j;
                let (lo, hi) = valid_range(g, j, g.w, g.ow);
                if lo == hi {
                    continue;
                }
                for s in 0..ns {
                    let row = &cols[r * width + s * p..][..p];
                    for (oh, src) in row.chunks_exact(g.ow).enumerate() {
                        let Some(ih) = g.input_pos(oh, i, g.h) else { continue };
                        let start = ((s * g.c + c) * g.h + ih) * g.w + lo * g.stride + j - g.padding;
                        let src = &src[lo..hi];
                        if g.stride == 1 {
                            add(src, &mut gx[start..start + src.len()]);
                        } else {
                            src.iter().enumerate().for_each(|(k, &v)| gx[start + k * g.stride] += v);
                        }
                    }
                }
            }
        }
    }
}

/// The plain run copy and add of this path.
fn copy<T: Float>(src: &[T], dst: &mut [T]) {
    dst.copy_from_slice(src);
}

fn add<T: Float>(src: &[T], dst: &mut [T]) {
    dst.iter_mut().zip(src).for_each(|(d, &v)| *d += v);
}

/// The weight (contiguous, as mod.rs guarantees) viewed as an `[O, C*KH*KW]` matrix.
fn weight_matrix<'a, T>(g: &ConvGeom, w: (&'a [T], &Layout)) -> MatRef<'a, T> {
    assert!(w.1.is_contiguous(), "conv2d im2col path expects a contiguous weight");
    view_at(w.0, w.1.offset(), g.c * g.kh * g.kw, 1)
}

/// Sample `n` of a contiguous `[N, O, OH, OW]` gradient as an `[O, OH*OW]` matrix.
fn grad_matrix<'a, T>(g: &ConvGeom, grad: (&'a [T], &Layout), n: usize) -> MatRef<'a, T> {
    assert!(grad.1.is_contiguous(), "conv2d im2col path expects a contiguous output gradient");
    let p = g.oh * g.ow;
    view_at(grad.0, grad.1.offset() + n * g.o * p, p, 1)
}

pub fn conv2d<T: Gemm>(g: &ConvGeom, x: (&[T], &Layout), w: (&[T], &Layout), bias: Option<&[T]>) -> Result<Vec<T>> {
    let (ckk, p) = (g.c * g.kh * g.kw, g.oh * g.ow);
    let mut out = vec![T::ZERO; g.n * g.o * p];
    if g.o * p == 0 {
        return Ok(out);
    }
    let mut cols = vec![T::ZERO; ckk * p];
    let wm = weight_matrix(g, w);
    for (n, sample) in out.chunks_mut(g.o * p).enumerate() {
        im2col(g, x, (n, 1), &mut cols, T::ZERO, copy);
        product(g.o, ckk, p, wm, MatRef::row_major(&cols, p), sample, false)?;
        if let Some(b) = bias {
            for (row, &bo) in sample.chunks_mut(p).zip(b) {
                row.iter_mut().for_each(|v| *v += bo);
            }
        }
    }
    Ok(out)
}

pub fn conv2d_backward_input<T: Gemm>(g: &ConvGeom, grad: (&[T], &Layout), w: (&[T], &Layout)) -> Result<Vec<T>> {
    let (ckk, p, chw) = (g.c * g.kh * g.kw, g.oh * g.ow, g.c * g.h * g.w);
    let mut gx = vec![T::ZERO; g.n * chw];
    if chw == 0 {
        return Ok(gx);
    }
    let mut gcols = vec![T::ZERO; ckk * p];
    let wm = weight_matrix(g, w);
    // W^T is the same buffer read with the strides swapped.
    let wt = wm.t();
    for (n, sample) in gx.chunks_mut(chw).enumerate() {
        product(ckk, g.o, p, wt, grad_matrix(g, grad, n), &mut gcols, false)?;
        col2im(g, &gcols, 1, sample, add);
    }
    Ok(gx)
}

pub fn conv2d_backward_weight<T: Gemm>(g: &ConvGeom, x: (&[T], &Layout), grad: (&[T], &Layout)) -> Result<Vec<T>> {
    let (ckk, p) = (g.c * g.kh * g.kw, g.oh * g.ow);
    let mut gw = vec![T::ZERO; g.o * ckk];
    let mut cols = vec![T::ZERO; ckk * p];
    for n in 0..g.n {
        im2col(g, x, (n, 1), &mut cols, T::ZERO, copy);
        // cols^T is [OH*OW, C*KH*KW]: the column buffer read with swapped strides.
        let colst = MatRef::row_major(&cols, p).t();
        product(g.o, p, ckk, grad_matrix(g, grad, n), colst, &mut gw, true)?;
    }
    Ok(gw)
}
