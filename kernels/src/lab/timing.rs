//! Timing one version at one shape: a warm-up, then enough timed runs to fill a time budget (at
//! least a minimum count), reported as the median and minimum time per run. Runs shorter than
//! [`MIN_SAMPLE`] are timed in batches so the clock's own cost stays negligible. Must not: build
//! inputs or validate (the caller does both), or print.

use kiln_tensor::Result;
use std::time::{Duration, Instant};

/// Shortest span timed as one sample; faster runs are repeated inside a sample. `Instant::now`
/// costs ~20-30 ns here, so this keeps its share under 0.2%.
pub const MIN_SAMPLE: Duration = Duration::from_micros(20);

/// How long and how often to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Timed-run budget per (shape, version); the number of runs adapts to fill it.
    pub budget: Duration,
    /// Fewest timed samples, however slow a run is.
    pub min_samples: usize,
    /// Most timed samples, however fast a run is.
    pub max_samples: usize,
    /// Untimed warm-up, about this long (at least one run).
    pub warmup: Duration,
}

impl Plan {
    /// Timed runs filling about `budget` (the lab's default is 0.3 s), at least 5.
    pub fn adaptive(budget: Duration) -> Plan {
        Plan { budget, min_samples: 5, max_samples: 100_000, warmup: budget / 10 }
    }

    /// Exactly 5 samples after one warm-up run: the debug-build smoke run, whose times mean nothing.
    pub fn smoke() -> Plan {
        Plan { budget: Duration::ZERO, min_samples: 5, max_samples: 5, warmup: Duration::ZERO }
    }
}

/// The result of timing one version.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Median time per run.
    pub median: Duration,
    /// Fastest time per run (of a sample).
    pub min: Duration,
    /// Samples timed (each of one or more runs).
    pub samples: usize,
    /// Runs timed (samples x runs per sample).
    pub runs: usize,
}

/// Times `run` as `plan` says. An error from `run` stops the timing and is returned.
pub fn time(plan: &Plan, mut run: impl FnMut() -> Result<()>) -> Result<Timing> {
    // Warm-up: caches, page faults, the thread pool spinning up; also the first estimate of a run.
    let start = Instant::now();
    let mut warm_runs = 0u32;
    let mut fastest = Duration::MAX;
    while warm_runs == 0 || start.elapsed() < plan.warmup {
        let t = Instant::now();
        run()?;
        fastest = fastest.min(t.elapsed());
        warm_runs += 1;
    }
    let per_run = fastest.max(Duration::from_nanos(1));
    let runs_per_sample = (MIN_SAMPLE.as_nanos() / per_run.as_nanos()).max(1) as usize;
    let sample = per_run * runs_per_sample as u32;
    let samples = ((plan.budget.as_nanos() / sample.as_nanos()) as usize).clamp(plan.min_samples, plan.max_samples);

    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        for _ in 0..runs_per_sample {
            run()?;
        }
        times.push(t.elapsed() / runs_per_sample as u32);
    }
    let min = times.iter().copied().min().unwrap_or_default();
    Ok(Timing { median: median(&mut times), min, samples, runs: samples * runs_per_sample })
}

/// The median (the mean of the two middle values for an even count); zero for no values.
pub fn median(values: &mut [Duration]) -> Duration {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}
