//! GEMM tests: every implementation, SIMD path and thread count against the f64 reference on random
//! shapes (odd sizes 1, 7, 33, 257 and the W1 shapes), all four transpose combinations, sub-matrix
//! views with padding (poisoned with NaN so a stray read shows), broadcast inputs, general-strided
//! and column-major outputs, alpha/beta != 1/0, plus argument validation.

use super::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// How a logical `rows x cols` matrix is laid out in memory.
#[derive(Debug, Clone, Copy)]
enum Lay {
    /// Row-major with `pad` extra elements per row (a sub-matrix view when pad > 0).
    Row(usize),
    /// Column-major with `pad` extra elements per column (the transpose of a row-major matrix).
    Col(usize),
    /// Neither stride 1: every other row and every third column of a bigger matrix.
    Strided,
    /// Every row is the same (row stride 0), as a broadcast input would be.
    BroadcastRows,
}

/// Lays out `m` (row-major `rows x cols`) as `lay`, unused slots filled with `fill`.
fn place(m: &[f32], rows: usize, cols: usize, lay: Lay, fill: f32) -> (Vec<f32>, usize, usize) {
    let (rs, cs, len) = match lay {
        Lay::Row(pad) => (cols + pad, 1, rows * (cols + pad)),
        Lay::Col(pad) => (1, rows + pad, cols * (rows + pad)),
        Lay::Strided => (6 * cols + 1, 3, rows * (6 * cols + 1)),
        Lay::BroadcastRows => (0, 1, cols),
    };
    let mut data = vec![fill; len.max(1)];
    let rows_stored = if matches!(lay, Lay::BroadcastRows) { rows.min(1) } else { rows };
    for i in 0..rows_stored {
        for j in 0..cols {
            data[i * rs + j * cs] = m[i * cols + j];
        }
    }
    (data, rs, cs)
}

struct Case {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Case {
    fn new(m: usize, k: usize, n: usize, seed: u64) -> Case {
        let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        Case { m, k, n, a: r.vec(m * k), b: r.vec(k * n), c: r.vec(m * n) }
    }

    /// With `BroadcastRows` A (or B), every row of the logical matrix is row 0.
    fn logical(&self, la: Lay, lb: Lay) -> (Vec<f32>, Vec<f32>) {
        let bcast = |v: &[f32], rows: usize, cols: usize, lay: Lay| match lay {
            Lay::BroadcastRows => (0..rows).flat_map(|_| v[..cols].iter().copied()).collect(),
            _ => v.to_vec(),
        };
        (bcast(&self.a, self.m, self.k, la), bcast(&self.b, self.k, self.n, lb))
    }

    /// The f64 reference result and, per element, the error bound (k + 2) eps (|alpha| |A||B| + |beta C|).
    fn expected(&self, alpha: f32, beta: f32, la: Lay, lb: Lay) -> (Vec<f64>, Vec<f64>) {
        let (a, b) = self.logical(la, lb);
        let (m, k, n) = (self.m, self.k, self.n);
        let w = |v: &[f32], f: fn(f64) -> f64| v.iter().map(|x| f(*x as f64)).collect::<Vec<f64>>();
        let mut want = w(&self.c, |x| x);
        reference::gemm(
            m,
            k,
            n,
            alpha as f64,
            (&w(&a, |x| x), k, 1),
            (&w(&b, |x| x), n, 1),
            beta as f64,
            (&mut want, n, 1),
        );
        let mut bound = w(&self.c, f64::abs);
        let beta_abs = if beta == 0.0 { 0.0 } else { beta.abs() as f64 };
        reference::gemm(
            m,
            k,
            n,
            alpha.abs() as f64,
            (&w(&a, f64::abs), k, 1),
            (&w(&b, f64::abs), n, 1),
            beta_abs,
            (&mut bound, n, 1),
        );
        let eps = (k as f64 + 2.0) * f32::EPSILON as f64;
        (want, bound.into_iter().map(|x| x * eps + 1e-30).collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn run(&self, opts: GemmOptions, alpha: f32, beta: f32, la: Lay, lb: Lay, lc: Lay, want: &(Vec<f64>, Vec<f64>)) {
        let (m, k, n) = (self.m, self.k, self.n);
        let (a, rsa, csa) = place(&self.a, m, k, la, f32::NAN);
        let (b, rsb, csb) = place(&self.b, k, n, lb, f32::NAN);
        const SENTINEL: f32 = 12345.0;
        // beta == 0 must not read C: poison it with NaN then.
        let c0: Vec<f32> = if beta == 0.0 { vec![f32::NAN; m * n] } else { self.c.clone() };
        let (mut c, rsc, csc) = place(&c0, m, n, lc, SENTINEL);
        let before = c.clone();
        gemm_with(
            opts,
            m,
            k,
            n,
            alpha,
            MatRef::new(&a, rsa, csa),
            MatRef::new(&b, rsb, csb),
            beta,
            MatMut::new(&mut c, rsc, csc),
        )
        .unwrap();
        let ctx = format!("{opts:?} m={m} k={k} n={n} alpha={alpha} beta={beta} A {la:?} B {lb:?} C {lc:?}");
        let mut inside = vec![false; c.len()];
        for i in 0..m {
            for j in 0..n {
                let at = i * rsc + j * csc;
                inside[at] = true;
                let (got, w, tol) = (c[at] as f64, want.0[i * n + j], want.1[i * n + j]);
                assert!((got - w).abs() <= tol, "{ctx}: C[{i},{j}] = {got}, want {w} (tol {tol:e})");
            }
        }
        for (idx, v) in c.iter().enumerate() {
            assert!(inside[idx] || v.to_bits() == before[idx].to_bits(), "{ctx}: wrote outside C at {idx}");
        }
    }
}

fn isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|i| {
            if !i.is_supported() {
                println!("NOTICE: skipping the {i:?} GEMM path, this CPU lacks it");
            }
            i.is_supported()
        })
        .collect()
}

fn kiln(isa: Isa, threads: usize) -> GemmOptions {
    GemmOptions { imp: GemmImpl::Kiln, isa, threads }
}

const TRANSPOSES: [(Lay, Lay); 4] =
    [(Lay::Row(0), Lay::Row(0)), (Lay::Row(0), Lay::Col(0)), (Lay::Col(0), Lay::Row(0)), (Lay::Col(0), Lay::Col(0))];

#[test]
fn odd_shapes_all_transposes_every_path() {
    let sizes = [1, 2, 7, 33, 257];
    let mut seed = 1;
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                seed += 1;
                let case = Case::new(m, k, n, seed);
                let (alpha, beta) = if seed % 2 == 0 { (1.0, 0.0) } else { (-0.75, 1.5) };
                let want = case.expected(alpha, beta, Lay::Row(0), Lay::Row(0));
                for isa in isas() {
                    for (la, lb) in TRANSPOSES {
                        case.run(kiln(isa, 1), alpha, beta, la, lb, Lay::Row(0), &want);
                    }
                }
            }
        }
    }
}

#[test]
fn views_padding_and_output_layouts() {
    let layouts = [Lay::Row(3), Lay::Col(5), Lay::Strided];
    for (s, &(m, k, n)) in
        [(13, 33, 70), (40, 7, 33), (100, 300, 1), (1, 50, 65), (65, 1, 40), (37, 260, 129)].iter().enumerate()
    {
        let case = Case::new(m, k, n, 100 + s as u64);
        let want = case.expected(0.5, -2.0, Lay::Row(0), Lay::Row(0));
        for isa in isas() {
            for la in layouts {
                for lb in layouts {
                    for lc in layouts {
                        case.run(kiln(isa, 2), 0.5, -2.0, la, lb, lc, &want);
                    }
                }
            }
        }
    }
}

#[test]
fn broadcast_inputs() {
    for &(m, k, n) in &[(9, 20, 40), (64, 100, 256), (30, 1, 17), (1, 33, 8), (20, 70, 1)] {
        let case = Case::new(m, k, n, 7);
        for (la, lb) in
            [(Lay::BroadcastRows, Lay::Row(0)), (Lay::Row(0), Lay::BroadcastRows), (Lay::BroadcastRows, Lay::Col(2))]
        {
            let want = case.expected(1.0, 0.5, la, lb);
            for isa in isas() {
                case.run(kiln(isa, 2), 1.0, 0.5, la, lb, Lay::Row(0), &want);
            }
        }
    }
}

/// The W1 GAN shapes (m x k x n), forward and both backward products, as the layers lay them out:
/// forward `X Wᵀ` (W is [out, in]), input gradient `dY W`, weight gradient `dYᵀ X`.
pub(crate) const W1_LAYERS: [(usize, usize, usize); 6] =
    [(64, 100, 256), (64, 256, 512), (64, 512, 784), (64, 784, 512), (64, 512, 256), (64, 256, 1)];

#[test]
fn w1_shapes_on_every_path_and_thread_count() {
    for (s, &(batch, fan_in, fan_out)) in W1_LAYERS.iter().enumerate() {
        // (m, k, n, A layout, B layout)
        let products = [
            (batch, fan_in, fan_out, Lay::Row(0), Lay::Col(0)),
            (batch, fan_out, fan_in, Lay::Row(0), Lay::Row(0)),
            (fan_out, batch, fan_in, Lay::Col(0), Lay::Row(0)),
        ];
        for (p, &(m, k, n, la, lb)) in products.iter().enumerate() {
            let case = Case::new(m, k, n, (10 * s + p) as u64);
            let want = case.expected(1.0, 1.0, la, lb);
            for isa in isas() {
                for threads in [1, 2] {
                    case.run(kiln(isa, threads), 1.0, 1.0, la, lb, Lay::Row(0), &want);
                }
            }
            let mm = GemmOptions { imp: GemmImpl::MatrixMultiply, isa: Isa::Scalar, threads: 0 };
            case.run(mm, 1.0, 1.0, la, lb, Lay::Row(0), &want);
        }
    }
}

#[test]
fn large_blocked_problem_crosses_every_block_boundary() {
    // m > MC, k > KC, n > NC so every loop of the nest runs more than once, with edge tiles.
    let (m, k, n) = (MC + 13, KC * 2 + 5, NC + 37);
    let case = Case::new(m, k, n, 99);
    let want = case.expected(1.0, 0.25, Lay::Row(0), Lay::Row(0));
    let best = isas()[0];
    for (la, lb) in TRANSPOSES {
        case.run(kiln(best, 2), 1.0, 0.25, la, lb, Lay::Row(0), &want);
    }
    case.run(kiln(best, 2), 1.0, 0.25, Lay::Row(0), Lay::Row(0), Lay::Col(0), &want);
}

#[test]
fn every_implementation_agrees() {
    let case = Case::new(21, 35, 19, 5);
    let want = case.expected(2.0, -1.0, Lay::Row(0), Lay::Row(0));
    for imp in GemmImpl::ALL {
        let opts = GemmOptions { imp, isa: simd::isa(), threads: 0 };
        for (la, lb) in TRANSPOSES {
            case.run(opts, 2.0, -1.0, la, lb, Lay::Col(1), &want);
        }
    }
}

#[test]
fn dgemm_matches_the_reference() {
    let (m, k, n) = (17, 29, 11);
    let mut r = Rng(3);
    let a: Vec<f64> = (0..m * k).map(|_| r.next() as f64).collect();
    let b: Vec<f64> = (0..k * n).map(|_| r.next() as f64).collect();
    let mut want = vec![1.0; m * n];
    reference::gemm(m, k, n, 0.5, (&a, 1, m), (&b, n, 1), 2.0, (&mut want, n, 1));
    for imp in GemmImpl::ALL {
        let mut c = vec![1.0; m * n];
        let opts = GemmOptions { imp, ..GemmOptions::default() };
        gemm_with(
            opts,
            m,
            k,
            n,
            0.5,
            MatRef::col_major(&a, m),
            MatRef::row_major(&b, n),
            2.0,
            MatMut::row_major(&mut c, n),
        )
        .unwrap();
        for (g, w) in c.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{imp:?}: {g} vs {w}");
        }
    }
}

#[test]
fn empty_and_zero_k_problems() {
    let a = [1.0f32; 6];
    for isa in isas() {
        let opts = kiln(isa, 0);
        let mut c = [f32::NAN; 6];
        // k = 0, beta = 0: C is zeroed (not left NaN).
        gemm_with(
            opts,
            2,
            0,
            3,
            1.0,
            MatRef::row_major(&a, 0),
            MatRef::row_major(&a, 3),
            0.0,
            MatMut::row_major(&mut c, 3),
        )
        .unwrap();
        assert_eq!(c, [0.0; 6]);
        let mut c = [2.0f32; 6];
        gemm_with(
            opts,
            2,
            0,
            3,
            1.0,
            MatRef::row_major(&[], 0),
            MatRef::row_major(&[], 3),
            3.0,
            MatMut::row_major(&mut c, 3),
        )
        .unwrap();
        assert_eq!(c, [6.0; 6]);
        // m = 0 and n = 0 touch nothing, even with empty slices.
        gemm_with(
            opts,
            0,
            4,
            3,
            1.0,
            MatRef::row_major(&[], 4),
            MatRef::row_major(&[1.0; 12], 3),
            0.0,
            MatMut::row_major(&mut [], 3),
        )
        .unwrap();
        gemm_with(
            opts,
            2,
            3,
            0,
            1.0,
            MatRef::row_major(&a, 3),
            MatRef::row_major(&[], 0),
            0.0,
            MatMut::row_major(&mut [], 0),
        )
        .unwrap();
    }
}

#[test]
fn bad_views_are_errors_not_panics() {
    let a = [1.0f32; 6];
    let b = [1.0f32; 6];
    let mut c = [0.0f32; 4];
    // C (2 x 2) = A (2 x k) B (k x 2) through the given views.
    let call = |k: usize, a: MatRef<f32>, b: MatRef<f32>, c: MatMut<f32>| {
        gemm_with(GemmOptions::default(), 2, k, 2, 1.0, a, b, 0.0, c)
    };
    // A claims 2 x 4 but has 6 elements.
    let e = call(4, MatRef::row_major(&a, 4), MatRef::row_major(&b, 2), MatMut::row_major(&mut c, 2));
    assert!(matches!(e, Err(GemmError::OutOfBounds { operand: "a", .. })), "{e:?}");
    let e = call(3, MatRef::row_major(&a, 3), MatRef::new(&b, 2, 4), MatMut::row_major(&mut c, 2));
    assert!(matches!(e, Err(GemmError::OutOfBounds { operand: "b", .. })), "{e:?}");
    let e = call(3, MatRef::row_major(&a, 3), MatRef::row_major(&b, 2), MatMut::row_major(&mut c, 3));
    assert!(matches!(e, Err(GemmError::OutOfBounds { operand: "c", .. })), "{e:?}");
    // Overflowing strides.
    let e = call(3, MatRef::new(&a, usize::MAX, 1), MatRef::row_major(&b, 2), MatMut::row_major(&mut c, 2));
    assert!(matches!(e, Err(GemmError::OutOfBounds { operand: "a", .. })), "{e:?}");
    // C rows that overlap (row stride 1 < 2 columns), and a broadcast C.
    let e = call(3, MatRef::row_major(&a, 3), MatRef::row_major(&b, 2), MatMut::new(&mut c, 1, 1));
    assert!(matches!(e, Err(GemmError::OverlappingOutput { .. })), "{e:?}");
    let e = call(3, MatRef::row_major(&a, 3), MatRef::row_major(&b, 2), MatMut::new(&mut c, 0, 1));
    assert!(matches!(e, Err(GemmError::OverlappingOutput { .. })), "{e:?}");
    let err: kiln_tensor::Error = e.unwrap_err().into();
    assert!(err.to_string().contains("overlap"));
}

#[test]
fn selection_parses_names() {
    assert_eq!(GemmImpl::parse("matrixmultiply"), Some(GemmImpl::MatrixMultiply));
    assert_eq!(GemmImpl::parse(" Kiln "), Some(GemmImpl::Kiln));
    assert_eq!(GemmImpl::parse("blas"), None);
    assert!(GemmImpl::ALL.contains(&gemm_impl()));
}

#[test]
fn parallel_calls_from_inside_and_outside_the_pool() {
    use rayon::prelude::*;
    // 5 MFLOP: enough for two threads.
    let case = Case::new(96, 130, 200, 42);
    let want = case.expected(1.0, 0.5, Lay::Row(0), Lay::Col(0));
    let best = isas()[0];
    let go = || case.run(kiln(best, 2), 1.0, 0.5, Lay::Row(0), Lay::Col(0), Lay::Row(0), &want);
    // Back to back from a plain thread: parts go to lingering helpers.
    for _ in 0..20 {
        go();
    }
    // From a pool thread, alone and from several pool tasks at once (nested parallelism).
    let pool = crate::denormals::pool_builder(2).build().unwrap();
    pool.install(go);
    pool.install(|| (0..6).into_par_iter().for_each(|_| go()));
    (0..6).into_par_iter().for_each(|_| go());
}
