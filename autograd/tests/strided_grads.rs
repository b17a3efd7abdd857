//! Every backward rule must accept an upstream gradient in any layout: a broadcast (stride-0) one,
//! as `sum` hands down, and a transposed one, as `t()` hands down. Each op's gradients are compared
//! with the ones obtained from a dense seed of the same values.
//! It compares rules with themselves under another layout; correctness itself is gradcheck's job.

mod common;

use common::*;
use kiln_autograd::{backward, backward_with, cat, stack, where_cond, Var};
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Rng, Tensor};

type Op = fn(&[Var]) -> kiln_tensor::Result<Var>;

/// Gradients of every input from `sum(f(x))` (a broadcast upstream) and from
/// `sum(f(x).t() * r.t())` (a transposed upstream) against dense seeds of ones and r.
fn check_layouts(name: &str, f: Op, inputs: &[Tensor]) {
    let vars: Vec<Var> = inputs.iter().map(|t| Var::leaf(t.clone())).collect();
    let y = f(&vars).unwrap();
    let ones = Tensor::ones(y.shape(), DType::F64);
    let dense = backward_with(&y, ones).unwrap();
    let broadcast = backward(&y.sum_all().unwrap()).unwrap();
    let r = randn(y.dims(), 99);
    let dense_r = backward_with(&y, r.clone()).unwrap();
    let rt = Var::constant(r.t().unwrap().contiguous().unwrap());
    let transposed = backward(&y.t().unwrap().mul(&rt).unwrap().sum_all().unwrap()).unwrap();
    for (i, v) in vars.iter().enumerate() {
        let want = dense.get(v).unwrap_or_else(|| panic!("{name}: no gradient for input {i}"));
        assert_close(&format!("{name} input {i}, broadcast upstream"), broadcast.get(v).unwrap(), want, 1e-12);
        let want = dense_r.get(v).unwrap();
        assert_close(&format!("{name} input {i}, transposed upstream"), transposed.get(v).unwrap(), want, 1e-12);
    }
}

#[test]
fn rules_accept_broadcast_and_transposed_gradients() {
    let cond = mask(&[1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1], &[3, 4]);
    let rows = indices(&[2, 0, 2, 1], &[4]);
    let cases: Vec<(&str, Op, Vec<Tensor>)> = vec![
        ("tanh", |v| v[0].tanh(), vec![randn(&[3, 4], 1)]),
        ("sqrt", |v| v[0].sqrt(), vec![uniform(&[3, 4], 0.5, 2.0, 2)]),
        ("mul broadcast", |v| v[0].mul(&v[1]), vec![randn(&[3, 4], 3), randn(&[4], 4)]),
        ("pow", |v| v[0].pow(&v[1]), vec![uniform(&[3, 4], 0.5, 2.0, 5), randn(&[3, 4], 6)]),
        ("sum keepdim", |v| v[0].sum(&[0], true), vec![randn(&[3, 4], 7)]),
        ("mean", |v| v[0].mean(&[2], false), vec![randn(&[2, 3, 4], 8)]),
        ("max", |v| v[0].max(1, false), vec![distinct(&[3, 4, 5], 9)]),
        ("softmax", |v| v[0].softmax(0), vec![randn(&[3, 4], 10)]),
        ("log_softmax", |v| v[0].log_softmax(1), vec![randn(&[3, 4], 11)]),
        ("matmul", |v| v[0].matmul(&v[1]), vec![randn(&[3, 5], 12), randn(&[5, 4], 13)]),
        (
            "conv2d",
            |v| v[0].conv2d(&v[1], Some(&v[2]), 1, 1),
            vec![randn(&[2, 2, 5, 4], 14), randn(&[3, 2, 3, 3], 15), randn(&[3], 16)],
        ),
        ("max_pool2d", |v| v[0].max_pool2d(2, 2), vec![distinct(&[2, 2, 4, 6], 17)]),
        ("transpose", |v| v[0].transpose(0, 1), vec![randn(&[3, 4], 18)]),
        ("permute", |v| v[0].permute(&[2, 0, 1]), vec![randn(&[2, 3, 4], 19)]),
        ("narrow", |v| v[0].narrow(1, 1, 2), vec![randn(&[3, 4], 20)]),
        ("reshape", |v| v[0].reshape([4, 3]), vec![randn(&[3, 4], 21)]),
        ("broadcast_to", |v| v[0].broadcast_to([3, 4]), vec![randn(&[4], 22)]),
        ("unsqueeze", |v| v[0].unsqueeze(0), vec![randn(&[3, 4], 23)]),
        ("squeeze", |v| v[0].squeeze(1), vec![randn(&[3, 1, 4], 24)]),
        ("contiguous", |v| v[0].contiguous(), vec![randn(&[3, 4], 25)]),
        ("cat", |v| cat(&[&v[0], &v[1]], 1), vec![randn(&[3, 2], 26), randn(&[3, 3], 27)]),
        ("stack", |v| stack(&[&v[0], &v[1]], 1), vec![randn(&[3, 2], 28), randn(&[3, 2], 29)]),
    ];
    for (name, f, inputs) in cases {
        check_layouts(name, f, &inputs);
    }
    // Ops whose extra arguments are tensors (closures capturing them cannot be `fn` pointers).
    let x = randn(&[3, 4], 30);
    let vx = Var::leaf(x.clone());
    for (name, y) in [
        ("where", where_cond(&cond, &vx, &Var::leaf(randn(&[4], 31))).unwrap()),
        ("masked_fill", vx.masked_fill(&cond, 0.5).unwrap()),
        ("index_select", vx.index_select(1, &rows).unwrap()),
        ("gather", vx.gather(1, &indices(&[0, 3, 3, 1, 2, 2], &[3, 2])).unwrap()),
        ("dropout", vx.dropout(0.3, true, &mut Rng::new(4)).unwrap()),
    ] {
        let dense = backward_with(&y, Tensor::ones(y.shape(), DType::F64)).unwrap();
        let broadcast = backward(&y.sum_all().unwrap()).unwrap();
        assert_close(
            &format!("{name}, broadcast upstream"),
            broadcast.get(&vx).unwrap(),
            dense.get(&vx).unwrap(),
            1e-12,
        );
        let r = randn(y.dims(), 32);
        let rt = Var::constant(r.t().unwrap().contiguous().unwrap());
        let transposed = backward(&y.t().unwrap().mul(&rt).unwrap().sum_all().unwrap()).unwrap();
        let dense_r = backward_with(&y, r).unwrap();
        assert_close(
            &format!("{name}, transposed upstream"),
            transposed.get(&vx).unwrap(),
            dense_r.get(&vx).unwrap(),
            1e-12,
        );
    }
}

#[test]
fn operator_overloads_record_the_same_ops() {
    let a = Var::leaf(randn(&[2, 3], 40));
    let b = Var::leaf(away_from_zero(&[3], 41));
    let y = (&(&(&a + &b).unwrap() * &a).unwrap() / &b).unwrap();
    let y = (&(-&y).unwrap() - &a).unwrap();
    let z = a.add(&b).unwrap().mul(&a).unwrap().div(&b).unwrap().neg().unwrap().sub(&a).unwrap();
    assert_close("overloads forward", y.tensor(), z.tensor(), 1e-12);
    let (gy, gz) = (backward(&y.sum_all().unwrap()).unwrap(), backward(&z.sum_all().unwrap()).unwrap());
    assert_close("overloads grad a", gy.get(&a).unwrap(), gz.get(&a).unwrap(), 1e-12);
    assert_close("overloads grad b", gy.get(&b).unwrap(), gz.get(&b).unwrap(), 1e-12);
    assert!((&a + &Var::leaf(randn(&[4], 42))).is_err());
}
