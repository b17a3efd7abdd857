//! int8 conv2d: each sample's u8 input unrolled by the f32 conv's own `im2col` (padding filled with
//! the input's zero point, which stands for 0.0), then one integer GEMM per sample,
//! `out[o, p] = epilogue(Σ_r cols[r, p] w[o, r])`, written straight into NCHW. Samples run in
//! parallel over rayon (one thread per GEMM: a sample's GEMM is small, a few MOPs). Must not:
//! quantize (the caller hands u8 activations and packed s8 weights).

use super::{qgemm_with, Epilogue, Output, PackedWeights, OP};
use crate::conv::im2col::im2col;
use crate::conv::ConvGeom;
use crate::gemm::{MatMut, MatRef};
use kiln_tensor::{Error, Layout, Result};
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
    let layout = Layout::contiguous(g.in_shape());
    let per_sample = g.o * p;
    out.par_chunks_mut(per_sample).enumerate().try_for_each_init(
        || vec![x_zero_point; k * p],
        |cols, (s, out)| {
            im2col(g, x, &layout, (s, 1), cols, x_zero_point, |src: &[u8], dst: &mut [u8]| dst.copy_from_slice(src));
            // A = colsᵀ (P x K, read with strides (1, P)); C = outᵀ: out[o * P + p] at (p, o).
            qgemm_with(1, MatRef::new(cols, 1, p), p, weights, epilogue, Output::F32(MatMut::new(out, 1, p)))
        },
    )
}
