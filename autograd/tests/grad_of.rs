//! `grad_of` (gradients of chosen leaves only): on a conv / batch-norm / linear network it returns
//! exactly the input gradient `backward` computes and nothing else, leaves `backward` as it was
//! afterwards (also after an error), and refuses what is not a leaf that requires a gradient.

mod common;

use common::randn;
use kiln_autograd::{backward, backward_with, batch_norm, cross_entropy, grad_of, grad_of_with, BatchNormMode, Var};
use kiln_tensor::{DType, Tensor};

/// A small conv net over `x [2, 2, 6, 6]`: conv 3x3 (bias) - batch norm - relu - pool - linear;
/// returns the logits and the parameters.
fn network(x: &Var) -> (Var, Vec<Var>) {
    let w = Var::leaf(randn(&[3, 2, 3, 3], 1));
    let b = Var::leaf(randn(&[3], 2));
    let gamma = Var::leaf(randn(&[3], 3));
    let beta = Var::leaf(randn(&[3], 4));
    let fc = Var::leaf(randn(&[12, 4], 5));
    let h = x.conv2d(&w, Some(&b), 1, 1).unwrap();
    let (h, _) = batch_norm(&h, &gamma, &beta, BatchNormMode::Batch, 1e-5).unwrap();
    let h = h.relu().unwrap().max_pool2d(3, 3).unwrap().reshape([2, 12]).unwrap();
    (h.matmul(&fc).unwrap(), vec![w, b, gamma, beta, fc])
}

fn targets() -> Tensor {
    Tensor::from_vec(vec![1i64, 3], [2]).unwrap()
}

#[test]
fn grad_of_the_input_is_backwards_input_gradient_and_only_that() {
    let x = Var::leaf(randn(&[2, 2, 6, 6], 0));
    let (logits, params) = network(&x);
    let loss = cross_entropy(&logits, &targets()).unwrap();
    let all = backward(&loss).unwrap();
    let only = grad_of(&loss, &[&x]).unwrap();
    assert_eq!(only.len(), 1, "no parameter gradient is stored");
    assert!(params.iter().all(|p| !only.contains(p)));
    assert_eq!(only.get(&x).unwrap().to_vec::<f64>().unwrap(), all.get(&x).unwrap().to_vec::<f64>().unwrap());
    // Two chosen leaves, one deep (the input) and one late (the linear layer's weight).
    let two = grad_of(&loss, &[&x, &params[4]]).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(
        two.get(&params[4]).unwrap().to_vec::<f64>().unwrap(),
        all.get(&params[4]).unwrap().to_vec::<f64>().unwrap()
    );
    // And backward afterwards still computes every gradient.
    assert_eq!(backward(&loss).unwrap().len(), 6);
}

#[test]
fn grad_of_with_a_seed_matches_backward_with() {
    let x = Var::leaf(randn(&[2, 2, 6, 6], 7));
    let (logits, _) = network(&x);
    let seed = randn(&[2, 4], 8);
    let want = backward_with(&logits, seed.clone()).unwrap();
    let got = grad_of_with(&logits, seed, &[&x]).unwrap();
    assert_eq!(got.get(&x).unwrap().to_vec::<f64>().unwrap(), want.get(&x).unwrap().to_vec::<f64>().unwrap());
    assert_eq!(got.len(), 1);
}

#[test]
fn grad_of_refuses_non_leaves_and_constants_and_recovers_from_errors() {
    let x = Var::leaf(randn(&[2, 2, 6, 6], 9));
    let (logits, params) = network(&x);
    let loss = cross_entropy(&logits, &targets()).unwrap();
    assert!(grad_of(&loss, &[&logits]).unwrap_err().to_string().contains("not a leaf"));
    let constant = Var::constant(randn(&[2], 1));
    assert!(grad_of(&loss, &[&constant]).is_err());
    assert!(grad_of(&logits, &[&x]).unwrap_err().to_string().contains("one number"));
    // A seed of the wrong shape fails inside the pass; the next backward still wants everything.
    assert!(grad_of_with(&logits, Tensor::zeros([3], DType::F64), &[&x]).is_err());
    let all = backward(&loss).unwrap();
    assert!(params.iter().all(|p| all.contains(p)) && all.contains(&x));
    // A leaf the output does not depend on has no gradient to report.
    let unrelated = Var::leaf(randn(&[3], 2));
    assert!(!grad_of(&loss, &[&x, &unrelated]).unwrap().contains(&unrelated));
}
