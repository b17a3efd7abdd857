//! Gradchecks (f64, finite differences) of every elementwise op: unary maps, broadcasting binary
//! ops, where, masked_fill and dropout, on contiguous, transposed and broadcast inputs.
//! Inputs stay away from kinks and ties, so a failure means a wrong rule, never an ambiguous derivative.

mod common;

use common::*;
use kiln_autograd::{where_cond, Var};
use kiln_tensor::Rng;

#[test]
fn unary_ops() {
    let x = || randn(&[3, 4], 1);
    check("neg", |v| v[0].neg(), &[x()]);
    check("exp", |v| v[0].exp(), &[x()]);
    check("sigmoid", |v| v[0].sigmoid(), &[randn(&[3, 4], 2)]);
    check("tanh", |v| v[0].tanh(), &[x()]);
    check("affine", |v| v[0].affine(-1.5, 0.25), &[x()]);
    check("add_scalar", |v| v[0].add_scalar(3.0), &[x()]);
    check("mul_scalar", |v| v[0].mul_scalar(-0.5), &[x()]);
    let positive = || uniform(&[3, 4], 0.2, 3.0, 3);
    check("log", |v| v[0].log(), &[positive()]);
    check("sqrt", |v| v[0].sqrt(), &[positive()]);
    check("powf", |v| v[0].powf(2.5), &[positive()]);
    check("powf_negative_exponent", |v| v[0].powf(-1.5), &[positive()]);
    let kinked = || away_from_zero(&[3, 4], 4);
    check("abs", |v| v[0].abs(), &[kinked()]);
    check("relu", |v| v[0].relu(), &[kinked()]);
    check("leaky_relu", |v| v[0].leaky_relu(0.2), &[kinked()]);
}

#[test]
fn unary_ops_on_a_transposed_input() {
    let xt = randn(&[4, 3], 5).t().unwrap();
    assert!(!xt.is_contiguous());
    check("exp of a transposed view", |v| v[0].exp(), std::slice::from_ref(&xt));
    check("tanh of a transposed view", |v| v[0].tanh(), &[xt]);
    let narrowed = uniform(&[3, 6], 0.2, 2.0, 6).narrow(1, 2, 3).unwrap();
    check("log of a narrowed view", |v| v[0].log(), &[narrowed]);
}

#[test]
fn binary_ops_same_shape() {
    let (a, b) = (randn(&[3, 4], 10), randn(&[3, 4], 11));
    check("add", |v| v[0].add(&v[1]), &[a.clone(), b.clone()]);
    check("sub", |v| v[0].sub(&v[1]), &[a.clone(), b.clone()]);
    check("mul", |v| v[0].mul(&v[1]), &[a.clone(), b.clone()]);
    check("div", |v| v[0].div(&v[1]), &[a.clone(), away_from_zero(&[3, 4], 12)]);
    let base = uniform(&[3, 4], 0.5, 2.0, 13);
    check("pow", |v| v[0].pow(&v[1]), &[base, uniform(&[3, 4], -2.0, 2.0, 14)]);
    // maximum/minimum away from ties: b = a + (random sign) * [0.2, 2].
    let gap = away_from_zero(&[3, 4], 15);
    let b2 = kiln_kernels::elementwise::binary(kiln_kernels::elementwise::BinaryOp::Add, &a, &gap).unwrap();
    check("maximum", |v| v[0].maximum(&v[1]), &[a.clone(), b2.clone()]);
    check("minimum", |v| v[0].minimum(&v[1]), &[a, b2]);
}

#[test]
fn binary_ops_broadcast() {
    let a = randn(&[2, 3, 4], 20);
    let row = randn(&[4], 21);
    let col = randn(&[3, 1], 22);
    check("add row", |v| v[0].add(&v[1]), &[a.clone(), row.clone()]);
    check("sub col (lhs broadcast)", |v| v[1].sub(&v[0]), &[a.clone(), col.clone()]);
    check("mul both broadcast", |v| v[0].mul(&v[1]), &[randn(&[2, 3, 1], 23), randn(&[1, 4], 24)]);
    check("div by a scalar", |v| v[0].div(&v[1]), &[a.clone(), away_from_zero(&[1], 25)]);
    check(
        "pow broadcast exponent",
        |v| v[0].pow(&v[1]),
        &[uniform(&[3, 4], 0.5, 2.0, 26), uniform(&[4], -2.0, 2.0, 27)],
    );
    // Row values far from the data so no ties.
    check("maximum broadcast", |v| v[0].maximum(&v[1]), &[a.clone(), distinct(&[4], 28)]);
    check("minimum broadcast", |v| v[0].minimum(&v[1]), &[distinct(&[3, 4], 29), uniform(&[3, 1], 0.01, 0.04, 30)]);
}

#[test]
fn binary_ops_on_non_contiguous_inputs() {
    let at = randn(&[4, 3], 31).t().unwrap();
    let b = randn(&[3, 4], 32);
    check("mul transposed lhs", |v| v[0].mul(&v[1]), &[at.clone(), b.clone()]);
    check("div transposed lhs", |v| v[1].div(&v[0]), &[away_from_zero(&[4, 3], 33).t().unwrap(), b.clone()]);
    let narrowed = randn(&[3, 7], 34).narrow(1, 2, 4).unwrap();
    check("add narrowed + broadcast", |v| v[0].add(&v[1]), &[narrowed, randn(&[3, 1], 35)]);
    check("sub through a Var transpose", |v| v[0].t()?.sub(&v[1]), &[randn(&[4, 3], 36), b]);
}

#[test]
fn where_and_masked_fill() {
    let cond = mask(&[1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0], &[3, 4]);
    check("where", |v| where_cond(&cond, &v[0], &v[1]), &[randn(&[3, 4], 40), randn(&[3, 4], 41)]);
    let col = mask(&[1, 0, 1], &[3, 1]);
    check("where broadcast", |v| where_cond(&col, &v[0], &v[1]), &[randn(&[3, 4], 42), randn(&[4], 43)]);
    check(
        "where method, transposed a",
        |v| v[0].where_cond(&cond, &v[1]),
        &[randn(&[4, 3], 44).t().unwrap(), randn(&[1], 45)],
    );
    check("masked_fill", |v| v[0].masked_fill(&cond, -1.5), &[randn(&[3, 4], 46)]);
    let row = mask(&[0, 1, 1, 0], &[4]);
    check("masked_fill broadcast mask", |v| v[0].masked_fill(&row, 2.0), &[randn(&[2, 3, 4], 47)]);
}

#[test]
fn dropout() {
    // The same seed gives the same mask in the analytic and every numeric evaluation.
    let f = |v: &[Var]| v[0].dropout(0.4, true, &mut Rng::new(9));
    check("dropout", f, &[randn(&[4, 5], 50)]);
    check("dropout eval is identity", |v| v[0].dropout(0.4, false, &mut Rng::new(9)), &[randn(&[4, 5], 51)]);
    // And the mask is really a mask: some zeros, the rest scaled by 1/(1-p).
    let x = Var::leaf(kiln_tensor::Tensor::ones([1000], kiln_tensor::DType::F64));
    let y = x.dropout(0.4, true, &mut Rng::new(1)).unwrap();
    let vals = y.tensor().to_vec::<f64>().unwrap();
    let zeros = vals.iter().filter(|&&v| v == 0.0).count();
    assert!((300..500).contains(&zeros), "{zeros} zeros of 1000 at p = 0.4");
    assert!(vals.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.6).abs() < 1e-12));
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>().unwrap(), vals, "d(sum)/dx is the mask itself");
    let all = x.dropout(1.0, true, &mut Rng::new(1)).unwrap();
    assert!(all.tensor().to_vec::<f64>().unwrap().iter().all(|&v| v == 0.0), "p = 1 drops everything");
    assert!(x.dropout(1.5, true, &mut Rng::new(1)).is_err());
    assert!(x.dropout(f64::NAN, false, &mut Rng::new(1)).is_err());
}
