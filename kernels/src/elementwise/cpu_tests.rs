//! Tests of the fast elementwise kernels (`cpu.rs`) against the scalar reference, called directly
//! (never through the global backend switch, which parallel tests would race on): every op on odd
//! sizes, in f32 and f64, for each covered layout pattern (dense, row, column, scalar, either side)
//! and for layouts that must fall back (transposed, middle broadcast), plus sizes above the
//! parallel threshold. Also the comparison helpers the other families' `cpu` tests share.

use super::cpu::{self, Pattern};
use super::{broadcast_layouts, reference, BinaryOp, UnaryOp};
use kiln_tensor::testing::{assert_close, Tol};
use kiln_tensor::{DType, Float, Layout, Rng, Tensor};

/// `|got - want| <= rel * |want| + abs` element by element (NaN equal to NaN), argument order of the
/// fast-kernel tests: the shared `assert_close` with its tolerance spelled out.
pub(crate) fn assert_within<T: kiln_tensor::Element>(got: &[T], want: &[T], rel: f64, abs: f64, what: &str) {
    assert_close(what, got, want, Tol::rel(rel).abs(abs));
}

/// Bit-for-bit equal, NaN equal to NaN.
pub(crate) fn assert_same<T: Float>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g == w || (g.is_nan() && w.is_nan()), "{what}[{i}]: fast {g:?} vs reference {w:?}");
    }
}

/// Uniform values in `[lo, hi)` of `dtype` and `shape`.
pub(crate) fn rand(shape: &[usize], lo: f64, hi: f64, dtype: DType, rng: &mut Rng) -> Tensor {
    Tensor::rand_uniform(shape.to_vec(), lo, hi, dtype, rng)
}

/// A tensor of `shape` read through a non-contiguous layout: transposed when the last two dims are
/// both > 1, else every other element of a larger storage (contiguous anyway if it has <= 1 element).
pub(crate) fn strided(shape: &[usize], lo: f64, hi: f64, dtype: DType, rng: &mut Rng) -> Tensor {
    let r = shape.len();
    if r >= 2 && shape[r - 1] > 1 && shape[r - 2] > 1 {
        let mut s = shape.to_vec();
        s.swap(r - 1, r - 2);
        return rand(&s, lo, hi, dtype, rng).transpose(-1, -2).unwrap();
    }
    let n: usize = shape.iter().product();
    let strides = Layout::contiguous(shape.to_vec()).strides().iter().map(|s| 2 * s).collect();
    let base = rand(&[2 * n + 1], lo, hi, dtype, rng);
    base.with_layout(Layout::new(shape.to_vec().into(), strides, 1).unwrap()).unwrap()
}

const SIZES: [&[usize]; 7] = [&[1], &[7], &[33], &[257], &[3, 7], &[33, 7], &[2, 3, 33]];

pub(crate) fn unary_ops() -> Vec<UnaryOp> {
    use UnaryOp::*;
    vec![Neg, Exp, Log, Sqrt, Abs, Relu, LeakyRelu(0.2), Sigmoid, Tanh, Affine { mul: 1.5, add: -0.25 }, PowScalar(2.5)]
}

/// Tolerance of `op` in `dtype`: f32 exp / tanh / sigmoid run the SIMD approximations (a few
/// ulps, ~1.5e-7 relative each side); everything else is the reference formula, so exact.
pub(crate) fn unary_tol(op: UnaryOp, dtype: DType) -> f64 {
    let approx = matches!(op, UnaryOp::Exp | UnaryOp::Tanh | UnaryOp::Sigmoid);
    if approx && dtype == DType::F32 {
        5e-7
    } else {
        0.0
    }
}

fn check_unary<T: Float>(op: UnaryOp, x: &Tensor, covered: bool, tol: f64) {
    let what = format!("{} {:?} {:?}", op.name(), x.dtype(), x.layout());
    x.with_slice(|s: &[T], l| {
        let want = reference::unary(op, s, l);
        match cpu::unary(op, s, l) {
            Some(got) => {
                assert!(covered, "{what}: should fall back");
                // exp/sigmoid underflow: the SIMD exp flushes results below ~1e-38 to zero.
                assert_close(&what, &got, &want, Tol::rel(tol).abs(if tol > 0.0 { 2e-38 } else { 0.0 }))
            }
            None => assert!(!covered, "{what}: should take the fast path"),
        }
        assert_close(&what, &super::unary(op, x).unwrap().to_vec::<T>().unwrap(), &want, Tol::rel(tol).abs(2e-38));
    })
    .unwrap();
}

#[test]
fn unary_matches_reference_on_every_op_size_and_dtype() {
    let mut rng = Rng::new(1);
    for dtype in [DType::F32, DType::F64] {
        for op in unary_ops() {
            let tol = unary_tol(op, dtype);
            for shape in SIZES {
                // Log / Sqrt / PowScalar see some negatives too: NaN must come out where the reference's does.
                let x = rand(shape, -4.0, 6.0, dtype, &mut rng);
                let xs = strided(shape, -4.0, 6.0, dtype, &mut rng);
                crate::float_dispatch!(dtype, "test", T => {
                    check_unary::<T>(op, &x, true, tol);
                    check_unary::<T>(op, &xs, xs.is_contiguous(), tol);
                    Ok::<(), kiln_tensor::Error>(())
                })
                .unwrap();
            }
        }
        // The edges of the SIMD approximations.
        let edges = Tensor::from_vec(vec![-200.0, -90.0, -87.5, -20.0, 0.0, 20.0, 88.0, 200.0], [8]).unwrap();
        for op in [UnaryOp::Exp, UnaryOp::Sigmoid, UnaryOp::Tanh] {
            crate::float_dispatch!(dtype, "test", T => {
                check_unary::<T>(op, &edges.to_dtype(dtype).unwrap(), true, unary_tol(op, dtype));
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}

fn check_unary_backward<T: Float>(op: UnaryOp, x: &Tensor, g: &Tensor, covered: bool) {
    let y = super::unary(op, x).unwrap();
    let what = format!("{} backward {:?} {:?}", op.name(), x.dtype(), x.layout());
    Tensor::with_slices(&[x, &y, g], |v: &[(&[T], &Layout)]| {
        let want = reference::unary_backward(op, v[0], v[1], v[2]);
        match (cpu::unary_backward(op, v[0], v[1], v[2]), covered) {
            (Some(got), true) => assert_same(&got, &want, &what),
            (None, false) => {}
            (got, _) => panic!("{what}: fast path taken: {}, expected {covered}", got.is_some()),
        }
    })
    .unwrap();
}

#[test]
fn unary_backward_matches_reference_exactly() {
    let mut rng = Rng::new(2);
    for dtype in [DType::F32, DType::F64] {
        for op in unary_ops() {
            for shape in SIZES {
                let (x, g) = (rand(shape, -4.0, 6.0, dtype, &mut rng), rand(shape, -1.0, 1.0, dtype, &mut rng));
                let xs = strided(shape, -4.0, 6.0, dtype, &mut rng);
                crate::float_dispatch!(dtype, "test", T => {
                    check_unary_backward::<T>(op, &x, &g, true);
                    check_unary_backward::<T>(op, &xs, &g, xs.is_contiguous());
                    Ok::<(), kiln_tensor::Error>(())
                })
                .unwrap();
            }
        }
    }
}

pub(crate) const BINARY_OPS: [BinaryOp; 7] =
    [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum, BinaryOp::Minimum];

/// Operand shapes and whether the fast path covers them.
const PAIRS: [(&[usize], &[usize], bool); 16] = [
    (&[7], &[7], true),
    (&[33, 7], &[33, 7], true),
    (&[64, 33], &[33], true),    // bias add: a row
    (&[257], &[9, 257], true),   // the row on the left
    (&[7, 257], &[7, 1], true),  // a column
    (&[7, 1], &[7, 33], true),   // the column on the left
    (&[3, 5, 7], &[7], true),    // a row under two leading dims
    (&[3, 5, 7], &[5, 7], true), // a row of 35
    (&[3, 5, 7], &[3, 5, 1], true),
    (&[3, 5, 7], &[3, 1, 1], true), // a column of 35
    (&[], &[3, 4], true),           // scalars
    (&[3, 4], &[1], true),
    (&[1, 1], &[1, 1], true),
    (&[3, 5, 7], &[5, 1], false), // broadcast in the middle
    (&[3, 1], &[1, 4], false),    // an outer sum: neither side dense
    (&[0, 3], &[3], true),        // empty
];

fn check_binary<T: Float>(op: BinaryOp, a: &Tensor, b: &Tensor, covered: bool) {
    let (shape, al, bl) = broadcast_layouts("test", a, b).unwrap();
    let what = format!("{} {:?} {:?} / {:?}", op.name(), a.dtype(), a.layout(), b.layout());
    let g = Tensor::rand_uniform(shape, -1.0, 1.0, a.dtype(), &mut Rng::new(9));
    Tensor::with_slices(&[a, b, &g], |v: &[(&[T], &Layout)]| {
        let want = reference::binary(op, v[0].0, &al, v[1].0, &bl);
        let (wa, wb) = reference::binary_backward(op, (v[0].0, &al), (v[1].0, &bl), v[2]);
        match (cpu::binary(op, v[0].0, &al, v[1].0, &bl), cpu::binary_backward(op, (v[0].0, &al), (v[1].0, &bl), v[2]))
        {
            (Some(got), Some((ga, gb))) => {
                assert!(covered, "{what}: should fall back");
                assert_same(&got, &want, &what);
                assert_same(&ga, &wa, &format!("{what} grad a"));
                assert_same(&gb, &wb, &format!("{what} grad b"));
            }
            (None, None) => assert!(!covered, "{what}: should take the fast path"),
            _ => panic!("{what}: forward and backward disagree on coverage"),
        }
        assert_same(&super::binary(op, a, b).unwrap().to_vec::<T>().unwrap(), &want, &what);
    })
    .unwrap();
}

#[test]
fn binary_and_backward_match_reference_on_every_pattern() {
    let mut rng = Rng::new(3);
    for dtype in [DType::F32, DType::F64] {
        for op in BINARY_OPS {
            for (sa, sb, covered) in PAIRS {
                // Pow: a base mostly positive, some negatives to compare NaNs.
                let a = rand(sa, -0.5, 3.0, dtype, &mut rng);
                let b = rand(sb, -2.0, 2.0, dtype, &mut rng);
                crate::float_dispatch!(dtype, "test", T => {
                    check_binary::<T>(op, &a, &b, covered);
                    // Ties for maximum / minimum.
                    check_binary::<T>(op, &a, &a, true);
                    Ok::<(), kiln_tensor::Error>(())
                })
                .unwrap();
            }
            // A transposed operand falls back, also beside a dense one; a narrowed (offset) one is dense.
            let at = strided(&[33, 7], -0.5, 3.0, dtype, &mut rng);
            let b = rand(&[7], -2.0, 2.0, dtype, &mut rng);
            let an = rand(&[40, 7], -0.5, 3.0, dtype, &mut rng).narrow(0, 3, 33).unwrap();
            crate::float_dispatch!(dtype, "test", T => {
                check_binary::<T>(op, &at, &b, false);
                check_binary::<T>(op, &at, &an, false);
                check_binary::<T>(op, &an, &b, true);
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}

#[test]
fn large_tensors_split_over_threads_and_still_match() {
    let mut rng = Rng::new(4);
    let n = cpu::PAR_MIN_CHEAP / 600 + 7;
    for dtype in [DType::F32, DType::F64] {
        let a = rand(&[n, 600], -3.0, 3.0, dtype, &mut rng);
        let (row, col) = (rand(&[600], -3.0, 3.0, dtype, &mut rng), rand(&[n, 1], -3.0, 3.0, dtype, &mut rng));
        crate::float_dispatch!(dtype, "test", T => {
            check_binary::<T>(BinaryOp::Add, &a, &row, true);
            check_binary::<T>(BinaryOp::Mul, &col, &a, true);
            check_unary::<T>(UnaryOp::Tanh, &a, true, unary_tol(UnaryOp::Tanh, dtype));
            check_unary::<T>(UnaryOp::LeakyRelu(0.2), &a, true, 0.0);
            check_unary_backward::<T>(UnaryOp::Sigmoid, &a, &a, true);
            Ok::<(), kiln_tensor::Error>(())
        })
        .unwrap();
    }
}

#[test]
fn classify_names_the_patterns() {
    let l = |shape: &[usize], strides: &[usize], offset| {
        Layout::new(shape.to_vec().into(), strides.to_vec(), offset).unwrap()
    };
    assert_eq!(cpu::classify(&l(&[4, 3], &[3, 1], 5)), Some(Pattern::Dense(5)));
    assert_eq!(cpu::classify(&l(&[4, 3], &[0, 1], 2)), Some(Pattern::Row { offset: 2, inner: 3 }));
    assert_eq!(cpu::classify(&l(&[4, 3], &[1, 0], 0)), Some(Pattern::Col { offset: 0, inner: 3 }));
    assert_eq!(cpu::classify(&l(&[4, 3], &[0, 0], 1)), Some(Pattern::Col { offset: 1, inner: 12 }));
    assert_eq!(cpu::classify(&l(&[2, 4, 3], &[0, 3, 1], 0)), Some(Pattern::Row { offset: 0, inner: 12 }));
    assert_eq!(cpu::classify(&l(&[4, 3], &[1, 4], 0)), None); // transposed
    assert_eq!(cpu::classify(&l(&[4, 3], &[6, 1], 0)), None); // every other row
    assert_eq!(cpu::classify(&l(&[2, 4, 3], &[4, 1, 0], 0)), Some(Pattern::Col { offset: 0, inner: 3 }));
    assert_eq!(cpu::classify(&l(&[2, 4, 3], &[1, 0, 0], 0)), Some(Pattern::Col { offset: 0, inner: 12 }));
    assert_eq!(cpu::classify(&l(&[2, 4, 3], &[3, 0, 1], 0)), None); // broadcast in the middle
}

/// Median seconds per call of `f` over ~0.3 s of calls.
pub(crate) fn time(mut f: impl FnMut()) -> f64 {
    f();
    let start = std::time::Instant::now();
    let mut reps = 0;
    while start.elapsed().as_secs_f64() < 0.05 {
        f();
        reps += 1;
    }
    let per_batch = reps.clamp(1, 1000);
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = std::time::Instant::now();
            (0..per_batch).for_each(|_| f());
            t.elapsed().as_secs_f64() / per_batch as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Timings of W1-sized ops, reference against fast, and of 1 vs 2 threads (the parallel
/// thresholds). Release only: `cargo test -p kiln-kernels --release --lib w1_op_timings -- --ignored
/// --nocapture`.
#[test]
#[ignore]
fn w1_op_timings() {
    use crate::optim::{cpu as ocpu, reference as oref, AdamParams};
    use crate::reduce::{cpu as rcpu, reference as rref, ReduceOp};
    let mut rng = Rng::new(7);
    let us = |s: f64| s * 1e6;
    let row = |what: &str, r: f64, f: f64| {
        println!("{what:<44} reference {:>9.1} µs   fast {:>8.1} µs   {:>6.1}x", us(r), us(f), r / f)
    };
    let a = rand(&[64, 512], -2.0, 2.0, DType::F32, &mut rng);
    let b = rand(&[512], -2.0, 2.0, DType::F32, &mut rng);
    let (shape, al, bl) = broadcast_layouts("t", &a, &b).unwrap();
    Tensor::with_slices(&[&a, &b, &a], |v: &[(&[f32], &Layout)]| {
        let (x, xl, y) = (v[0].0, v[0].1, v[1].0);
        let r = time(|| drop(reference::binary(BinaryOp::Add, x, &al, y, &bl)));
        let f = time(|| drop(cpu::binary(BinaryOp::Add, x, &al, y, &bl)));
        row("add [64,512] + [512]", r, f);
        let r = time(|| drop(reference::binary_backward(BinaryOp::Mul, (x, &al), (y, &bl), v[2])));
        let f = time(|| drop(cpu::binary_backward(BinaryOp::Mul, (x, &al), (y, &bl), v[2])));
        row("mul backward [64,512] * [512]", r, f);
        let lr = UnaryOp::LeakyRelu(0.2);
        let r = time(|| drop(reference::unary(lr, x, xl)));
        let f = time(|| drop(cpu::unary(lr, x, xl)));
        row("leaky_relu [64,512]", r, f);
        let r = time(|| drop(reference::unary_backward(lr, v[0], v[0], v[0])));
        let f = time(|| drop(cpu::unary_backward(lr, v[0], v[0], v[0])));
        row("leaky_relu backward [64,512]", r, f);
        let grouped = Layout::contiguous(shape.clone()).permute(&[1, 0]).unwrap();
        let r = time(|| drop(rref::reduce(ReduceOp::Sum, x, &grouped, 512, 64)));
        let f = time(|| drop(rcpu::reduce_leading(ReduceOp::Sum, x, xl, &[0])));
        row("sum over axis 0 of [64,512]", r, f);
        let r = time(|| drop(rref::reduce(ReduceOp::Sum, x, xl, 64, 512)));
        let f = time(|| drop(rcpu::reduce(ReduceOp::Sum, x, xl, 64, 512)));
        row("sum over axis 1 of [64,512]", r, f);
    })
    .unwrap();
    let t = rand(&[128, 784], -3.0, 3.0, DType::F32, &mut rng);
    t.with_slice(|x: &[f32], xl| {
        for op in [UnaryOp::Tanh, UnaryOp::Sigmoid] {
            let r = time(|| drop(reference::unary(op, x, xl)));
            let f = time(|| drop(cpu::unary(op, x, xl)));
            row(&format!("{} [128,784]", op.name()), r, f);
        }
    })
    .unwrap();
    let n = 2_000_000;
    let hp = AdamParams { lr: 2e-4, beta1: 0.5, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false };
    let (mut p, g) = (vec![0.1f32; n], vec![0.01f32; n]);
    let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
    let r = time(|| oref::adam_step(&mut p, &g, &mut m, &mut v, hp, 3));
    let f = time(|| ocpu::adam_step(&mut p, &g, &mut m, &mut v, hp, 3));
    row("adam step, 2M f32 params (one tensor)", r, f);
    // What `adam_update` did before: gather the gradient into a fresh Vec, then the reference step.
    for k in [401_408, n] {
        let gt = Tensor::from_vec(g[..k].to_vec(), [k]).unwrap();
        let r = time(|| oref::adam_step(&mut p[..k], &gt.to_vec::<f32>().unwrap(), &mut m[..k], &mut v[..k], hp, 3));
        let f = time(|| {
            gt.with_slice(|gs: &[f32], _| ocpu::adam_step(&mut p[..k], gs, &mut m[..k], &mut v[..k], hp, 3)).unwrap()
        });
        row(&format!("adam_update path, {k} params (grad copy)"), r, f);
    }

    // Threads: one call on one thread against the same work split in two on a 2-thread pool.
    let pool = crate::denormals::pool_builder(2).build().unwrap();
    let one = crate::denormals::pool_builder(1).build().unwrap();
    for n in [16_384usize, 65_536, 262_144, 1 << 20, 1 << 22] {
        let x = rand(&[n], -2.0, 2.0, DType::F32, &mut rng);
        x.with_slice(|s: &[f32], _| {
            let (h0, h1) = (Layout::contiguous([n / 2]), Layout::contiguous([n - n / 2]));
            let (s0, s1) = (&s[..n / 2], &s[n / 2..]);
            let whole = Layout::contiguous([n]);
            for op in [UnaryOp::Relu, UnaryOp::Tanh] {
                let single = one.install(|| time(|| drop(cpu::unary(op, s, &whole))));
                let split =
                    pool.install(|| time(|| drop(rayon::join(|| cpu::unary(op, s0, &h0), || cpu::unary(op, s1, &h1)))));
                println!(
                    "{:<10} n={n:>8}: 1 thread {:>9.1} µs, 2 threads {:>9.1} µs",
                    op.name(),
                    us(single),
                    us(split)
                );
            }
            let (mut p, mut m, mut v) = (s.to_vec(), vec![0.0f32; n], vec![0.0f32; n]);
            let single = one.install(|| time(|| ocpu::adam_step(&mut p, s, &mut m, &mut v, hp, 3)));
            let split = pool.install(|| {
                time(|| {
                    let (p0, p1) = p.split_at_mut(n / 2);
                    let (m0, m1) = m.split_at_mut(n / 2);
                    let (v0, v1) = v.split_at_mut(n / 2);
                    rayon::join(|| ocpu::adam_step(p0, s0, m0, v0, hp, 3), || ocpu::adam_step(p1, s1, m1, v1, hp, 3));
                })
            });
            println!("{:<10} n={n:>8}: 1 thread {:>9.1} µs, 2 threads {:>9.1} µs", "adam", us(single), us(split));
        })
        .unwrap();
    }
}
