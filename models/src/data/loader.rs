//! The epoch loop's data side: a [`Loader`] walks an in-memory [`BatchSource`] in a seeded order
//! (a fresh permutation per epoch from `seed` and the epoch number), cuts it into batches (the last
//! partial batch kept or dropped), and builds them on a background thread while the model trains.
//! Every random choice is derived from (seed, epoch, sample index), never from timing, so the batches
//! are identical with or without prefetch. What goes into a batch is the source's business.

use super::error::{DataError, Result};
use kiln_tensor::{Rng, Tensor};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One batch: model inputs, labels, and which samples of the dataset they are.
#[derive(Clone)]
pub struct Batch {
    pub inputs: Tensor,
    pub labels: Tensor,
    pub indices: Vec<usize>,
}

/// Something a loader can cut into batches: `len` samples, any of which it can assemble into a
/// batch. `seeds[i]` seeds every random choice for sample `indices[i]` (augmentation).
pub trait BatchSource: Send + Sync + 'static {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn batch(&self, indices: &[usize], seeds: &[u64]) -> Result<Batch>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoaderOptions {
    pub batch_size: usize,
    /// A new seeded permutation every epoch; false walks the dataset in order.
    pub shuffle: bool,
    /// Drop the last batch when it is smaller than `batch_size`.
    pub drop_last: bool,
    pub seed: u64,
    /// Batches built ahead on a background thread; 0 builds each batch when it is asked for.
    pub prefetch: usize,
}

impl Default for LoaderOptions {
    fn default() -> Self {
        LoaderOptions { batch_size: 64, shuffle: true, drop_last: false, seed: 0, prefetch: 2 }
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit value from three.
fn mix(seed: u64, epoch: u64, stream: u64) -> u64 {
    let mut z = seed;
    for v in [epoch, stream] {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(v.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

pub struct Loader<S: BatchSource> {
    source: Arc<S>,
    opts: LoaderOptions,
}

impl<S: BatchSource> Loader<S> {
    pub fn new(source: S, opts: LoaderOptions) -> Result<Self> {
        if opts.batch_size == 0 {
            return Err(DataError::Config { what: "loader options", msg: "batch_size must be at least 1".into() });
        }
        Ok(Loader { source: Arc::new(source), opts })
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn options(&self) -> &LoaderOptions {
        &self.opts
    }

    /// Batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.source.len(), self.opts.batch_size);
        if self.opts.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The order in which an epoch visits the samples (before dropping a partial last batch).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.source.len()).collect();
        if self.opts.shuffle {
            Rng::new(mix(self.opts.seed, epoch, u64::MAX)).shuffle(&mut order);
        }
        order
    }

    /// Iterates over one epoch's batches, built on a background thread when `prefetch > 0`.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        let plan = Plan { order: self.order(epoch), batch_size: self.opts.batch_size, seed: self.opts.seed, epoch };
        let count = self.batches_per_epoch();
        if self.opts.prefetch == 0 {
            return Epoch { inner: Inner::Inline { source: self.source.clone(), plan, next: 0, count } };
        }
        let (tx, rx) = sync_channel(self.opts.prefetch);
        let source = self.source.clone();
        let handle = std::thread::spawn(move || {
            for k in 0..count {
                let batch = plan.build(&*source, k);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        Epoch { inner: Inner::Prefetch { rx: Some(rx), handle: Some(handle), received: 0, count } }
    }
}

/// What an epoch visits, enough to build its k-th batch from nothing else.
struct Plan {
    order: Vec<usize>,
    batch_size: usize,
    seed: u64,
    epoch: u64,
}

impl Plan {
    fn build(&self, source: &dyn BatchSourceDyn, k: usize) -> Result<Batch> {
        let start = k * self.batch_size;
        let indices = &self.order[start..(start + self.batch_size).min(self.order.len())];
        let seeds: Vec<u64> = indices.iter().map(|&i| mix(self.seed, self.epoch, i as u64)).collect();
        source.batch_dyn(indices, &seeds)
    }
}

/// Object-safe view of a source, so the plan does not need the source's type.
trait BatchSourceDyn {
    fn batch_dyn(&self, indices: &[usize], seeds: &[u64]) -> Result<Batch>;
}

impl<S: BatchSource> BatchSourceDyn for S {
    fn batch_dyn(&self, indices: &[usize], seeds: &[u64]) -> Result<Batch> {
        self.batch(indices, seeds)
    }
}

enum Inner {
    Inline { source: Arc<dyn BatchSourceDyn + Send + Sync>, plan: Plan, next: usize, count: usize },
    Prefetch { rx: Option<Receiver<Result<Batch>>>, handle: Option<JoinHandle<()>>, received: usize, count: usize },
}

/// One epoch's batches, in order. Dropping it early stops the background thread.
pub struct Epoch {
    inner: Inner,
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        match &mut self.inner {
            Inner::Inline { source, plan, next, count } => {
                if *next >= *count {
                    return None;
                }
                *next += 1;
                Some(plan.build(&**source, *next - 1))
            }
            Inner::Prefetch { rx, received, count, .. } => {
                if *received >= *count {
                    return None;
                }
                let item = match rx.as_ref()?.recv() {
                    Ok(item) => item,
                    // The producer only hangs up early if a source panicked: say so, do not end quietly.
                    Err(_) => Err(DataError::Config {
                        what: "loader",
                        msg: format!("the prefetch thread stopped after {received} of {count} batches"),
                    }),
                };
                // After an error the epoch is over: the producer stops at its first error.
                *received = if item.is_ok() { *received + 1 } else { *count };
                Some(item)
            }
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        if let Inner::Prefetch { rx, handle, .. } = &mut self.inner {
            drop(rx.take()); // the producer's next send fails, so it stops
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}
