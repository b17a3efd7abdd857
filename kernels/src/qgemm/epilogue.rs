//! The integer GEMM's epilogue: a 32-bit sum becomes the layer's output, zero point folded through
//! the weights' column sums, per-output-channel scale, bias, optional ReLU, then f32 or a requantized
//! u8. One function ([`store_tile`]) serves the reference and every packed version, so they cannot
//! round differently. Must not: use FMA or reorder the float operations (bit-exactness between
//! versions rests on each output being the same `mul` then `add`).

use super::lanes::LANES;
use super::{check_view, OP};
use crate::gemm::MatMut;
use kiln_tensor::{Error, Result};
use std::ops::Range;

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
    // A local copy: stores through the raw output pointer could alias `*epi`, which would make
    // every output reload its flags and keep the loops scalar.
    let epi = *epi;
    let scale = &epi.scale[j0..j0 + cols];
    let bias = epi.bias.map(|b| &b[j0..j0 + cols]);
    let colsum = &colsum[..cols];
    match order {
        TileOrder::RowsAreI => {
            for r in 0..rows {
                let sums = &acc[r * ld..r * ld + cols];
                // Zipped slices (no bounds checks) with the bias case split out, so the loop
                // vectorizes; scalar, this epilogue cost a tenth of a K = 512 call.
                let fill = |run: Range<usize>, y: &mut [f32]| {
                    let cols = sums[run.clone()].iter().zip(&colsum[run.clone()]).zip(&scale[run.clone()]);
                    match bias {
                        Some(bias) => {
                            for ((y, ((&sum, &cs), &s)), &b) in y.iter_mut().zip(cols).zip(&bias[run]) {
                                *y = finish(&epi, sum, cs, s, Some(b));
                            }
                        }
                        None => {
                            for (y, ((&sum, &cs), &s)) in y.iter_mut().zip(cols) {
                                *y = finish(&epi, sum, cs, s, None);
                            }
                        }
                    }
                };
                write_run(out, (i0 + r, j0), false, cols, fill);
            }
        }
        TileOrder::RowsAreJ => {
            for c in 0..cols {
                let sums = &acc[c * ld..c * ld + rows];
                let (cs, s, b) = (colsum[c], scale[c], bias.map(|b| b[c]));
                let fill = |run: Range<usize>, y: &mut [f32]| {
                    for (y, &sum) in y.iter_mut().zip(&sums[run]) {
                        *y = finish(&epi, sum, cs, s, b);
                    }
                };
                if rows == LANES {
                    // The swapped order's full panels: a run of known length compiles to whole
                    // vectors, kept in registers from the sums to the stored bytes.
                    write_run(out, (i0, j0 + c), true, LANES, fill);
                } else {
                    write_run(out, (i0, j0 + c), true, rows, fill);
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

/// Stores `len` finished values at `(i, j)` + t steps along the output's columns, or along its
/// rows if `along_i`: `fill(run, y)` finishes values `run` into a local buffer (nothing can alias
/// it, so that loop vectorizes), which is then stored.
#[inline(always)]
unsafe fn write_run(
    out: RawOutput,
    (i, j): (usize, usize),
    along_i: bool,
    len: usize,
    fill: impl Fn(Range<usize>, &mut [f32]),
) {
    const CHUNK: usize = 32;
    let mut y = [0f32; CHUNK];
    let mut t0 = 0;
    while t0 < len {
        let n = CHUNK.min(len - t0);
        fill(t0..t0 + n, &mut y[..n]);
        let (i, j) = if along_i { (i + t0, j) } else { (i, j + t0) };
        let step = |rs: usize, cs: usize| if along_i { rs } else { cs };
        match out {
            RawOutput::F32 { ptr, rs, cs } => store_strided(&y[..n], ptr.add(i * rs + j * cs), step(rs, cs), |v| v),
            RawOutput::U8 { ptr, rs, cs, inv_scale, zero_point } => {
                let base = ptr.add(i * rs + j * cs);
                store_strided(&y[..n], base, step(rs, cs), |v| requantize(v, inv_scale, zero_point))
            }
        }
        t0 += n;
    }
}

/// `base[t * step] = convert(values[t])`, with a unit-stride loop the compiler can vectorize.
#[inline(always)]
unsafe fn store_strided<T>(values: &[f32], base: *mut T, step: usize, convert: impl Fn(f32) -> T) {
    if step == 1 {
        for (t, &v) in values.iter().enumerate() {
            *base.add(t) = convert(v);
        }
    } else {
        for (t, &v) in values.iter().enumerate() {
            *base.add(t * step) = convert(v);
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
