//! Criterion timing of one whole training step of each workload (W1 gan, W2 cnn, W3 sentiment) on
//! random data of DESIGN.md §6's shapes, through the same closures as `kiln bench step`.
//!
//! ```text
//! cargo bench --bench steps                 # all three
//! cargo bench --bench steps -- cnn          # one
//! RAYON_NUM_THREADS=2 MATMUL_NUM_THREADS=2 cargo bench --bench steps
//! ```
//! For the comparison with PyTorch use `kiln bench step <workload> --compare-pytorch`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kiln::models::zoo::bench::Workload;
use std::time::Duration;

fn steps(c: &mut Criterion) {
    // As the `kiln` binary does: keep freed memory for the next step (see kiln_tensor::alloc).
    kiln::tensor::alloc::keep_freed_memory();
    let mut group = c.benchmark_group("step");
    // A W3 step takes a sizeable fraction of a second: few samples, long enough to collect them.
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(3));
    for w in Workload::ALL {
        let mut step = w.step_fn(0, kiln::tensor::Device::Cpu).expect("building the workload");
        group.throughput(Throughput::Elements(w.batch() as u64));
        group.bench_function(w.name(), |b| b.iter(|| step().expect("training step")));
    }
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
