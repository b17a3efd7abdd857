//! Tests of the fast losses (`cpu.rs`) against the scalar reference, called directly: cross-entropy
//! on odd `[N, C]` (f64 exact, f32 within the SIMD exp's error), BCE on probabilities (with PyTorch's
//! clamps at p = 0 and 1) and on logits (exact in both dtypes), fallbacks for transposed operands,
//! and a cross-entropy gradient above the parallel threshold.

use super::{cpu, reference};
use crate::elementwise::cpu_tests::{assert_same, rand, strided};
use kiln_tensor::testing::{assert_close, Tol};
use kiln_tensor::{DType, Float, Layout, Rng, Tensor};

fn check_ce<T: Float>(x: &Tensor, targets: &[usize], covered: bool) {
    let tol = if x.dtype() == DType::F32 { 1e-6 } else { 0.0 };
    let what = format!("cross_entropy {:?} {:?}", x.dtype(), x.layout());
    x.with_slice(|s: &[T], l| {
        let (want, wg) = (
            reference::cross_entropy(s, l, targets),
            reference::cross_entropy_backward(s, l, targets, T::from_f64(0.7)),
        );
        match (cpu::cross_entropy(s, l, targets), cpu::cross_entropy_backward(s, l, targets, T::from_f64(0.7))) {
            (Some(got), Some(gg)) => {
                assert!(covered, "{what}: should fall back");
                assert_close(&what, &[got], &[want], Tol::rel(tol));
                assert_close(&format!("{what} backward"), &gg, &wg, Tol::rel(tol).abs(tol * 1e-2));
            }
            (None, None) => assert!(!covered, "{what}: should take the fast path"),
            _ => panic!("{what}: forward and backward disagree on coverage"),
        }
    })
    .unwrap();
}

#[test]
fn cross_entropy_matches_reference() {
    let mut rng = Rng::new(31);
    for dtype in [DType::F32, DType::F64] {
        let rows = crate::cpu_common::PAR_MIN_COSTLY / 257 + 3;
        for (n, c) in [(1, 1), (1, 7), (7, 3), (33, 10), (64, 257), (rows, 257)] {
            let targets: Vec<usize> = (0..n).map(|_| rng.below(c)).collect();
            let x = rand(&[n, c], -10.0, 10.0, dtype, &mut rng);
            let xs = strided(&[n, c], -10.0, 10.0, dtype, &mut rng);
            crate::float_dispatch!(dtype, "test", T => {
                check_ce::<T>(&x, &targets, true);
                check_ce::<T>(&xs, &targets, xs.is_contiguous());
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
        let huge = Tensor::from_vec(vec![1000.0, 0.0, 0.0, -1000.0], [2, 2]).unwrap().to_dtype(dtype).unwrap();
        crate::float_dispatch!(dtype, "test", T => {
            check_ce::<T>(&huge, &[1, 1], true);
            check_ce::<T>(&huge, &[0, 0], true);
            Ok::<(), kiln_tensor::Error>(())
        })
        .unwrap();
    }
}

type Loss<T> = fn((&[T], &Layout), (&[T], &Layout)) -> T;
type FastLoss<T> = fn((&[T], &Layout), (&[T], &Layout)) -> Option<T>;
type Grad<T> = fn((&[T], &Layout), (&[T], &Layout), T) -> Vec<T>;
type FastGrad<T> = fn((&[T], &Layout), (&[T], &Layout), T) -> Option<Vec<T>>;

/// A BCE-style loss and gradient, fast against reference, exactly; `covered` = fast path applies.
fn check_pair<T: Float>(a: &Tensor, b: &Tensor, fns: (Loss<T>, FastLoss<T>, Grad<T>, FastGrad<T>), covered: bool) {
    let what = format!("{:?} {:?} / {:?}", a.dtype(), a.layout(), b.layout());
    let g = T::from_f64(-1.3);
    Tensor::with_slices(&[a, b], |v: &[(&[T], &Layout)]| {
        let (want, wg) = (fns.0(v[0], v[1]), fns.2(v[0], v[1], g));
        match (fns.1(v[0], v[1]), fns.3(v[0], v[1], g)) {
            (Some(got), Some(gg)) => {
                assert!(covered, "{what}: should fall back");
                assert_same(&[got], &[want], &what);
                assert_same(&gg, &wg, &format!("{what} backward"));
            }
            (None, None) => assert!(!covered, "{what}: should take the fast path"),
            _ => panic!("{what}: forward and backward disagree on coverage"),
        }
    })
    .unwrap();
}

#[test]
fn bce_losses_match_reference_exactly() {
    let mut rng = Rng::new(32);
    for dtype in [DType::F32, DType::F64] {
        for shape in [&[1][..], &[7], &[64, 1], &[33, 7], &[2, 3, 33]] {
            let mut pv = rand(shape, 0.0, 1.0, dtype, &mut rng).to_vec_f64().unwrap();
            pv[0] = 0.0; // the clamps
            if pv.len() > 1 {
                pv[1] = 1.0;
            }
            let p = Tensor::from_vec(pv, shape.to_vec()).unwrap().to_dtype(dtype).unwrap();
            let y = rand(shape, 0.0, 1.0, dtype, &mut rng);
            let x = rand(shape, -30.0, 30.0, dtype, &mut rng);
            let ps = strided(shape, 0.01, 0.99, dtype, &mut rng);
            crate::float_dispatch!(dtype, "test", T => {
                let bce: (Loss<T>, FastLoss<T>, Grad<T>, FastGrad<T>) =
                    (reference::bce, cpu::bce, reference::bce_backward, cpu::bce_backward);
                let logits: (Loss<T>, FastLoss<T>, Grad<T>, FastGrad<T>) = (
                    reference::bce_with_logits,
                    cpu::bce_with_logits,
                    reference::bce_with_logits_backward,
                    cpu::bce_with_logits_backward,
                );
                check_pair::<T>(&p, &y, bce, true);
                check_pair::<T>(&x, &y, logits, true);
                check_pair::<T>(&ps, &y, bce, ps.is_contiguous());
                check_pair::<T>(&y, &ps, logits, ps.is_contiguous());
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}
