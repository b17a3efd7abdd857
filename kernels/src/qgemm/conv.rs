//! int8 conv2d: each sample's u8 input unrolled into rows, one receptive field per output position
//! (`im2row`, the transpose of the f32 conv's im2col: the GEMM's A operand must have contiguous
//! rows for its fast packing; padding is the input's zero point, which stands for 0.0), then one
//! integer GEMM per sample, `out[o, p] = epilogue(Σ_r rows[p, r] w[o, r])`, written straight into
//! NCHW. Samples run in parallel over rayon (one thread per GEMM: a sample's GEMM is small, a few
//! MOPs). Must not: quantize (the caller hands u8 activations and packed s8 weights).

use super::{qgemm_with, Epilogue, Output, PackedWeights, OP};
use crate::conv::ConvGeom;
use crate::gemm::{MatMut, MatRef};
use kiln_tensor::{Error, Result};
use rayon::prelude::*;

/// `out [N, O, OH, OW] = epilogue(conv(x, w))` for a contiguous u8 input `x [N, C, H, W]` with zero
/// point `x_zero_point`, and weights `[O, C*KH*KW]` packed as the `k x n = C*KH*KW x O` matrix
/// (`PackedWeights::pack(isa, k, o, MatRef::row_major(w, k).t())`).
pub fn conv2d(
    g: &ConvGeom,
    x: &[u8],
    x_zero_point: u8,
    weights: &PackedWeights,
    epilogue: &Epilogue,
    out: &mut [f32],
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
    if out_len == 0 {
        return Ok(());
    }
    let per_sample = g.o * p;
    let per_input = g.c * g.h * g.w;
    out.par_chunks_mut(per_sample).zip(x.par_chunks(per_input.max(1))).try_for_each_init(
        || vec![x_zero_point; k * p],
        |rows, (out, x)| {
            im2row(g, x, x_zero_point, rows);
            // C = outᵀ: out[o * P + p] at (p, o).
            qgemm_with(1, MatRef::row_major(rows, k), p, weights, epilogue, Output::F32(MatMut::new(out, 1, p)))
        },
    )
}

/// One sample's receptive fields as rows: `rows[p * K + (c*KH + i)*KW + j]` is input pixel
/// `(c, oh*stride + i - padding, ow*stride + j - padding)` for output position `p = oh*OW + ow`, or
/// `zero_point` in the padding.
fn im2row(g: &ConvGeom, x: &[u8], zero_point: u8, rows: &mut [u8]) {
    let k = g.c * g.kh * g.kw;
    for (p, row) in rows.chunks_exact_mut(k).enumerate() {
        let (oh, ow) = (p / g.ow, p % g.ow);
        for (tap, dst) in row.chunks_exact_mut(g.kw).enumerate() {
            let (c, i) = (tap / g.kh, tap % g.kh);
            let Some(ih) = g.input_pos(oh, i, g.h) else {
                dst.fill(zero_point);
                continue;
            };
            let line = &x[(c * g.h + ih) * g.w..][..g.w];
            if g.stride == 1 {
                // Taps j read input column ow + j - padding: valid for j in lo..hi, a contiguous run.
                let lo = g.padding.saturating_sub(ow).min(g.kw);
                let hi = (g.w + g.padding).saturating_sub(ow).clamp(lo, g.kw);
                dst[..lo].fill(zero_point);
                dst[hi..].fill(zero_point);
                dst[lo..hi].copy_from_slice(&line[ow + lo - g.padding..ow + hi - g.padding]);
            } else {
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = g.input_pos(ow, j, g.w).map_or(zero_point, |iw| line[iw]);
                }
            }
        }
    }
}
