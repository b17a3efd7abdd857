//! Gradchecks of indexing, joining and views: index_select, embedding, gather, cat, stack, transpose,
//! permute, narrow, reshape, broadcast_to, squeeze, unsqueeze, contiguous, flatten_from.
//! Inputs are seeded and fixed; a failure means a wrong rule, never an unlucky draw.

mod common;

use common::*;
use kiln_autograd::{cat, stack};

#[test]
fn index_select_and_gather() {
    let rows = indices(&[1, 3, 3, 0, 9, 1, 1], &[7]);
    check("index_select axis 0 with repeats", |v| v[0].index_select(0, &rows), &[randn(&[10, 4], 1)]);
    let cols = indices(&[2, 0, 2], &[3]);
    check("index_select axis -1", |v| v[0].index_select(-1, &cols), &[randn(&[4, 3], 2)]);
    check("index_select of a transposed view", |v| v[0].index_select(0, &cols), &[randn(&[4, 3], 3).t().unwrap()]);
    let ids = indices(&[1, 0, 3, 1, 0, 2], &[2, 3]);
    check("embedding without padding", |v| v[0].embedding(&ids, None), &[randn(&[4, 3], 6)]);
    // The padding row gets no gradient: gradcheck confirms the analytic zero against a numeric one
    // only if the forward ignores that row, so check the rule directly too.
    let table = kiln_autograd::Var::leaf(randn(&[4, 3], 7));
    let grads = table.embedding(&ids, Some(0)).unwrap().sum(&[0, 1, 2], false).unwrap().backward().unwrap();
    let g = grads.get(&table).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(g, [0., 0., 0., 2., 2., 2., 1., 1., 1., 1., 1., 1.]);
    let idx = indices(&[0, 2, 1, 1, 0, 0], &[3, 2]);
    check("gather axis 1", |v| v[0].gather(1, &idx), &[randn(&[3, 4], 4)]);
    let idx0 = indices(&[2, 0, 1, 2, 2, 2, 0, 1], &[2, 4]);
    check("gather axis 0", |v| v[0].gather(0, &idx0), &[randn(&[3, 4], 5)]);
}

#[test]
fn cat_and_stack() {
    let f = |v: &[kiln_autograd::Var]| cat(&[&v[0], &v[1], &v[2]], 1);
    check("cat axis 1", f, &[randn(&[2, 3], 10), randn(&[2, 1], 11), randn(&[2, 4], 12)]);
    let g = |v: &[kiln_autograd::Var]| cat(&[&v[0], &v[1]], 0);
    check("cat axis 0 with a transposed view", g, &[randn(&[2, 3], 13), randn(&[3, 4], 14).t().unwrap()]);
    let h = |v: &[kiln_autograd::Var]| cat(&[&v[0], &v[0], &v[1]], -1);
    check("cat with the same input twice", h, &[randn(&[2, 2], 15), randn(&[2, 3], 16)]);
    let s = |v: &[kiln_autograd::Var]| stack(&[&v[0], &v[1]], 0);
    check("stack axis 0", s, &[randn(&[3, 2], 17), randn(&[3, 2], 18)]);
    let s2 = |v: &[kiln_autograd::Var]| stack(&[&v[0], &v[1], &v[2]], -1);
    check("stack new last axis", s2, &[randn(&[3, 2], 19), randn(&[2, 3], 20).t().unwrap(), randn(&[3, 2], 21)]);
}

#[test]
fn views() {
    let x = || randn(&[2, 3, 4], 30);
    // gradcheck projects the output on a random r, so a gradient routed to the wrong element fails.
    check("transpose", |v| v[0].transpose(0, 2), &[x()]);
    check("t", |v| v[0].t(), &[x()]);
    check("permute", |v| v[0].permute(&[2, 0, 1]), &[x()]);
    check("narrow", |v| v[0].narrow(1, 1, 2), &[randn(&[3, 5], 31)]);
    check("narrow last of a transposed view", |v| v[0].narrow(-1, 0, 2), &[randn(&[5, 3], 32).t().unwrap()]);
    check("reshape", |v| v[0].reshape([6, 4]), &[x()]);
    check("reshape of a transposed view (copies)", |v| v[0].reshape([12, 2]), &[x().transpose(0, 2).unwrap()]);
    check("flatten_from", |v| v[0].flatten_from(1), &[x()]);
    check("broadcast_to", |v| v[0].broadcast_to([2, 3, 4]), &[randn(&[3, 1], 33)]);
    check("squeeze", |v| v[0].squeeze(1), &[randn(&[3, 1, 4], 34)]);
    check("unsqueeze", |v| v[0].unsqueeze(-1), &[randn(&[3, 4], 35)]);
    check("unsqueeze front", |v| v[0].unsqueeze(0), &[randn(&[3, 4], 36)]);
    check("contiguous of a transposed view", |v| v[0].contiguous(), &[randn(&[3, 4], 37).t().unwrap()]);
    let chain = |v: &[kiln_autograd::Var]| {
        v[0].permute(&[1, 0, 2])?.narrow(2, 1, 3)?.reshape([3, 6])?.t()?.unsqueeze(1)?.squeeze(1)
    };
    check("a chain of views", chain, &[x()]);
}
