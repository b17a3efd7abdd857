//! The quantization maps: asymmetric u8 for activations (`x ≈ scale (q - zero_point)`, the range
//! stretched to hold 0 so that zero padding and ReLU's zeros are exact) and symmetric s8 for
//! weights (`w ≈ scale q`, q in [-127, 127], one scale per output channel or one per tensor).
//! Must not: observe data or choose ranges (that is `observer.rs`).

use kiln_kernels::qgemm::requantize;
use kiln_tensor::{Error, Result};
use rayon::prelude::*;

const OP: &str = "quantize";

/// Steps of an activation grid over its calibrated range: the whole byte, or 7 bits (PyTorch's
/// `reduce_range`, which lets AVX2's `vpmaddubsw` sum byte pairs without saturating; values beyond
/// the calibrated range still get bytes up to 255, summed exactly on a slower path).
pub const FULL_LEVELS: u8 = 255;
pub const SEVEN_BIT_LEVELS: u8 = 127;

/// Per-tensor affine u8 quantization of activations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActQuant {
    pub scale: f32,
    pub zero_point: u8,
}

impl ActQuant {
    /// The u8 grid over `[lo, hi]` widened to include 0; a degenerate range (all zeros) gets scale 1.
    pub fn from_range(lo: f32, hi: f32) -> Result<ActQuant> {
        ActQuant::from_range_levels(lo, hi, FULL_LEVELS)
    }

    /// As [`ActQuant::from_range`], with `[lo, hi]` spanning `levels` steps (bytes `0..=levels`).
    pub fn from_range_levels(lo: f32, hi: f32, levels: u8) -> Result<ActQuant> {
        if !(lo.is_finite() && hi.is_finite()) || lo > hi {
            return Err(Error::invalid(OP, format!("activation range [{lo}, {hi}] is not a finite interval")));
        }
        if levels == 0 {
            return Err(Error::invalid(OP, "an activation grid needs at least one step"));
        }
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = if hi > lo { (hi - lo) / levels as f32 } else { 1.0 };
        let zero_point = (-lo / scale).round().clamp(0.0, levels as f32) as u8;
        Ok(ActQuant { scale, zero_point })
    }

    /// The grid of `levels` steps over the smallest and largest value of `x` (dynamic
    /// quantization).
    pub fn of(x: &[f32], levels: u8) -> Result<ActQuant> {
        let (lo, hi) = x.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        ActQuant::from_range_levels(lo, hi, levels)
    }

    /// `out[i] = clamp(round(x[i] / scale) + zero_point, 0, 255)`.
    pub fn quantize_into(&self, x: &[f32], out: &mut [u8]) {
        let (inv, zp) = (1.0 / self.scale, self.zero_point as f32);
        out.par_chunks_mut(1 << 14).zip(x.par_chunks(1 << 14)).for_each(|(o, x)| {
            for (q, &v) in o.iter_mut().zip(x) {
                *q = requantize(v, inv, zp);
            }
        });
    }

    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale * (q as f32 - self.zero_point as f32)
    }
}

/// Symmetric s8 weights of a `[rows, row_len]` matrix (rows = output channels).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightQuant {
    pub values: Vec<i8>,
    /// One scale per row, or a single one for the whole tensor.
    pub scales: Vec<f32>,
}

impl WeightQuant {
    /// Quantizes `w` (`rows` rows of equal length) per row or per tensor: scale = max |w| / 127.
    pub fn new(w: &[f32], rows: usize, per_channel: bool) -> Result<WeightQuant> {
        if rows == 0 || !w.len().is_multiple_of(rows) {
            return Err(Error::invalid(OP, format!("{} weights do not split into {rows} rows", w.len())));
        }
        if let Some(bad) = w.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid(OP, format!("weight {bad} is not finite")));
        }
        let row_len = w.len() / rows;
        let max_abs = |s: &[f32]| s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale_of = |m: f32| if m > 0.0 { m / 127.0 } else { 1.0 };
        let scales: Vec<f32> = if per_channel {
            w.chunks(row_len.max(1)).map(|r| scale_of(max_abs(r))).collect()
        } else {
            vec![scale_of(max_abs(w))]
        };
        let values = w
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = scales[if per_channel { i / row_len.max(1) } else { 0 }];
                (v / s).round().clamp(-127.0, 127.0) as i8
            })
            .collect();
        Ok(WeightQuant { values, scales })
    }

    /// The scale of row `r`.
    pub fn scale(&self, r: usize) -> f32 {
        if self.scales.len() == 1 {
            self.scales[0]
        } else {
            self.scales[r]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_are_within_half_a_step() {
        let x: Vec<f32> = (0..1000).map(|i| -1.3 + 4.1 * i as f32 / 999.0).collect();
        let q = ActQuant::from_range(-1.3, 2.8).unwrap();
        let mut u = vec![0u8; x.len()];
        q.quantize_into(&x, &mut u);
        for (&v, &b) in x.iter().zip(&u) {
            assert!((q.dequantize(b) - v).abs() <= q.scale / 2.0 + 1e-6, "{v} -> {b}");
        }
        assert_eq!(q.dequantize(q.zero_point), 0.0, "zero is exact");
        // A 7-bit grid spans the same range in 0..=127, a step twice as coarse.
        let q7 = ActQuant::from_range_levels(-1.3, 2.8, SEVEN_BIT_LEVELS).unwrap();
        q7.quantize_into(&x, &mut u);
        assert_eq!((u[0], u[999]), (0, 127));
        for (&v, &b) in x.iter().zip(&u) {
            assert!((q7.dequantize(b) - v).abs() <= q7.scale / 2.0 + 1e-6, "{v} -> {b}");
        }
        assert!(ActQuant::from_range_levels(0.0, 1.0, 0).is_err());
        let w: Vec<f32> = (0..60).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.01 * (1 + i / 20) as f32).collect();
        for per_channel in [true, false] {
            let wq = WeightQuant::new(&w, 3, per_channel).unwrap();
            for (i, (&v, &b)) in w.iter().zip(&wq.values).enumerate() {
                let s = wq.scale(i / 20);
                assert!((s * b as f32 - v).abs() <= s / 2.0 + 1e-7, "{v} -> {b} (scale {s})");
            }
        }
    }

    #[test]
    fn ranges_hold_zero_and_bad_ranges_are_errors() {
        let q = ActQuant::from_range(0.5, 2.0).unwrap();
        assert_eq!(q.zero_point, 0);
        let q = ActQuant::from_range(-3.0, -1.0).unwrap();
        assert_eq!(q.zero_point, 255);
        assert_eq!(ActQuant::from_range(0.0, 0.0).unwrap().scale, 1.0);
        assert!(ActQuant::from_range(f32::NAN, 1.0).is_err());
        assert!(ActQuant::from_range(2.0, 1.0).is_err());
        assert!(WeightQuant::new(&[1.0, f32::INFINITY], 1, true).is_err());
        assert!(WeightQuant::new(&[1.0, 2.0, 3.0], 2, true).is_err());
    }
}
