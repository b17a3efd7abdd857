//! Axis ticks for charts: "nice" steps (1, 2 or 5 times a power of ten), an axis range that starts
//! and ends on a tick, integer-only ticks for counts such as epochs, and labels printed with just
//! the decimals the step needs ("0.25", "40", never "40.000"). Pure arithmetic: no drawing here.

/// The ticks of one axis: the range to draw and the values to mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub lo: f64,
    pub hi: f64,
    pub step: f64,
    pub values: Vec<f64>,
}

impl Ticks {
    /// Ticks covering `[min, max]` with at most `max_ticks` marks. With `integer`, every mark is a
    /// whole number (step at least 1) and the range stays on the data (epochs 1..40 are not padded
    /// out to 0). Otherwise the range widens to the enclosing ticks so the curves never touch the
    /// frame's edge at an unlabelled value.
    pub fn new(min: f64, max: f64, max_ticks: usize, integer: bool) -> Ticks {
        let (mut min, mut max) = if min.is_finite() && max.is_finite() && min <= max { (min, max) } else { (0.0, 1.0) };
        if max - min < 1e-12 * min.abs().max(1.0) {
            let pad = if integer { 1.0 } else { (min.abs() * 0.05).max(0.5) };
            (min, max) = (min - pad, max + pad);
        }
        let step = nice_step((max - min) / max_ticks.max(2).saturating_sub(1) as f64, integer);
        let (lo, hi) = if integer {
            (min, max)
        } else {
            (clean((min / step + 1e-9).floor() * step), clean((max / step - 1e-9).ceil() * step))
        };
        let first = (lo / step - 1e-9).ceil() as i64;
        let last = (hi / step + 1e-9).floor() as i64;
        // Multiplying an integer count by the step keeps labels exact (no 0.30000000000000004).
        let values = (first..=last).map(|k| clean(k as f64 * step)).collect();
        Ticks { lo, hi, step, values }
    }

    /// The label of `v` with as many decimals as the step needs.
    pub fn label(&self, v: f64) -> String {
        format_with_step(v, self.step)
    }
}

/// The smallest of 1, 2, 5 x 10^k that is at least `raw` (at least 1 for integer axes).
fn nice_step(raw: f64, integer: bool) -> f64 {
    let raw = if raw.is_finite() && raw > 0.0 { raw } else { 1.0 };
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|&s| s >= raw * (1.0 - 1e-9));
    let step = step.unwrap_or(10.0 * magnitude);
    if integer {
        step.max(1.0).round()
    } else {
        step
    }
}

/// Rounds away the float noise of `k * step` (and turns -0 into 0).
fn clean(v: f64) -> f64 {
    let r = (v * 1e9).round() / 1e9;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// `v` with the decimals a tick step of `step` needs: 0.05 -> 2 decimals, 5 -> none.
pub fn format_with_step(v: f64, step: f64) -> String {
    let decimals = if step > 0.0 && step.is_finite() { (-step.log10().floor()).clamp(0.0, 9.0) as usize } else { 3 };
    format!("{:.*}", decimals, clean(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ticks_are_whole_numbers() {
        let t = Ticks::new(1.0, 40.0, 10, true);
        assert_eq!(t.step, 5.0);
        assert_eq!((t.lo, t.hi), (1.0, 40.0));
        assert_eq!(t.values, vec![5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 40.0]);
        assert_eq!(t.label(40.0), "40");
        let short = Ticks::new(1.0, 3.0, 10, true);
        assert_eq!(short.values, vec![1.0, 2.0, 3.0]);
        let single = Ticks::new(1.0, 1.0, 10, true);
        assert_eq!(single.values, vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn value_ticks_are_round_and_cover_the_data() {
        let t = Ticks::new(0.426, 0.9312, 8, false);
        assert_eq!(t.step, 0.1);
        assert_eq!((t.lo, t.hi), (0.4, 1.0));
        assert_eq!(t.values, vec![0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        assert_eq!(t.label(0.5), "0.5");
        let pct = Ticks::new(98.12, 99.26, 8, false);
        assert_eq!(pct.step, 0.2);
        assert_eq!(pct.label(98.4), "98.4");
        assert!(pct.lo <= 98.12 && pct.hi >= 99.26);
        let flat = Ticks::new(2.0, 2.0, 6, false);
        assert!(flat.lo < 2.0 && flat.hi > 2.0 && flat.values.len() >= 2);
        let nan = Ticks::new(f64::NAN, 1.0, 6, false);
        assert_eq!((nan.lo, nan.hi), (0.0, 1.0));
    }

    #[test]
    fn labels_use_the_decimals_of_the_step() {
        assert_eq!(format_with_step(0.30000000000000004, 0.05), "0.30");
        assert_eq!(format_with_step(-0.0, 1.0), "0");
        assert_eq!(format_with_step(1250.0, 250.0), "1250");
        assert_eq!(format_with_step(0.002, 0.001), "0.002");
    }
}
