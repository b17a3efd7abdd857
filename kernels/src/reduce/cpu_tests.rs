//! Tests of the fast reductions (`cpu.rs`) against the scalar reference, called directly: trailing
//! axes (row sums within `n eps sum|x|`, max/min exact, NaN propagation), leading axes (exact, the
//! bias-gradient `sum_to`), leading and trailing together (the conv bias gradient), argmax/argmin
//! with ties and NaNs, fallbacks for transposed inputs and middle axes, f32 and f64, odd sizes, and
//! sizes above the parallel threshold.

use super::{cpu, plan, reference, ReduceOp};
use crate::elementwise::cpu_tests::{assert_same, rand, strided};
use kiln_tensor::{DType, Float, Rng, Tensor};

const OPS: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min];

/// Row sums may round differently from the one-by-one reference: allow `group * eps * sum|x|`
/// (divided by `group` for means). NaN must meet NaN.
fn assert_sum_close<T: Float>(got: &[T], want: &[T], x: &Tensor, axes: &[usize], mean: bool, what: &str) {
    let abs = crate::elementwise::unary(crate::elementwise::UnaryOp::Abs, &x.to_dtype(DType::F64).unwrap()).unwrap();
    let abs = crate::reduce::sum(&abs, &to_isize(axes), false).unwrap().to_vec::<f64>().unwrap();
    let group: usize = axes.iter().map(|&a| x.dims()[a]).product();
    let eps = if x.dtype() == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, ((g, w), a)) in got.iter().zip(want).zip(&abs).enumerate() {
        let tol = group as f64 * eps * a / if mean { group.max(1) as f64 } else { 1.0 };
        let ok = g == w || (g.is_nan() && w.is_nan()) || (g.to_f64() - w.to_f64()).abs() <= tol;
        assert!(ok, "{what}[{i}]: fast {g:?} vs reference {w:?} (tol {tol:e})");
    }
}

fn to_isize(axes: &[usize]) -> Vec<isize> {
    axes.iter().map(|&a| a as isize).collect()
}

/// Compares fast and reference reductions of `x` over `axes`; `covered` = the fast path applies.
fn check<T: Float>(op: ReduceOp, x: &Tensor, axes: &[usize], covered: bool) {
    let p = plan(x, axes, false).unwrap();
    let what = format!("{op:?} {:?} over {axes:?} of {:?}", x.dtype(), x.layout());
    x.with_slice(|s: &[T], l| {
        let want = reference::reduce(op, s, &p.grouped, p.outputs, p.group);
        let rows = cpu::reduce(op, s, &p.grouped, p.outputs, p.group);
        let lead = cpu::reduce_leading(op, s, l, axes);
        let outer = cpu::reduce_outer_inner(op, s, l, axes);
        assert_eq!(rows.is_some() || lead.is_some() || outer.is_some(), covered, "{what}: fast path taken?");
        if let Some(got) = lead {
            assert_same(&got, &want, &what); // the reference's order exactly
        }
        for got in rows.iter().chain(&outer) {
            match op {
                ReduceOp::Sum | ReduceOp::Mean => assert_sum_close(got, &want, x, axes, op == ReduceOp::Mean, &what),
                _ => assert_same(got, &want, &what),
            }
        }
        let through = super::reduce(op, x, &to_isize(axes), false).unwrap().to_vec::<T>().unwrap();
        assert_sum_close(&through, &want, x, axes, op == ReduceOp::Mean, &what);
    })
    .unwrap();
}

/// Shapes and axis sets; whether the fast path covers them when the input is contiguous.
const CASES: [(&[usize], &[usize], bool); 18] = [
    (&[1], &[0], true),
    (&[7], &[0], true),
    (&[257], &[0], true),
    (&[3, 7], &[1], true),
    (&[33, 257], &[1], true),
    (&[33, 257], &[0], true), // the bias gradient
    (&[64, 33], &[0, 1], true),
    (&[2, 3, 33], &[2], true),
    (&[2, 3, 33], &[1, 2], true),
    (&[2, 3, 33], &[0], true),
    (&[2, 3, 33], &[0, 1], true),
    (&[1, 7], &[0], true),
    (&[2, 3, 33], &[1], false),   // a middle axis
    (&[2, 3, 33], &[0, 2], true), // leading and trailing: the conv bias gradient
    (&[7, 33, 1, 7], &[0, 2, 3], true),
    (&[3, 2, 5, 33], &[0, 3], true),
    (&[1, 7, 3, 3], &[0, 2, 3], true),
    (&[2, 3, 4, 5], &[0, 2], false), // a middle axis
];

#[test]
fn reductions_match_reference_on_trailing_and_leading_axes() {
    let mut rng = Rng::new(11);
    for dtype in [DType::F32, DType::F64] {
        for (shape, axes, covered) in CASES {
            let x = rand(shape, -1.0, 1.0, dtype, &mut rng);
            let xs = strided(shape, -1.0, 1.0, dtype, &mut rng);
            for op in OPS {
                crate::float_dispatch!(dtype, "test", T => {
                    check::<T>(op, &x, axes, covered);
                    // A transposed input reduced over the axis that is contiguous in memory is rows too.
                    let rows = plan(&xs, axes, false).unwrap().grouped.is_contiguous();
                    check::<T>(op, &xs, axes, rows || (xs.is_contiguous() && covered));
                    Ok::<(), kiln_tensor::Error>(())
                })
                .unwrap();
            }
        }
    }
}

#[test]
fn nans_propagate_and_empty_groups_follow_the_reference() {
    for dtype in [DType::F32, DType::F64] {
        let mut v: Vec<f64> = (0..3 * 40).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        v[45] = f64::NAN; // row 1, column 5
        let x = Tensor::from_vec(v, [3, 40]).unwrap().to_dtype(dtype).unwrap();
        for op in OPS {
            crate::float_dispatch!(dtype, "test", T => {
                check::<T>(op, &x, &[1], true);
                check::<T>(op, &x, &[0], true);
                check::<T>(op, &x.reshape([3, 4, 10]).unwrap(), &[0, 2], true);
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
        let e = Tensor::zeros([0, 5], dtype);
        for op in [ReduceOp::Sum, ReduceOp::Mean] {
            crate::float_dispatch!(dtype, "test", T => {
                check::<T>(op, &e, &[0], true);
                check::<T>(op, &Tensor::zeros([4, 0], dtype), &[1], true);
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}

fn check_arg<T: Float>(x: &Tensor, axis: usize, covered: bool) {
    let p = plan(x, &[axis], false).unwrap();
    for max in [true, false] {
        let what = format!("arg max={max} {:?} axis {axis} of {:?}", x.dtype(), x.layout());
        x.with_slice(|s: &[T], _| {
            let want = reference::arg_reduce(s, &p.grouped, p.outputs, p.group, max);
            match cpu::arg_reduce(s, &p.grouped, p.outputs, p.group, max) {
                Some(got) => assert_eq!(got, want, "{what}"),
                None => assert!(!covered, "{what}: should take the fast path"),
            }
            let through = super::arg_reduce(x, axis as isize, false, max).unwrap().to_vec::<i64>().unwrap();
            assert_eq!(through, want, "{what}");
        })
        .unwrap();
    }
}

#[test]
fn arg_reductions_match_reference_with_ties_and_nans() {
    let mut rng = Rng::new(12);
    for dtype in [DType::F32, DType::F64] {
        for shape in [&[1][..], &[7], &[33, 7], &[5, 257], &[2, 3, 33]] {
            // Few distinct values: many ties.
            let v: Vec<f64> = (0..shape.iter().product()).map(|_| rng.below(5) as f64).collect();
            let mut nan = v.clone();
            let mid = nan.len() / 2;
            nan[mid] = f64::NAN;
            for vals in [v, nan] {
                let x = Tensor::from_vec(vals, shape.to_vec()).unwrap().to_dtype(dtype).unwrap();
                let last = shape.len() - 1;
                crate::float_dispatch!(dtype, "test", T => {
                    check_arg::<T>(&x, last, true);
                    if last > 0 {
                        check_arg::<T>(&x, 0, false);
                        check_arg::<T>(&strided(shape, 0.0, 3.0, dtype, &mut rng), last, false);
                    }
                    Ok::<(), kiln_tensor::Error>(())
                })
                .unwrap();
            }
        }
    }
}

#[test]
fn large_reductions_split_over_threads_and_still_match() {
    let mut rng = Rng::new(13);
    let rows = crate::cpu_common::PAR_MIN_CHEAP / 600 + 7;
    for dtype in [DType::F32, DType::F64] {
        let x = rand(&[rows, 600], -1.0, 1.0, dtype, &mut rng);
        for op in OPS {
            crate::float_dispatch!(dtype, "test", T => {
                check::<T>(op, &x, &[0], true);
                check::<T>(op, &x, &[1], true);
                check_arg::<T>(&x, 1, true);
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}

#[test]
fn permuted_views_reduce_in_storage_order_over_every_axis_set() {
    // Every permutation of a 3-d block (the layout sweep's transpose among them) and a 4-d NHWC
    // block seen as NCHW, over every non-empty axis set; sums within rounding, max/min exact.
    let mut rng = Rng::new(14);
    let perms: [&[usize]; 6] = [&[0, 1, 2], &[0, 2, 1], &[1, 0, 2], &[1, 2, 0], &[2, 0, 1], &[2, 1, 0]];
    for dtype in [DType::F32, DType::F64] {
        let base = rand(&[5, 37, 9], -1.0, 1.0, dtype, &mut rng);
        let nhwc = rand(&[3, 4, 5, 6], -1.0, 1.0, dtype, &mut rng);
        let mut views: Vec<Tensor> = perms.iter().map(|p| base.permute(p).unwrap()).collect();
        views.push(nhwc.permute(&[0, 3, 1, 2]).unwrap());
        for x in &views {
            let r = x.rank();
            for mask in 1..(1usize << r) {
                let axes: Vec<usize> = (0..r).filter(|d| mask >> d & 1 == 1).collect();
                for op in OPS {
                    crate::float_dispatch!(dtype, "test", T => {
                        let p = plan(x, &axes, false).unwrap();
                        let want = x.with_slice(|s: &[T], _| reference::reduce(op, s, &p.grouped, p.outputs, p.group)).unwrap();
                        let got = super::reduce(op, x, &to_isize(&axes), false).unwrap().to_vec::<T>().unwrap();
                        let what = format!("{op:?} {dtype:?} over {axes:?} of {:?}", x.layout());
                        match op {
                            ReduceOp::Sum | ReduceOp::Mean => assert_sum_close(&got, &want, x, &axes, op == ReduceOp::Mean, &what),
                            _ => assert_same(&got, &want, &what),
                        }
                        Ok::<(), kiln_tensor::Error>(())
                    })
                    .unwrap();
                }
            }
        }
    }
}

#[test]
fn middle_axis_runs_equal_the_reference_exactly() {
    let mut rng = Rng::new(15);
    for dtype in [DType::F32, DType::F64] {
        for (shape, axes) in [(&[2, 3, 33][..], &[1][..]), (&[3, 2, 5, 33], &[1, 2]), (&[4, 7, 1, 5], &[1, 2])] {
            let x = rand(shape, -1.0, 1.0, dtype, &mut rng);
            let p = plan(&x, axes, false).unwrap();
            for op in OPS {
                crate::float_dispatch!(dtype, "test", T => {
                    x.with_slice(|s: &[T], l| {
                        let want = reference::reduce(op, s, &p.grouped, p.outputs, p.group);
                        let got = cpu::reduce_middle(op, s, l, axes).expect("a middle run");
                        assert_same(&got, &want, &format!("{op:?} {dtype:?} {shape:?} over {axes:?}"));
                    })
                })
                .unwrap();
            }
            // Not a middle run: leading, trailing, or split.
            x.with_slice(|s: &[f64], l| {
                assert!(cpu::reduce_middle(ReduceOp::Sum, s, l, &[0]).is_none());
                assert!(cpu::reduce_middle(ReduceOp::Sum, s, l, &[shape.len() - 1]).is_none());
            })
            .ok();
        }
    }
}

#[test]
fn narrowed_views_reduce_in_place_over_every_axis_set() {
    // Rows cut out of wider ones (every dim narrowed from offset 1) are read where they lie, over
    // any axis set; runs too short, or a last dim that is not a run, still gather.
    let mut rng = Rng::new(16);
    for dtype in [DType::F32, DType::F64] {
        let big = rand(&[6, 5, 40], -1.0, 1.0, dtype, &mut rng);
        let narrowed = big.narrow(0, 1, 4).unwrap().narrow(1, 1, 3).unwrap();
        let cases = [
            (narrowed.narrow(2, 1, 37).unwrap(), true, "narrowed"),
            (narrowed.narrow(2, 3, 9).unwrap(), false, "short rows"),
            (narrowed.narrow(2, 1, 37).unwrap().transpose(1, 2).unwrap(), false, "transposed"),
            (narrowed.narrow(1, 1, 1).unwrap().narrow(2, 0, 20).unwrap(), true, "one row"),
        ];
        for (x, in_place, layout) in &cases {
            for axes in [&[2][..], &[1, 2], &[0, 1, 2], &[0], &[0, 2], &[1], &[0, 1]] {
                for op in OPS {
                    crate::float_dispatch!(dtype, "test", T => {
                        let p = plan(x, axes, false).unwrap();
                        x.with_slice(|s: &[T], l| {
                            let want = reference::reduce(op, s, &p.grouped, p.outputs, p.group);
                            let fast = super::runs::reduce_runs(op, s, l, axes);
                            let what = format!("{op:?} {dtype:?} {layout} over {axes:?}");
                            assert_eq!(fast.is_some(), *in_place, "{what}: in place?");
                            let got = super::reduce(op, x, &to_isize(axes), false).unwrap().to_vec::<T>().unwrap();
                            for g in fast.iter().chain([&got]) {
                                match op {
                                    ReduceOp::Sum | ReduceOp::Mean => assert_sum_close(g, &want, x, axes, op == ReduceOp::Mean, &what),
                                    _ => assert_same(g, &want, &what),
                                }
                            }
                        })
                    })
                    .unwrap();
                }
            }
        }
    }
}
