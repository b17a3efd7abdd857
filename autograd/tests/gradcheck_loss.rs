//! Gradchecks of the fused losses: cross_entropy, bce (w.r.t. the probabilities and the targets),
//! bce_with_logits (both inputs), mse (both inputs) and distill_kl (student and teacher, several
//! temperatures), on plain and non-contiguous inputs.
//! Probabilities stay inside (0, 1), away from the clamped logs, so the derivative is smooth.

mod common;

use common::*;
use kiln_autograd::{bce, bce_with_logits, cross_entropy, distill_kl, mse, Var};

#[test]
fn cross_entropy_grad() {
    let t = indices(&[3, 0, 6, 2, 2], &[5]);
    check("cross_entropy", |v| cross_entropy(&v[0], &t), &[randn(&[5, 7], 1)]);
    check("cross_entropy transposed logits", |v| v[0].cross_entropy(&t), &[randn(&[7, 5], 2).t().unwrap()]);
    let u = kiln_tensor::Tensor::from_vec(vec![1u32, 0, 2], [3]).unwrap();
    check("cross_entropy u32 targets", |v| cross_entropy(&v[0], &u), &[randn(&[3, 3], 3)]);
}

#[test]
fn bce_grads() {
    let p = || uniform(&[6], 0.05, 0.95, 10);
    let y = kiln_tensor::Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0, 1.0, 0.0], [6]).unwrap();
    check("bce w.r.t. p", |v| bce(&v[0], &Var::constant(y.clone())), &[p()]);
    check("bce w.r.t. p and soft targets", |v| bce(&v[0], &v[1]), &[p(), uniform(&[6], 0.0, 1.0, 11)]);
    check(
        "bce 2-D transposed",
        |v| bce(&v[0], &v[1]),
        &[uniform(&[4, 3], 0.1, 0.9, 12).t().unwrap(), uniform(&[3, 4], 0.0, 1.0, 13)],
    );
}

#[test]
fn bce_with_logits_grads() {
    let y = kiln_tensor::Tensor::from_vec(vec![1.0f64, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], [2, 4]).unwrap();
    check("bce_with_logits w.r.t. x", |v| bce_with_logits(&v[0], &Var::constant(y.clone())), &[randn(&[2, 4], 20)]);
    check(
        "bce_with_logits both",
        |v| bce_with_logits(&v[0], &v[1]),
        &[randn(&[2, 4], 21), uniform(&[2, 4], 0.0, 1.0, 22)],
    );
    check(
        "bce_with_logits large logits",
        |v| bce_with_logits(&v[0], &v[1]),
        &[randn(&[8], 23).affine_scaled(8.0), uniform(&[8], 0.0, 1.0, 24)],
    );
}

#[test]
fn mse_grads() {
    check("mse", |v| mse(&v[0], &v[1]), &[randn(&[3, 4], 30), randn(&[3, 4], 31)]);
    check("mse transposed", |v| mse(&v[0], &v[1]), &[randn(&[4, 3], 32).t().unwrap(), randn(&[3, 4], 33)]);
    check("mse constant target", |v| mse(&v[0], &Var::constant(randn(&[5], 34))), &[randn(&[5], 35)]);
}

#[test]
fn distill_kl_grads() {
    for t in [1.0, 2.0, 4.0] {
        check(&format!("distill_kl T={t}"), |v| distill_kl(&v[0], &v[1], t), &[randn(&[4, 5], 40), randn(&[4, 5], 41)]);
    }
    check(
        "distill_kl transposed student, constant teacher",
        |v| distill_kl(&v[0], &Var::constant(randn(&[3, 6], 43).affine_scaled(3.0)), 2.0),
        &[randn(&[6, 3], 42).t().unwrap()],
    );
}

trait Scaled {
    fn affine_scaled(self, s: f64) -> kiln_tensor::Tensor;
}

impl Scaled for kiln_tensor::Tensor {
    fn affine_scaled(self, s: f64) -> kiln_tensor::Tensor {
        kiln_kernels::elementwise::unary(kiln_kernels::elementwise::UnaryOp::Affine { mul: s, add: 0.0 }, &self)
            .unwrap()
    }
}
