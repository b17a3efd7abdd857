//! Gradchecks of the fused norms: batch_norm in training (statistics of the batch, so every input
//! element moves every output of its channel) and in evaluation (running statistics, constants),
//! batch_norm_relu (the fused BatchNorm + ReLU) in both modes, and layer_norm, each w.r.t. the
//! input, weight and bias, on contiguous and transposed inputs. The ReLU cases' seeded inputs put no
//! normalised value within the finite-difference step of the kink (a check across it would fail).

mod common;

use common::*;
use kiln_autograd::{batch_norm, batch_norm_relu, layer_norm, BatchNormMode, Var};

#[test]
fn batch_norm_grads() {
    let train = |v: &[Var]| Ok(batch_norm(&v[0], &v[1], &v[2], BatchNormMode::Batch, 1e-5)?.0);
    let (w, b) = (uniform(&[3], 0.5, 1.5, 2), randn(&[3], 3));
    check("batch_norm train", train, &[randn(&[2, 3, 2, 3], 1), w.clone(), b.clone()]);
    // [N, C, H, W] read through a transposed view of [N, C, W, H].
    let xt = randn(&[2, 3, 3, 2], 4).transpose(2, 3).unwrap();
    check("batch_norm train transposed", train, &[xt, w.clone(), b.clone()]);
    let (rm, rv) = (randn(&[3], 5), uniform(&[3], 0.5, 2.0, 6));
    let eval = |v: &[Var]| Ok(batch_norm(&v[0], &v[1], &v[2], BatchNormMode::Running { mean: &rm, var: &rv }, 1e-5)?.0);
    check("batch_norm eval", eval, &[randn(&[2, 3, 2, 2], 7), w, b]);
}

#[test]
fn batch_norm_relu_grads() {
    let train = |v: &[Var]| Ok(batch_norm_relu(&v[0], &v[1], &v[2], BatchNormMode::Batch, 1e-5)?.0);
    // Biases of both signs: some channels mostly pass the ReLU, some mostly stop at it.
    let (w, b) = (uniform(&[3], 0.5, 1.5, 22), kiln_tensor::Tensor::from_vec(vec![0.3f64, -0.4, 0.1], [3]).unwrap());
    check("batch_norm_relu train", train, &[randn(&[2, 3, 2, 3], 21), w.clone(), b.clone()]);
    let xt = randn(&[2, 3, 3, 2], 24).transpose(2, 3).unwrap();
    check("batch_norm_relu train transposed", train, &[xt, w.clone(), b.clone()]);
    let (rm, rv) = (randn(&[3], 25), uniform(&[3], 0.5, 2.0, 26));
    let eval =
        |v: &[Var]| Ok(batch_norm_relu(&v[0], &v[1], &v[2], BatchNormMode::Running { mean: &rm, var: &rv }, 1e-5)?.0);
    check("batch_norm_relu eval", eval, &[randn(&[2, 3, 2, 2], 27), w, b]);
}

#[test]
fn layer_norm_grads() {
    let f = |v: &[Var]| layer_norm(&v[0], &v[1], &v[2], 1e-5);
    let (w, b) = (uniform(&[5], 0.5, 1.5, 11), randn(&[5], 12));
    check("layer_norm", f, &[randn(&[3, 5], 10), w.clone(), b.clone()]);
    check("layer_norm rank 3", f, &[randn(&[2, 2, 5], 13), w.clone(), b.clone()]);
    check("layer_norm transposed", f, &[randn(&[5, 3], 14).t().unwrap(), w, b]);
}
