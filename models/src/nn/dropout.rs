//! Dropout: in training, zero each element with probability p and scale the rest by 1/(1-p)
//! (inverted dropout, as PyTorch); in evaluation, the identity. The mask stream comes from the
//! layer's own seeded generator, so a run is reproducible for a given seed.

use super::Module;
use kiln_autograd::Var;
use kiln_tensor::{Error, Result, Rng};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub struct Dropout {
    p: f64,
    training: AtomicBool,
    rng: Mutex<Rng>,
}

impl Dropout {
    /// A dropout layer with drop probability `p`. Panics when `p` is outside `[0, 1]` (the
    /// constants of the model zoo); a `p` that comes from input goes through [`Dropout::try_new`].
    pub fn new(p: f64, rng: &mut Rng) -> Dropout {
        Self::try_new(p, rng).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Dropout::new`], or a typed error for a `p` outside `[0, 1]` (NaN included), as
    /// PyTorch's `Dropout(p)` raises at construction rather than at the first forward.
    pub fn try_new(p: f64, rng: &mut Rng) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::hyper("Dropout", "drop probability", p, "in [0, 1]"));
        }
        Ok(Dropout { p, training: AtomicBool::new(true), rng: Mutex::new(rng.fork()) })
    }

    pub fn p(&self) -> f64 {
        self.p
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Var) -> Result<Var> {
        let training = self.training.load(Ordering::Relaxed);
        if !training || self.p == 0.0 {
            return Ok(x.clone());
        }
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        x.dropout(self.p, true, &mut rng)
    }

    fn set_training(&self, training: bool) {
        self.training.store(training, Ordering::Relaxed);
    }

    fn training(&self) -> Option<bool> {
        Some(self.training.load(Ordering::Relaxed))
    }

    fn reseed(&self, seed: u64) {
        *self.rng.lock().unwrap_or_else(|e| e.into_inner()) = Rng::new(seed);
    }

    fn as_layer(&self) -> super::LayerRef<'_> {
        super::LayerRef::Dropout
    }
}
