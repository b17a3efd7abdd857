//! The integer GEMM's epilogue: a 32-bit sum becomes the layer's output, zero point folded through
//! the weights' column sums, per-output-channel scale, bias, optional ReLU, then f32 or a requantized
//! u8. One function ([`store_tile`]) serves the reference and every packed version, so they cannot
//! round differently. Must not: use FMA or reorder the float operations (bit-exactness between
//! versions rests on each output being the same `mul` then `add`).

use super::{check_view, OP};
use crate::gemm::MatMut;
use kiln_tensor::{Error, Result};

/// What is applied to each 32-bit sum `acc[i, j]`:
/// `y = scale[j] * (acc - a_zero_point * colsum[j]) + bias[j]`, then `max(y, 0)` if `relu`.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// The activations' zero point.
    pub a_zero_point: u8,
    /// Per output column: activation scale x that column's weight scale (n values).
    pub scale: &'a [f32],
    /// Per output column (n values), added after scaling.
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
}

impl Epilogue<'_> {
    pub(crate) fn check(&self, n: usize) -> Result<()> {
        if self.scale.len() != n {
            return Err(Error::invalid(OP, format!("{} scales given for {n} output columns", self.scale.len())));
        }
        if let Some(b) = self.bias {
            if b.len() != n {
                return Err(Error::invalid(OP, format!("{} biases given for {n} output columns", b.len())));
            }
        }
        if let Some(bad) = self.scale.iter().find(|s| !s.is_finite()) {
            return Err(Error::BadHyperParameter { op: OP, name: "scale", value: *bad as f64, expected: "finite" });
        }
        Ok(())
    }
}

/// Where the outputs go.
#[derive(Debug)]
pub enum Output<'a> {
    /// f32 values.
    F32(MatMut<'a, f32>),
    /// `clamp(round_half_even(y / scale) + zero_point, 0, 255)`: the next layer's u8 input.
    U8 { out: MatMut<'a, u8>, scale: f32, zero_point: u8 },
}

impl Output<'_> {
    pub(crate) fn check(&self, m: usize, n: usize) -> Result<()> {
        let (rs, cs, len) = match self {
            Output::F32(c) => (c.rs, c.cs, c.data.len()),
            Output::U8 { out, scale, .. } => {
                if !(scale.is_finite() && *scale > 0.0) {
                    return Err(Error::BadHyperParameter {
                        op: OP,
                        name: "output scale",
                        value: *scale as f64,
                        expected: "finite and > 0",
                    });
                }
                (out.rs, out.cs, out.data.len())
            }
        };
        check_view("the output", m, n, rs, cs, len)?;
        let nested = rs >= n.saturating_mul(cs) || cs >= m.saturating_mul(rs);
        let distinct = match (m > 1, n > 1) {
            (true, true) => rs > 0 && cs > 0 && nested,
            (true, false) => rs > 0,
            (false, true) => cs > 0,
            (false, false) => true,
        };
        if !distinct {
            return Err(Error::invalid(OP, format!("the {m}x{n} output with strides ({rs}, {cs}) overlaps itself")));
        }
        Ok(())
    }

    /// The raw form the driver writes through.
    pub(crate) fn raw(&mut self) -> RawOutput {
        match self {
            Output::F32(c) => RawOutput::F32 { ptr: c.data.as_mut_ptr(), rs: c.rs, cs: c.cs },
            Output::U8 { out, scale, zero_point } => RawOutput::U8 {
                ptr: out.data.as_mut_ptr(),
                rs: out.rs,
                cs: out.cs,
                inv_scale: 1.0 / *scale,
                zero_point: *zero_point as f32,
            },
        }
    }
}

/// A validated output on raw pointers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RawOutput {
    F32 { ptr: *mut f32, rs: usize, cs: usize },
    U8 { ptr: *mut u8, rs: usize, cs: usize, inv_scale: f32, zero_point: f32 },
}

// SAFETY: plain addresses; the driver hands each thread disjoint output tiles.
unsafe impl Send for RawOutput {}
unsafe impl Sync for RawOutput {}

/// Writes outputs `(i0 + r, j0 + c)` for `r < rows`, `c < cols` from the accumulator tile `acc`
/// (row `r` at `acc[r * ld..]`); `colsum` holds the weights' column sums from column `j0` on.
///
/// # Safety
/// Every written position must lie inside the validated output view; `acc` must hold
/// `(rows - 1) * ld + cols` values and `colsum` (and the epilogue's slices from `j0`) `cols`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn store_tile(
    epi: &Epilogue,
    colsum: &[i32],
    acc: &[i32],
    ld: usize,
    (i0, j0): (usize, usize),
    (rows, cols): (usize, usize),
    out: RawOutput,
) {
    let za = epi.a_zero_point as i32;
    let scale = &epi.scale[j0..j0 + cols];
    let colsum = &colsum[..cols];
    let mut row = [0f32; 64];
    for r in 0..rows {
        let sums = &acc[r * ld..r * ld + cols];
        for c0 in (0..cols).step_by(row.len()) {
            let width = (cols - c0).min(row.len());
            let y = &mut row[..width];
            // No overflow: |acc - za * colsum| = |Σ (a - za) b| <= K x 255 x 128 < 2^31 (K <= MAX_K),
            // and za * colsum is bounded the same way.
            for (c, v) in y.iter_mut().enumerate() {
                *v = (sums[c0 + c] - za * colsum[c0 + c]) as f32 * scale[c0 + c];
            }
            if let Some(bias) = epi.bias {
                for (v, b) in y.iter_mut().zip(&bias[j0 + c0..j0 + c0 + width]) {
                    *v += *b;
                }
            }
            if epi.relu {
                for v in y.iter_mut() {
                    *v = v.max(0.0);
                }
            }
            write_row(out, i0 + r, j0 + c0, y);
        }
    }
}

/// Stores one run of finished values at `(i, j..)`.
#[inline(always)]
unsafe fn write_row(out: RawOutput, i: usize, j: usize, y: &[f32]) {
    match out {
        RawOutput::F32 { ptr, rs, cs } => {
            let base = ptr.add(i * rs + j * cs);
            if cs == 1 {
                std::ptr::copy_nonoverlapping(y.as_ptr(), base, y.len());
            } else {
                for (c, v) in y.iter().enumerate() {
                    *base.add(c * cs) = *v;
                }
            }
        }
        RawOutput::U8 { ptr, rs, cs, inv_scale, zero_point } => {
            let base = ptr.add(i * rs + j * cs);
            for (c, v) in y.iter().enumerate() {
                *base.add(c * cs) = requantize(*v, inv_scale, zero_point);
            }
        }
    }
}

/// `clamp(round_half_even(y * inv_scale) + zero_point, 0, 255)` (NaN becomes 0).
///
/// The rounding is the 1.5 x 2^23 trick, exact round-half-to-even for |t| < 2^22 (t is clamped
/// there first, which changes nothing after the final clamp): unlike `f32::round_ties_even`, which
/// is a `rintf` call per element on baseline x86-64, it vectorizes in every caller.
#[inline(always)]
pub fn requantize(y: f32, inv_scale: f32, zero_point: f32) -> u8 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 x 2^23
    let t = (y * inv_scale).clamp(-4_194_304.0, 4_194_304.0);
    (((t + MAGIC) - MAGIC) + zero_point).clamp(0.0, 255.0) as u8
}
