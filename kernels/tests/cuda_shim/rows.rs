//! reduce.cu (both versions) and softmax.cu against kiln_kernels' reduce and softmax references,
//! on contiguous rows and on narrowed column views (row stride > row length, offset).

use crate::common::*;
use kiln_kernels::cuda::reduce::{arg_reduce_rows, reduce_cols, reduce_rows, Version};
use kiln_kernels::cuda::softmax::{softmax_backward_rows, softmax_rows};
use kiln_kernels::cuda::Rows;
use kiln_kernels::reduce::reference::{arg_reduce, reduce, ReduceOp};
use kiln_kernels::softmax::reference as sm;
use kiln_tensor::{Layout, Rng};

/// (rows, n): odd sizes, a row longer than the 256-thread block, and an empty row.
const SHAPES: &[(usize, usize)] = &[(1, 1), (1, 7), (3, 33), (7, 1), (5, 300), (2, 0)];

/// The matrix as a layout for the references, and as `Rows` for the kernels.
fn views(rows: usize, n: usize) -> Vec<(&'static str, usize, Layout)> {
    let wide = Layout::contiguous(vec![rows, n + 3]).narrow(1, 2, n).unwrap();
    vec![("contiguous", rows * n, Layout::contiguous(vec![rows, n])), ("narrowed", rows * (n + 3), wide)]
}

#[test]
fn reduce_rows_both_versions_match_reference() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(10);
    for &(rows, n) in SHAPES {
        for (name, len, l) in views(rows, n) {
            let mut data = rand_vec(&mut rng, len, -2.0, 2.0);
            if n > 3 {
                data[l.offset() + 2] = f32::NAN; // max/min propagate NaN in row 0
            }
            let x = upload(&r, &data);
            for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
                let want = reduce(op, &data, &l, rows, n);
                for v in [Version::SharedTree, Version::WarpShuffle] {
                    let mut out = r.zeros::<f32>(rows).unwrap();
                    reduce_rows(&r, op, (&x, Rows::from_layout("t", &l).unwrap()), &mut out, v).unwrap();
                    let got = r.download(&out).unwrap();
                    assert_close(&format!("{op:?} {rows}x{n} {name} {v:?}"), &got, &want, 1e-5);
                }
            }
        }
    }
}

#[test]
fn reduce_cols_matches_reference_on_the_transposed_matrix() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(12);
    for &(rows, n) in SHAPES {
        for (name, len, l) in views(rows, n) {
            let mut data = rand_vec(&mut rng, len, -2.0, 2.0);
            if n > 3 {
                data[l.offset() + 2] = f32::NAN; // max/min propagate NaN in column 2
            }
            let x = upload(&r, &data);
            let columns = l.transpose(0, 1).unwrap();
            for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
                let want = reduce(op, &data, &columns, n, rows);
                let mut out = r.zeros::<f32>(n).unwrap();
                reduce_cols(&r, op, (&x, Rows::from_layout("t", &l).unwrap()), &mut out).unwrap();
                assert_close(&format!("{op:?} columns of {rows}x{n} {name}"), &r.download(&out).unwrap(), &want, 1e-5);
            }
        }
    }
}

#[test]
fn arg_reduce_rows_matches_reference_with_ties_and_nans() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(13);
    for &(rows, n) in SHAPES.iter().filter(|s| s.1 > 0) {
        for (name, len, l) in views(rows, n) {
            // Few distinct values, so ties are common; a NaN in row 0 when there is room.
            let mut data: Vec<f32> = rand_vec(&mut rng, len, 0.0, 4.0).into_iter().map(f32::floor).collect();
            if n > 3 {
                data[l.offset() + 2] = f32::NAN;
            }
            let x = upload(&r, &data);
            for max in [true, false] {
                let want = arg_reduce(&data, &l, rows, n, max);
                let mut out = r.zeros::<i64>(rows).unwrap();
                arg_reduce_rows(&r, (&x, Rows::from_layout("t", &l).unwrap()), max, &mut out).unwrap();
                assert_eq!(r.download(&out).unwrap(), want, "max={max} {rows}x{n} {name}");
            }
        }
    }
}

#[test]
fn softmax_and_log_softmax_rows_match_reference() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(11);
    for &(rows, n) in SHAPES.iter().filter(|s| s.1 > 0) {
        for (name, len, l) in views(rows, n) {
            let mut data = rand_vec(&mut rng, len, -4.0, 4.0);
            data[l.offset()] = 80.0; // large logit: max-subtraction keeps exp finite
            let x = upload(&r, &data);
            let ol = Layout::contiguous(vec![rows, n]);
            for log in [false, true] {
                let want = sm::softmax(&data, &l, &ol, n, log);
                let mut y = r.zeros::<f32>(rows * n).unwrap();
                softmax_rows(&r, (&x, Rows::from_layout("t", &l).unwrap()), log, &mut y).unwrap();
                let got = r.download(&y).unwrap();
                assert_close(&format!("softmax log={log} {rows}x{n} {name}"), &got, &want, 2e-5);

                let gd = rand_vec(&mut rng, len, -1.0, 1.0);
                let want_dx = sm::softmax_backward((&want, &ol), (&gd, &l), &ol, n, log);
                let g = upload(&r, &gd);
                let mut dx = r.zeros::<f32>(rows * n).unwrap();
                let (yr, gr) = (Rows::contiguous(rows, n), Rows::from_layout("t", &l).unwrap());
                softmax_backward_rows(&r, (&y, yr), (&g, gr), log, &mut dx).unwrap();
                assert_close(
                    &format!("softmax_backward log={log} {rows}x{n} {name}"),
                    &r.download(&dx).unwrap(),
                    &want_dx,
                    2e-5,
                );
            }
        }
    }
}
