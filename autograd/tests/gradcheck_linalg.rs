//! Gradchecks of matmul (plain, batched, broadcast batch, transposed operands), conv2d (padding,
//! stride, with and without bias, non-contiguous input) and max_pool2d.
//! Pooling inputs have no ties, so a failure means a wrong rule, never an ambiguous derivative.

mod common;

use common::*;

#[test]
fn matmul() {
    check("matmul", |v| v[0].matmul(&v[1]), &[randn(&[4, 6], 1), randn(&[6, 5], 2)]);
    check("matmul batched", |v| v[0].matmul(&v[1]), &[randn(&[3, 4, 6], 3), randn(&[3, 6, 5], 4)]);
    check("matmul broadcast batch", |v| v[0].matmul(&v[1]), &[randn(&[2, 3, 4, 6], 5), randn(&[6, 5], 6)]);
    check("matmul broadcast lhs", |v| v[0].matmul(&v[1]), &[randn(&[4, 6], 7), randn(&[3, 6, 5], 8)]);
    check("matmul outer product", |v| v[0].matmul(&v[1]), &[randn(&[5, 1], 9), randn(&[1, 4], 10)]);
    check("matmul gemv", |v| v[0].matmul(&v[1]), &[randn(&[5, 4], 11), randn(&[4, 1], 12)]);
}

#[test]
fn matmul_of_transposed_views() {
    let bt = randn(&[5, 6], 13).t().unwrap();
    let at = randn(&[6, 4], 14).t().unwrap();
    check("matmul transposed rhs view", |v| v[0].matmul(&v[1]), &[randn(&[4, 6], 15), bt.clone()]);
    check("matmul transposed lhs view", |v| v[0].matmul(&v[1]), &[at, bt]);
    check("matmul Var transpose", |v| v[0].matmul(&v[1].t()?), &[randn(&[4, 6], 16), randn(&[5, 6], 17)]);
}

#[test]
fn conv2d() {
    let x = || randn(&[2, 3, 6, 5], 20);
    let w = || randn(&[4, 3, 3, 3], 21);
    let b = || randn(&[4], 22);
    check("conv2d pad 1", |v| v[0].conv2d(&v[1], Some(&v[2]), 1, 1), &[x(), w(), b()]);
    check("conv2d no bias", |v| v[0].conv2d(&v[1], None, 1, 0), &[x(), w()]);
    check(
        "conv2d stride 2",
        |v| v[0].conv2d(&v[1], Some(&v[2]), 2, 0),
        &[randn(&[1, 2, 8, 6], 23), randn(&[3, 2, 3, 3], 24), randn(&[3], 25)],
    );
    check(
        "conv2d stride 2 pad 2 k2",
        |v| v[0].conv2d(&v[1], Some(&v[2]), 2, 2),
        &[randn(&[2, 1, 5, 5], 26), randn(&[2, 1, 2, 2], 27), randn(&[2], 28)],
    );
    // Input as a permuted view ([n, h, w, c] storage read as [n, c, h, w]).
    let nhwc = randn(&[2, 6, 5, 3], 29).permute(&[0, 3, 1, 2]).unwrap();
    assert!(!nhwc.is_contiguous());
    check("conv2d non-contiguous input", |v| v[0].conv2d(&v[1], Some(&v[2]), 1, 1), &[nhwc, w(), b()]);
}

#[test]
fn max_pool2d() {
    check("max_pool2d k2 s2", |v| v[0].max_pool2d(2, 2), &[distinct(&[2, 3, 6, 6], 30)]);
    check("max_pool2d k3 s2 overlapping", |v| v[0].max_pool2d(3, 2), &[distinct(&[1, 2, 7, 7], 31)]);
    let t = distinct(&[1, 2, 6, 5], 32).transpose(2, 3).unwrap();
    check("max_pool2d of a transposed view", |v| v[0].max_pool2d(2, 1), &[t]);
}
