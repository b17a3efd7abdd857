//! conv2d through GEMM: im2col unrolls one sample's receptive fields into a `[C*KH*KW, OH*OW]`
//! matrix so the forward is `W [O, C*KH*KW] @ cols`; the input gradient is `W^T @ grad` folded
//! back by col2im (scatter-add); the weight gradient is `grad @ cols^T` summed over samples.
//! Every GEMM goes through `matmul::gemm`. Tested against `reference.rs`; must not change results.
//!
//! Trade-off: one sample at a time, reusing a single column buffer. A whole-batch GEMM would give
//! the GEMM a wider matrix, but needs N times the column memory and a transpose of the output;
//! this keeps memory bounded and writes each sample's output in place.

use super::{at4, ConvGeom};
use crate::matmul::{gemm, Gemm, MatRef};
use kiln_tensor::{Float, Layout};

/// Sample `n` of `x` (any layout) as columns: `cols[(c*KH + i)*KW + j][oh*OW + ow]` is the input
/// pixel under kernel tap (c, i, j) at output position (oh, ow), or 0 in the padding.
pub fn im2col<T: Float>(g: &ConvGeom, x: &[T], xl: &Layout, n: usize, cols: &mut [T]) {
    let p = g.oh * g.ow;
    for c in 0..g.c {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &mut cols[((c * g.kh + i) * g.kw + j) * p..][..p];
                for (oh, dst) in row.chunks_mut(g.ow).enumerate() {
                    let Some(ih) = g.input_pos(oh, i, g.h) else {
                        dst.fill(T::ZERO);
                        continue;
                    };
                    for (ow, d) in dst.iter_mut().enumerate() {
                        *d = match g.input_pos(ow, j, g.w) {
                            Some(iw) => x[at4(xl, n, c, ih, iw)],
                            None => T::ZERO,
                        };
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto the input pixel it came from.
/// `gx` is one sample's contiguous `[C, H, W]` gradient; padding entries are dropped.
pub fn col2im<T: Float>(g: &ConvGeom, cols: &[T], gx: &mut [T]) {
    let p = g.oh * g.ow;
    for c in 0..g.c {
        for i in 0..g.kh {
            for j in 0..g.kw {
                let row = &cols[((c * g.kh + i) * g.kw + j) * p..][..p];
                for (oh, src) in row.chunks(g.ow).enumerate() {
                    let Some(ih) = g.input_pos(oh, i, g.h) else { continue };
                    for (ow, &v) in src.iter().enumerate() {
                        if let Some(iw) = g.input_pos(ow, j, g.w) {
                            gx[(c * g.h + ih) * g.w + iw] += v;
                        }
                    }
                }
            }
        }
    }
}

/// The weight (contiguous, as mod.rs guarantees) viewed as an `[O, C*KH*KW]` matrix.
fn weight_matrix<'a, T>(g: &ConvGeom, w: (&'a [T], &Layout)) -> MatRef<'a, T> {
    assert!(w.1.is_contiguous(), "conv2d im2col path expects a contiguous weight");
    MatRef { data: w.0, offset: w.1.offset(), rs: g.c * g.kh * g.kw, cs: 1 }
}

/// Sample `n` of a contiguous `[N, O, OH, OW]` gradient as an `[O, OH*OW]` matrix.
fn grad_matrix<'a, T>(g: &ConvGeom, grad: (&'a [T], &Layout), n: usize) -> MatRef<'a, T> {
    assert!(grad.1.is_contiguous(), "conv2d im2col path expects a contiguous output gradient");
    let p = g.oh * g.ow;
    MatRef { data: grad.0, offset: grad.1.offset() + n * g.o * p, rs: p, cs: 1 }
}

pub fn conv2d<T: Gemm>(g: &ConvGeom, x: (&[T], &Layout), w: (&[T], &Layout), bias: Option<&[T]>) -> Vec<T> {
    let (ckk, p) = (g.c * g.kh * g.kw, g.oh * g.ow);
    let mut out = vec![T::ZERO; g.n * g.o * p];
    if g.o * p == 0 {
        return out;
    }
    let mut cols = vec![T::ZERO; ckk * p];
    let wm = weight_matrix(g, w);
    for (n, sample) in out.chunks_mut(g.o * p).enumerate() {
        im2col(g, x.0, x.1, n, &mut cols);
        gemm(g.o, ckk, p, wm, MatRef { data: &cols, offset: 0, rs: p, cs: 1 }, sample, false);
        if let Some(b) = bias {
            for (row, &bo) in sample.chunks_mut(p).zip(b) {
                row.iter_mut().for_each(|v| *v += bo);
            }
        }
    }
    out
}

pub fn conv2d_backward_input<T: Gemm>(g: &ConvGeom, grad: (&[T], &Layout), w: (&[T], &Layout)) -> Vec<T> {
    let (ckk, p, chw) = (g.c * g.kh * g.kw, g.oh * g.ow, g.c * g.h * g.w);
    let mut gx = vec![T::ZERO; g.n * chw];
    if chw == 0 {
        return gx;
    }
    let mut gcols = vec![T::ZERO; ckk * p];
    let wm = weight_matrix(g, w);
    // W^T is the same buffer read with the strides swapped.
    let wt = MatRef { rs: wm.cs, cs: wm.rs, ..wm };
    for (n, sample) in gx.chunks_mut(chw).enumerate() {
        gemm(ckk, g.o, p, wt, grad_matrix(g, grad, n), &mut gcols, false);
        col2im(g, &gcols, sample);
    }
    gx
}

pub fn conv2d_backward_weight<T: Gemm>(g: &ConvGeom, x: (&[T], &Layout), grad: (&[T], &Layout)) -> Vec<T> {
    let (ckk, p) = (g.c * g.kh * g.kw, g.oh * g.ow);
    let mut gw = vec![T::ZERO; g.o * ckk];
    let mut cols = vec![T::ZERO; ckk * p];
    for n in 0..g.n {
        im2col(g, x.0, x.1, n, &mut cols);
        // cols^T is [OH*OW, C*KH*KW]: the column buffer read with swapped strides.
        let colst = MatRef { data: &cols[..], offset: 0, rs: 1, cs: p };
        gemm(g.o, p, ckk, grad_matrix(g, grad, n), colst, &mut gw, true);
    }
    gw
}
