//! Criterion benchmarks of the non-GEMM CPU kernels against their references: elementwise (add,
//! add_row, tanh), softmax, log_softmax, the two sums, and the Adam step, at a W1-sized shape and a
//! large one each. Inputs and versions come from the kernel lab (`kiln_kernels::lab`), the same code
//! `kiln bench kernel` runs, so nothing is written twice; throughput is in bytes, so criterion
//! prints GB/s.
//!
//! ```text
//! cargo bench -p kiln-kernels --bench kernels              # everything
//! cargo bench -p kiln-kernels --bench kernels -- softmax   # one kernel
//! ```
//! For tables with validation and speed-ups use `cargo run --release -- bench kernel <name>`.

use criterion::{BenchmarkId, Criterion, Throughput};
use kiln_kernels::lab::{self, Operands, Problem};
use kiln_tensor::Rng;
use std::time::Duration;

/// (kernel, shapes): one W1-sized, one large.
const BENCHED: &[(&str, &[&str])] = &[
    ("add", &["64x784", "2048x2048"]),
    ("add_row", &["64x784", "2048x2048"]),
    ("tanh", &["64x784", "2048x2048"]),
    ("softmax", &["64x784", "4096x512"]),
    ("log_softmax", &["64x784", "4096x512"]),
    ("sum_last", &["64x784", "4096x512"]),
    ("sum_first", &["64x784", "4096x512"]),
    ("adam", &["401408", "4194304"]),
];

fn benches(c: &mut Criterion) {
    for &(name, shapes) in BENCHED {
        let kernel = lab::find(name).expect("registered kernel");
        for shape in shapes {
            let problem = Problem::parse(shape, kernel).expect("valid shape");
            let mut g = c.benchmark_group(format!("{name}/{problem}"));
            g.throughput(Throughput::Bytes((kernel.work)(&problem) as u64));
            g.warm_up_time(Duration::from_millis(300));
            g.measurement_time(Duration::from_secs(1));
            let mut case = kernel.case(&problem, Operands::Dense, &mut Rng::new(0)).expect("inputs");
            for &version in kernel.versions {
                g.bench_function(BenchmarkId::from_parameter(version), |b| {
                    b.iter(|| case.run(version).expect("validated version runs"))
                });
            }
            g.finish();
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c);
    c.final_summary();
}
