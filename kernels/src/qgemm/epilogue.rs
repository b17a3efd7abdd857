//! The integer GEMM's epilogue: a 32-bit sum becomes the layer's output, zero point folded through
//! the weights' column sums, per-output-channel scale, bias, optional ReLU, then f32 or a requantized
//! u8. One function ([`store_tile`]) serves the reference and every packed version, so they cannot
//! round differently. Must not: use FMA or reorder the float operations (bit-exactness between
//! versions rests on each output being the same `mul` then `add`).

use super::lanes::LANES;
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

/// How an accumulator tile is laid out: which output index its rows follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TileOrder {
    /// Row `r` of the tile is output row `i0 + r` (the linear GEMM: A rows broadcast, B columns in
    /// the vector lanes).
    RowsAreI,
    /// Row `c` of the tile is output column `j0 + c` (the conv GEMM: output positions in the vector
    /// lanes, weight columns broadcast).
    RowsAreJ,
}

/// Writes outputs `(i0 + r, j0 + c)` for `r < rows`, `c < cols` from the accumulator tile `acc`,
/// laid out as `order` says with `ld` between its rows (`RowsAreI`: `(i0 + r, j0 + c)` at
/// `acc[r * ld + c]`; `RowsAreJ`: at `acc[c * ld + r]`); `colsum` holds the weights' column sums
/// from column `j0` on. Either order computes each output by the same [`finish`].
///
/// # Safety
/// Every written position must lie inside the validated output view; `acc` must hold every
/// position named above, and `colsum` (and the epilogue's slices from `j0`) `cols` values.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn store_tile(
    epi: &Epilogue,
    colsum: &[i32],
    acc: &[i32],
    (order, ld): (TileOrder, usize),
    (i0, j0): (usize, usize),
    (rows, cols): (usize, usize),
    out: RawOutput,
) {
    let scale = &epi.scale[j0..j0 + cols];
    let bias = epi.bias.map(|b| &b[j0..j0 + cols]);
    let colsum = &colsum[..cols];
    match order {
        TileOrder::RowsAreI => {
            for r in 0..rows {
                let sums = &acc[r * ld..r * ld + cols];
                let value = |c: usize| finish(epi, sums[c], colsum[c], scale[c], bias.map(|b| b[c]));
                write_run(out, (i0 + r, j0), false, cols, value);
            }
        }
        TileOrder::RowsAreJ => {
            for c in 0..cols {
                let sums = &acc[c * ld..c * ld + rows];
                let (cs, s, b) = (colsum[c], scale[c], bias.map(|b| b[c]));
                let value = |r: usize| finish(epi, sums[r], cs, s, b);
                if rows == LANES {
                    // The swapped order's full panels: a run of known length compiles to whole
                    // vectors, kept in registers from the sums to the stored bytes.
                    write_run(out, (i0, j0 + c), true, LANES, value);
                } else {
                    write_run(out, (i0, j0 + c), true, rows, value);
                }
            }
        }
    }
}

/// `relu?(scale * (sum - a_zero_point * colsum) + bias)`: the one place an output value is
/// computed (a `mul` then an `add`, never fused).
#[inline(always)]
fn finish(epi: &Epilogue, sum: i32, colsum: i32, scale: f32, bias: Option<f32>) -> f32 {
    // No overflow: |acc - za * colsum| = |Σ (a - za) b| <= K x 255 x 128 < 2^31 (K <= MAX_K), and
    // za * colsum is bounded the same way.
    let y = (sum - epi.a_zero_point as i32 * colsum) as f32 * scale;
    let y = match bias {
        Some(b) => y + b,
        None => y,
    };
    if epi.relu {
        y.max(0.0)
    } else {
        y
    }
}

/// Stores `len` finished values, `value(t)` at `(i, j)` + t steps along the output's columns, or
/// along its rows if `along_i`.
#[inline(always)]
unsafe fn write_run(out: RawOutput, (i, j): (usize, usize), along_i: bool, len: usize, value: impl Fn(usize) -> f32) {
    match out {
        RawOutput::F32 { ptr, rs, cs } => {
            let (base, step) = (ptr.add(i * rs + j * cs), if along_i { rs } else { cs });
            if step == 1 {
                for t in 0..len {
                    *base.add(t) = value(t);
                }
            } else {
                for t in 0..len {
                    *base.add(t * step) = value(t);
                }
            }
        }
        RawOutput::U8 { ptr, rs, cs, inv_scale, zero_point } => {
            let (base, step) = (ptr.add(i * rs + j * cs), if along_i { rs } else { cs });
            if step == 1 {
                for t in 0..len {
                    *base.add(t) = requantize(value(t), inv_scale, zero_point);
                }
            } else {
                for t in 0..len {
                    *base.add(t * step) = requantize(value(t), inv_scale, zero_point);
                }
            }
        }
    }
}

/// `clamp(round_half_even(y * inv_scale) + zero_point, 0, 255)` (NaN becomes 0).
///
/// The rounding is the 1.5 x 2^23 trick: for |t| <= 2^22, `t + 1.5 x 2^23` rounds t to an integer
/// (half to even, the float addition's own rounding) and holds it in the low mantissa bits, so the
/// bit pattern minus the constant's is `round_half_even(t)` as an integer. t is clamped there first
/// (`max` then `min`, which also send NaN to the lower bound), which changes nothing after the
/// final clamp. Unlike `f32::round_ties_even` (a `rintf` call per element on baseline x86-64) or a
/// float-to-u8 cast (a scalar conversion per element), every step is a lane-wise integer or float
/// operation, so the epilogues that requantize vectorize.
#[inline(always)]
pub fn requantize(y: f32, inv_scale: f32, zero_point: f32) -> u8 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 x 2^23
    const LIMIT: f32 = 4_194_304.0; // 2^22
                                    // Not `clamp`: that keeps NaN, and NaN must land on the lower bound.
    #[allow(clippy::manual_clamp)]
    let t = (y * inv_scale).max(-LIMIT).min(LIMIT);
    let rounded = (t + MAGIC).to_bits() as i32 - MAGIC.to_bits() as i32;
    (rounded + zero_point as i32).clamp(0, 255) as u8
}
