//! Tests of the fast softmax / log-softmax (`cpu.rs`) against the scalar reference, called
//! directly: last axis of contiguous inputs (f64 forward exact, f32 within the SIMD exp's error,
//! backward within the rounding of vectorised row sums), odd sizes, huge logits, fallbacks for a
//! middle axis and transposed inputs, and sizes above the parallel threshold.

use super::{cpu, reference};
use crate::elementwise::cpu_tests::{rand, strided};
use kiln_tensor::testing::{assert_close, Tol};
use kiln_tensor::{DType, Float, Layout, Rng, Tensor};

/// Forward and backward of `x` along `axis`, fast against reference; `covered` = fast path applies.
fn check<T: Float>(x: &Tensor, axis: usize, covered: bool) {
    let last = x.rank() - 1;
    let n = x.dims()[axis];
    let xl = x.layout().move_axis(axis, last).unwrap();
    let ol = Layout::contiguous(x.shape().clone()).move_axis(axis, last).unwrap();
    let f32 = x.dtype() == DType::F32;
    let eps = if f32 { f32::EPSILON as f64 } else { f64::EPSILON };
    let g = Tensor::rand_uniform(x.shape().clone(), -1.0, 1.0, x.dtype(), &mut Rng::new(5));
    let gl = g.layout().move_axis(axis, last).unwrap();
    for log in [false, true] {
        let what = format!("log={log} {:?} axis {axis} of {:?}", x.dtype(), x.layout());
        let y = x
            .with_slice(|s: &[T], _| {
                let want = reference::softmax(s, &xl, &ol, n, log);
                match cpu::softmax(s, &xl, &ol, n, log) {
                    // f64: the reference's exp and order, exact; f32: the SIMD exp and partial sums.
                    Some(got) if f32 => assert_close(&what, &got, &want, Tol::rel(1e-6).abs(1e-6)),
                    Some(got) => assert_close(&what, &got, &want, 0.0),
                    None => assert!(!covered, "{what}: should take the fast path"),
                }
                assert!(covered || cpu::softmax(s, &xl, &ol, n, log).is_none(), "{what}: should fall back");
                Tensor::from_vec(want, x.shape().clone()).unwrap()
            })
            .unwrap();
        let yl = y.layout().move_axis(axis, last).unwrap();
        Tensor::with_slices(&[&y, &g], |v: &[(&[T], &Layout)]| {
            let want = reference::softmax_backward((v[0].0, &yl), (v[1].0, &gl), &ol, n, log);
            let fast = cpu::softmax_backward((v[0].0, &yl), (v[1].0, &gl), &ol, n, log);
            // y and g are contiguous here: only the axis decides.
            assert_eq!(fast.is_some(), ol.is_contiguous(), "{what} backward: fast path taken?");
            if let Some(got) = fast {
                // Row sums in partial sums: |error| <= n eps sum|g| (times |y| <= 1); exp on f32.
                let abs = (n * n) as f64 * eps * 2.0 + if f32 { 4e-7 * n as f64 } else { 0.0 };
                assert_close(&format!("{what} backward"), &got, &want, Tol::rel(4.0 * eps).abs(abs));
            }
        })
        .unwrap();
        let through = if log { super::log_softmax(x, axis as isize) } else { super::softmax(x, axis as isize) };
        let want = y.to_vec::<T>().unwrap();
        assert_close(&what, &through.unwrap().to_vec::<T>().unwrap(), &want, Tol::rel(1e-6).abs(1e-6));
    }
}

#[test]
fn softmax_and_backward_match_reference() {
    let mut rng = Rng::new(21);
    for dtype in [DType::F32, DType::F64] {
        for shape in [&[1][..], &[7], &[33], &[3, 7], &[33, 257], &[2, 3, 33], &[5, 1], &[4, 16]] {
            let x = rand(shape, -8.0, 8.0, dtype, &mut rng);
            let xs = strided(shape, -8.0, 8.0, dtype, &mut rng);
            let last = shape.len() - 1;
            crate::float_dispatch!(dtype, "test", T => {
                check::<T>(&x, last, true);
                check::<T>(&xs, last, xs.is_contiguous());
                if last > 0 {
                    // A middle / first axis: covered only if every later dim is 1.
                    check::<T>(&x, 0, shape[1..].iter().all(|&d| d == 1));
                }
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
        // Huge logits stay finite; a row above the parallel threshold splits.
        let big =
            Tensor::from_vec(vec![1000.0, 0.0, -1000.0, 3.0, 88.0, -88.0], [2, 3]).unwrap().to_dtype(dtype).unwrap();
        let rows = crate::cpu_common::PAR_MIN_COSTLY / 257 + 3;
        let large = rand(&[rows, 257], -8.0, 8.0, dtype, &mut rng);
        crate::float_dispatch!(dtype, "test", T => {
            check::<T>(&big, 1, true);
            check::<T>(&large, 1, true);
            Ok::<(), kiln_tensor::Error>(())
        })
        .unwrap();
    }
}

#[test]
fn middle_axis_softmax_matches_reference_and_transposed_views_keep_their_layout() {
    let mut rng = Rng::new(22);
    for dtype in [DType::F32, DType::F64] {
        for (outer, n, inner) in [(1, 1, 2), (2, 7, 3), (3, 33, 17), (1, 300, 40), (4, 5, 1)] {
            let x = rand(&[outer, n, inner], -30.0, 30.0, dtype, &mut rng);
            let xl = x.layout().move_axis(1, 2).unwrap();
            for log in [false, true] {
                let what = format!("log={log} {dtype:?} [{outer}, {n}, {inner}]");
                crate::float_dispatch!(dtype, "test", T => {
                    x.with_slice(|s: &[T], _| {
                        let want = reference::softmax(s, &xl, &xl, n, log);
                        let got = cpu::softmax_middle(s, outer, n, inner, log);
                        // f64: the reference's order and exp, exact; f32: the SIMD exp.
                        let tol = if dtype == DType::F32 { Tol::rel(1e-6).abs(1e-6) } else { Tol::rel(0.0) };
                        assert_close(&what, &got, &want, tol);
                    })
                })
                .unwrap();
            }
        }
        // A view stored [a, c, b], softmax over its last (storage-middle) axis, and over its first.
        let t = rand(&[3, 40, 9], -5.0, 5.0, dtype, &mut rng).transpose(1, 2).unwrap();
        for axis in [2, 0, 1] {
            let y = super::softmax(&t, axis).unwrap();
            assert_eq!(y.strides(), t.strides(), "softmax over {axis} keeps the layout");
            let want = super::softmax(&crate::elementwise::dense(&t).unwrap(), axis).unwrap();
            crate::float_dispatch!(dtype, "test", T => {
                assert_close(&format!("transposed, axis {axis}"), &y.to_vec::<T>().unwrap(), &want.to_vec::<T>().unwrap(), Tol::rel(1e-6).abs(1e-6));
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}
