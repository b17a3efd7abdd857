//! Gradchecks of reductions (sum, mean, max, min over axes, with and without keepdim) and of
//! softmax / log-softmax, including non-contiguous inputs; plus the max/min tie rule.
//! Max/min inputs are distinct except in the tie test, which pins the documented tie rule.

mod common;

use common::*;
use kiln_autograd::{Op, Var};
use kiln_tensor::Tensor;

#[test]
fn sum_and_mean() {
    let x = || randn(&[3, 4, 5], 1);
    check("sum axis 1", |v| v[0].sum(&[1], false), &[x()]);
    check("sum axes 0,2 keepdim", |v| v[0].sum(&[0, 2], true), &[x()]);
    check("sum all", |v| v[0].sum_all(), &[x()]);
    check("sum negative axis", |v| v[0].sum(&[-1], false), &[x()]);
    check("mean last axis", |v| v[0].mean(&[-1], false), &[x()]);
    check("mean axes 0,1 keepdim", |v| v[0].mean(&[0, 1], true), &[x()]);
    check("mean all", |v| v[0].mean_all(), &[x()]);
    let perm = randn(&[5, 3, 4], 2).permute(&[1, 2, 0]).unwrap();
    check("sum of a permuted view", |v| v[0].sum(&[1], true), std::slice::from_ref(&perm));
    check("mean of a permuted view", |v| v[0].mean(&[0, 2], false), &[perm]);
}

#[test]
fn max_and_min() {
    check("max axis 1", |v| v[0].max(1, false), &[distinct(&[3, 4, 5], 3)]);
    check("max last keepdim", |v| v[0].max(-1, true), &[distinct(&[3, 4], 4)]);
    check("min axis 0", |v| v[0].min(0, false), &[distinct(&[4, 5], 5)]);
    check("min last keepdim", |v| v[0].min(-1, true), &[distinct(&[3, 4, 5], 6)]);
    check("max of a transposed view", |v| v[0].max(0, false), &[distinct(&[5, 4], 7).t().unwrap()]);
}

#[test]
fn max_ties_send_the_gradient_to_the_first_occurrence() {
    let x = Var::leaf(Tensor::from_vec(vec![1.0f64, 3.0, 3.0, 0.0, 2.0, 2.0, -1.0, 2.0], [2, 4]).unwrap());
    let y = x.max(1, false).unwrap();
    assert!(matches!(y.op(), Op::Max { axis: 1, keepdim: false, .. }));
    if let Op::Max { indices, .. } = y.op() {
        assert_eq!(indices.to_vec::<i64>().unwrap(), vec![1, 0]);
    }
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>().unwrap(), vec![0., 1., 0., 0., 1., 0., 0., 0.]);
    let m = x.min(0, true).unwrap();
    let g = m.sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>().unwrap(), vec![1., 0., 0., 1., 0., 1., 1., 0.]);
    // maximum (elementwise) splits a tie instead.
    let g = x.maximum(&x).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(g.get(&x).unwrap().to_vec::<f64>().unwrap(), vec![1.0; 8]);
}

#[test]
fn softmax_and_log_softmax() {
    let x = || randn(&[4, 6], 10);
    check("softmax last", |v| v[0].softmax(-1), &[x()]);
    check("softmax first", |v| v[0].softmax(0), &[x()]);
    check("log_softmax middle", |v| v[0].log_softmax(1), &[randn(&[2, 5, 3], 11)]);
    check("log_softmax last", |v| v[0].log_softmax(-1), &[x()]);
    let xt = randn(&[6, 4], 12).t().unwrap();
    check("softmax of a transposed view", |v| v[0].softmax(1), std::slice::from_ref(&xt));
    check("log_softmax of a transposed view", |v| v[0].log_softmax(0), &[xt]);
}
