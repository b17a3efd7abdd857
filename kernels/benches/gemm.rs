//! GEMM benchmark: kiln's SGEMM against `matrixmultiply` on square sizes and on the W1 GAN shapes
//! (forward `X Wᵀ`, input gradient `dY W`, weight gradient `dYᵀ X`, laid out as the layers do).
//!
//! ```text
//! cargo bench -p kiln-kernels --bench gemm                    # criterion, both implementations
//! cargo bench -p kiln-kernels --bench gemm -- w1              # criterion, only the W1 groups
//! KILN_GEMM_TABLE= cargo bench -p kiln-kernels --bench gemm   # quick table: GFLOP/s and ratio
//! KILN_GEMM_TABLE=w1-dx cargo bench ...                        # ... of the shapes whose label has "w1-dx"
//! ```
//! Threads: kiln uses rayon's pool (`RAYON_NUM_THREADS`), matrixmultiply its own
//! (`MATMUL_NUM_THREADS`); set both to compare like with like, e.g. both 1 for one core. The table
//! also prints the measured single-core FMA peak.

use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use kiln_kernels::gemm::{gemm_with, GemmImpl, GemmOptions, MatMut, MatRef};
use kiln_kernels::simd;
use std::time::{Duration, Instant};

/// One benchmarked product: `m x k` times `k x n`, A and B transposed in memory or not.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    a_t: bool,
    b_t: bool,
}

fn square(s: usize) -> Shape {
    Shape { name: "square", m: s, k: s, n: s, a_t: false, b_t: false }
}

/// W1: G 100-256-512-784, D 784-512-256-1, batch 64; per layer the three GEMMs of a training step.
fn w1_shapes() -> Vec<Shape> {
    let layers = [(100, 256), (256, 512), (512, 784), (784, 512), (512, 256), (256, 1)];
    let mut v = Vec::new();
    for (i, o) in layers {
        v.push(Shape { name: "w1-fwd", m: 64, k: i, n: o, a_t: false, b_t: true });
        v.push(Shape { name: "w1-dx", m: 64, k: o, n: i, a_t: false, b_t: false });
        v.push(Shape { name: "w1-dw", m: o, k: 64, n: i, a_t: true, b_t: false });
    }
    v
}

struct Operands {
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Shape {
    fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n) as f64
    }
    fn label(&self) -> String {
        format!("{}/{}x{}x{}", self.name, self.m, self.k, self.n)
    }
    fn operands(&self) -> Operands {
        let fill = |n: usize| (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 500.0).collect();
        Operands { a: fill(self.m * self.k), b: fill(self.k * self.n), c: vec![0.0; self.m * self.n] }
    }
    fn run(&self, imp: GemmImpl, o: &mut Operands) {
        let Shape { m, k, n, .. } = *self;
        let a = if self.a_t { MatRef::col_major(&o.a, m) } else { MatRef::row_major(&o.a, k) };
        let b = if self.b_t { MatRef::col_major(&o.b, k) } else { MatRef::row_major(&o.b, n) };
        let opts = GemmOptions { imp, ..GemmOptions::default() };
        gemm_with(opts, m, k, n, 1.0, a, b, 0.0, MatMut::row_major(&mut o.c, n)).unwrap();
        black_box(&o.c);
    }
}

fn shapes() -> Vec<Shape> {
    let mut v: Vec<Shape> = [128, 256, 512, 1024, 2048].into_iter().map(square).collect();
    v.extend(w1_shapes());
    v
}

const IMPLS: [GemmImpl; 2] = [GemmImpl::Kiln, GemmImpl::MatrixMultiply];

fn criterion_benches(c: &mut Criterion) {
    for s in shapes() {
        let mut g = c.benchmark_group(format!("gemm/{}", s.label()));
        g.throughput(Throughput::Elements(s.flops() as u64)); // "elements/s" = FLOP/s
        g.warm_up_time(Duration::from_millis(300));
        g.measurement_time(Duration::from_secs(if s.flops() > 1e9 { 4 } else { 1 }));
        g.sample_size(if s.flops() > 1e9 { 10 } else { 30 });
        let mut o = s.operands();
        for imp in IMPLS {
            g.bench_function(BenchmarkId::from_parameter(imp.name()), |bench| bench.iter(|| s.run(imp, &mut o)));
        }
        g.finish();
    }
}

/// Best-of time per call in seconds, running for about `budget`.
fn best_time(s: &Shape, imp: GemmImpl, o: &mut Operands, budget: Duration) -> f64 {
    s.run(imp, o);
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < 3 || start.elapsed() < budget {
        let t = Instant::now();
        s.run(imp, o);
        best = best.min(t.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

fn table() {
    let threads = rayon::current_num_threads();
    let mm = std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!("SIMD {:?}; kiln threads {threads}, matrixmultiply threads {mm}", simd::isa());
    let peak = simd::peak::peak_gflops(simd::isa(), 1.0);
    println!("single-core FMA peak ({:?}, register-only loop): {peak:.1} GFLOP/s", simd::isa());
    println!("{:<26} {:>10} {:>10} {:>7}", "shape (m x k x n)", "kiln", "mm", "ratio");
    let (mut w1_kiln, mut w1_mm) = (0.0, 0.0);
    let filter = std::env::var("KILN_GEMM_TABLE").unwrap_or_default();
    for s in shapes().into_iter().filter(|s| s.label().contains(filter.as_str())) {
        let mut o = s.operands();
        let budget = Duration::from_millis(if s.flops() > 1e9 { 1500 } else { 400 });
        let tk = best_time(&s, GemmImpl::Kiln, &mut o, budget);
        let tm = best_time(&s, GemmImpl::MatrixMultiply, &mut o, budget);
        if s.name.starts_with("w1") {
            w1_kiln += tk;
            w1_mm += tm;
        }
        let g = |t: f64| s.flops() / t / 1e9;
        println!("{:<26} {:>10.1} {:>10.1} {:>6.2}x", s.label(), g(tk), g(tm), tm / tk);
    }
    println!(
        "W1 step GEMMs total: kiln {:.1} us, matrixmultiply {:.1} us ({:.2}x)",
        w1_kiln * 1e6,
        w1_mm * 1e6,
        w1_mm / w1_kiln
    );
}

fn main() {
    if std::env::var_os("KILN_GEMM_TABLE").is_some() {
        return table();
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
