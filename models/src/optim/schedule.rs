//! Learning-rate schedules as pure functions of the step (or epoch) count: constant, step decay,
//! and cosine annealing with linear warm-up. The caller decides whether a "step" is a batch or an
//! epoch and calls `Optimizer::set_lr` with the result.

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LrSchedule {
    Constant,
    /// Multiply by `gamma` every `step_size` steps.
    Step {
        step_size: usize,
        gamma: f64,
    },
    /// Linear warm-up from 0 over `warmup` steps, then cosine from the base rate down to `min_lr`
    /// at step `total`.
    Cosine {
        warmup: usize,
        total: usize,
        min_lr: f64,
    },
}

impl LrSchedule {
    pub fn lr_at(&self, base: f64, step: usize) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Step { step_size, gamma } => base * gamma.powi((step / step_size.max(1)) as i32),
            LrSchedule::Cosine { warmup, total, min_lr } => {
                if step < warmup {
                    return base * (step + 1) as f64 / warmup as f64;
                }
                let span = total.saturating_sub(warmup).max(1) as f64;
                let progress = ((step - warmup) as f64 / span).min(1.0);
                min_lr + (base - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_hit_their_landmarks() {
        let s = LrSchedule::Step { step_size: 10, gamma: 0.5 };
        assert_eq!((s.lr_at(1.0, 9), s.lr_at(1.0, 10), s.lr_at(1.0, 25)), (1.0, 0.5, 0.25));
        let c = LrSchedule::Cosine { warmup: 4, total: 104, min_lr: 0.0 };
        assert_eq!(c.lr_at(1.0, 0), 0.25);
        assert_eq!(c.lr_at(1.0, 3), 1.0);
        assert!((c.lr_at(1.0, 4) - 1.0).abs() < 1e-12);
        assert!((c.lr_at(1.0, 54) - 0.5).abs() < 1e-12);
        assert!(c.lr_at(1.0, 104).abs() < 1e-12);
    }
}
