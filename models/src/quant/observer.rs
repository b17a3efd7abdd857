//! Calibration observers: what range of an activation the u8 grid should cover, from the values
//! seen on calibration batches. `MinMax` keeps the extremes (no value is ever clipped, but one
//! outlier stretches the grid for all); `Percentile(p)` takes the p-th and (100 - p)-th percentile
//! of each batch and averages them over batches (clips the rare tail for a finer grid; TensorRT's
//! and PyTorch's `HistogramObserver` make the same trade with a histogram). Must not: quantize.

/// How an observer summarises what it saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ObserverKind {
    MinMax,
    /// The percentile (e.g. 99.99) of each batch, averaged.
    Percentile(f64),
}

impl ObserverKind {
    pub fn name(&self) -> String {
        match self {
            ObserverKind::MinMax => "minmax".into(),
            ObserverKind::Percentile(p) => format!("percentile {p}"),
        }
    }
}

/// A running range estimate for one activation.
#[derive(Debug, Clone)]
pub struct Observer {
    kind: ObserverKind,
    lo: f64,
    hi: f64,
    batches: usize,
}

impl Observer {
    pub fn new(kind: ObserverKind) -> Observer {
        let (lo, hi) = match kind {
            ObserverKind::MinMax => (f64::INFINITY, f64::NEG_INFINITY),
            ObserverKind::Percentile(_) => (0.0, 0.0),
        };
        Observer { kind, lo, hi, batches: 0 }
    }

    /// Takes one batch's values into account (an empty batch is ignored).
    pub fn observe(&mut self, x: &[f32]) {
        if x.is_empty() {
            return;
        }
        match self.kind {
            ObserverKind::MinMax => {
                for &v in x {
                    self.lo = self.lo.min(v as f64);
                    self.hi = self.hi.max(v as f64);
                }
            }
            ObserverKind::Percentile(p) => {
                let mut v = x.to_vec();
                let last = v.len() - 1;
                let rank = |q: f64| ((last as f64) * q / 100.0).round() as usize;
                let hi = *v.select_nth_unstable_by(rank(p), f32::total_cmp).1 as f64;
                let lo = *v.select_nth_unstable_by(rank(100.0 - p), f32::total_cmp).1 as f64;
                self.lo += lo;
                self.hi += hi;
            }
        }
        self.batches += 1;
    }

    /// The range to quantize over, once something was observed.
    pub fn range(&self) -> Option<(f32, f32)> {
        if self.batches == 0 {
            return None;
        }
        Some(match self.kind {
            ObserverKind::MinMax => (self.lo as f32, self.hi as f32),
            ObserverKind::Percentile(_) => {
                ((self.lo / self.batches as f64) as f32, (self.hi / self.batches as f64) as f32)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minmax_keeps_extremes_and_percentile_clips_outliers() {
        let mut batch: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        batch[17] = 100.0;
        let mut mm = Observer::new(ObserverKind::MinMax);
        let mut pc = Observer::new(ObserverKind::Percentile(99.9));
        assert_eq!(mm.range(), None);
        for ob in [&mut mm, &mut pc] {
            ob.observe(&batch);
            ob.observe(&batch[..5000]);
        }
        assert_eq!(mm.range(), Some((0.0, 100.0)));
        let (lo, hi) = pc.range().unwrap();
        // Batch 1's 99.9th percentile is ~0.999, batch 2's ~0.4995: averaged ~0.75; the outlier is gone.
        assert!(lo < 0.001 && (hi - 0.749).abs() < 0.01, "{lo} {hi}");
    }
}
