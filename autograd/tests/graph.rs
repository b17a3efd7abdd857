//! Graph behaviour: fan-out accumulation, no_grad, detach, constants, retained gradients, the
//! GradStore API, DOT export, Send + Sync, gradcheck failing when it should, and errors on bad
//! input.
//! Each test builds its own graph; none depends on another's state or on test order.

mod common;

use common::randn;
use kiln_autograd::{
    backward, backward_retain_all, backward_with, gradcheck, is_grad_enabled, no_grad, GradcheckOptions, NoGradGuard,
    Op, Var,
};
use kiln_tensor::{DType, Error, Tensor};

fn vec_of(t: &Tensor) -> Vec<f64> {
    t.to_vec::<f64>().unwrap()
}

fn leaf(v: &[f64]) -> Var {
    Var::leaf(Tensor::from_vec(v.to_vec(), [v.len()]).unwrap())
}

#[test]
fn fan_out_accumulates() {
    let x = leaf(&[1.0, -2.0, 3.0]);
    // y = x*x + x + exp(x)  =>  dy/dx = 2x + 1 + exp(x)
    let y = x.mul(&x).unwrap().add(&x).unwrap().add(&x.exp().unwrap()).unwrap();
    let g = backward(&y.sum_all().unwrap()).unwrap();
    let want: Vec<f64> = [1.0f64, -2.0, 3.0].iter().map(|v| 2.0 * v + 1.0 + v.exp()).collect();
    let got = vec_of(g.get(&x).unwrap());
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12), "{got:?} vs {want:?}");
}

#[test]
fn no_grad_records_nothing_and_nests() {
    let x = leaf(&[1.0, 2.0]);
    assert!(is_grad_enabled());
    let y = no_grad(|| {
        assert!(!is_grad_enabled());
        let inner = no_grad(|| x.mul(&x).unwrap());
        assert!(!is_grad_enabled(), "leaving a nested no_grad keeps the outer one");
        inner.exp().unwrap()
    });
    assert!(is_grad_enabled());
    assert!(!y.requires_grad());
    assert!(matches!(y.op(), Op::Leaf));
    assert!(backward(&y.sum_all().unwrap()).is_err(), "nothing to differentiate");
    {
        let _guard = NoGradGuard::new();
        assert!(!x.exp().unwrap().requires_grad());
    }
    assert!(x.exp().unwrap().requires_grad());
    // Another thread is not affected by this thread's guard.
    let _guard = NoGradGuard::new();
    let xs = x.clone();
    let recorded = std::thread::spawn(move || xs.exp().unwrap().requires_grad()).join().unwrap();
    assert!(recorded);
}

#[test]
fn detach_stops_gradients() {
    let x = leaf(&[1.5, -0.5]);
    // y = detach(x) * x  =>  dy/dx = x (the detached factor is a constant).
    let d = x.detach();
    assert!(!d.requires_grad());
    assert!(d.tensor().same_storage(x.tensor()), "detach shares the data");
    let y = d.mul(&x).unwrap().sum_all().unwrap();
    let g = backward(&y).unwrap();
    assert_eq!(vec_of(g.get(&x).unwrap()), vec![1.5, -0.5]);
    assert!(g.get(&d).is_none());
}

#[test]
fn constants_get_no_gradient_and_record_nothing() {
    let c = Var::constant(Tensor::from_vec(vec![2.0f64, 3.0], [2]).unwrap());
    let c2 = c.mul(&c).unwrap().exp().unwrap();
    assert!(!c2.requires_grad());
    assert!(matches!(c2.op(), Op::Leaf), "ops on constants only produce constants");
    let x = leaf(&[1.0, 1.0]);
    let y = c.mul(&x).unwrap().sum_all().unwrap();
    let g = backward(&y).unwrap();
    assert_eq!(vec_of(g.get(&x).unwrap()), vec![2.0, 3.0]);
    assert!(g.get(&c).is_none());
    assert_eq!(g.len(), 1);
    let v = Var::new(Tensor::ones([2], DType::F64), false);
    assert!(!v.requires_grad() && v.is_leaf());
}

#[test]
fn gradients_are_plain_owned_tensors() {
    let a = leaf(&[1.0, 2.0]);
    let b = leaf(&[3.0, 4.0, 5.0]);
    let y = kiln_autograd::cat(&[&a, &b], 0).unwrap();
    let seed = Tensor::from_vec(vec![1.0f64, 2.0, 3.0, 4.0, 5.0], [5]).unwrap();
    let g = backward_with(&y, seed.clone()).unwrap();
    let (ga, gb) = (g.get(&a).unwrap(), g.get(&b).unwrap());
    assert_eq!((vec_of(ga), vec_of(gb)), (vec![1.0, 2.0], vec![3.0, 4.0, 5.0]));
    assert!(!ga.same_storage(gb), "two leaves never share a gradient buffer");
    assert!(!ga.same_storage(&seed));
    assert!(ga.is_contiguous() && gb.is_contiguous());
}

#[test]
fn grad_store_api_and_retain_all() {
    let x = leaf(&[1.0, 2.0, 3.0]);
    let h = x.mul_scalar(2.0).unwrap();
    let y = h.tanh().unwrap();
    let seed = Tensor::ones([3], DType::F64);
    let mut g = backward_with(&y, seed.clone()).unwrap();
    assert!(g.get(&h).is_none(), "interior gradients are not kept by default");
    assert!(g.contains(&x));
    assert_eq!(g.iter().count(), 1);
    let gx = g.remove(&x).unwrap();
    assert!(g.is_empty());
    let all = backward_retain_all(&y, seed).unwrap();
    assert_eq!(all.len(), 3, "x, h and y");
    let gh = vec_of(all.get(&h).unwrap());
    let gx2 = vec_of(all.get(&x).unwrap());
    assert_eq!(vec_of(&gx), gx2);
    assert!(gh.iter().zip(&gx2).all(|(h, x)| (2.0 * h - x).abs() < 1e-12), "dx = 2 dh");
    assert_eq!(vec_of(all.get(&y).unwrap()), vec![1.0; 3]);
}

#[test]
fn ops_are_inspectable() {
    let x = leaf(&[1.0, 2.0, 3.0, 4.0]);
    let w = Var::leaf(randn(&[4, 2], 1));
    let y = x.reshape([1, 4]).unwrap().matmul(&w).unwrap().relu().unwrap();
    match y.op() {
        Op::Unary { x: input, op } => {
            assert_eq!(op.name(), "relu");
            match input.op() {
                Op::Matmul { a, b } => {
                    assert!(b.same(&w));
                    assert!(matches!(a.op(), Op::Reshape { .. }));
                }
                other => panic!("expected matmul, got {other:?}"),
            }
        }
        other => panic!("expected relu, got {other:?}"),
    }
    assert_eq!(y.op().inputs().len(), 1);
    assert_ne!(x.id(), w.id());
}

#[test]
fn dot_output_names_the_ops() {
    let x = Var::leaf(randn(&[2, 4], 2));
    let w = Var::leaf(randn(&[4, 3], 3));
    let b = Var::constant(randn(&[3], 4));
    let y = x.matmul(&w).unwrap().add(&b).unwrap().relu().unwrap().sum_all().unwrap();
    let dot = y.graph_dot();
    assert!(dot.starts_with("digraph"), "{dot}");
    for needle in ["matmul", "add", "relu", "sum", "leaf", "const", "[2, 4]", "[4, 3]", "[2, 3]"] {
        assert!(dot.contains(needle), "DOT lacks {needle}:\n{dot}");
    }
    let edges = dot.matches("->").count();
    assert_eq!(edges, 6, "x,w->matmul; matmul,b->add; add->relu; relu->sum:\n{dot}");
    assert!(dot.contains(&format!("n{} -> n{}", x.id(), y.op().inputs()[0].op().inputs()[0].op().inputs()[0].id())));
}

#[test]
fn vars_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Var>();
    send_sync::<kiln_autograd::GradStore>();
    let x = leaf(&[1.0, 2.0]);
    let y = std::thread::spawn({
        let x = x.clone();
        move || x.mul(&x).unwrap().sum_all().unwrap()
    })
    .join()
    .unwrap();
    let g = std::thread::spawn(move || backward(&y).unwrap()).join().unwrap();
    assert_eq!(vec_of(g.get(&x).unwrap()), vec![2.0, 4.0]);
}

#[test]
fn gradcheck_fails_on_a_wrong_gradient() {
    // Autograd sees only one factor of x * detach(x): analytic x, true derivative 2x.
    let wrong = |v: &[Var]| v[0].mul(&v[0].detach());
    let report = gradcheck(wrong, &[randn(&[3], 5)], GradcheckOptions::default()).unwrap();
    assert!(!report.passed(), "{report}");
    assert!(report.max_abs_err > 0.1);
    assert!(report.worst.is_some());
    // An output autograd cannot see at all: analytic zero, numeric one.
    let hidden = |v: &[Var]| Ok(Var::constant(v[0].tensor().clone()));
    assert!(!gradcheck(hidden, &[randn(&[2], 6)], GradcheckOptions::default()).unwrap().passed());
    let right = |v: &[Var]| v[0].mul(&v[0]);
    let report = gradcheck(right, &[randn(&[3], 5)], GradcheckOptions::default()).unwrap();
    assert!(report.passed(), "{report}");
    assert!(report.to_string().contains("passed"));
}

#[test]
fn bad_input_is_an_error() {
    let a = Var::leaf(randn(&[2, 3], 1));
    let b = Var::leaf(randn(&[4, 5], 2));
    assert!(matches!(a.matmul(&b), Err(Error::ShapeMismatch { op: "matmul", .. })));
    assert!(matches!(a.add(&b), Err(Error::BroadcastIncompatible { .. })));
    assert!(matches!(a.sum(&[2], false), Err(Error::AxisOutOfRange { .. })));
    assert!(a.max(5, false).is_err());
    assert!(a.softmax(-3).is_err());
    assert!(a.narrow(1, 2, 2).is_err());
    assert!(a.reshape([4, 2]).is_err());
    assert!(a.squeeze(0).is_err());
    assert!(a.unsqueeze(4).is_err());
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.transpose(0, 2).is_err());
    assert!(a.index_select(0, &Tensor::from_vec(vec![2i64], [1]).unwrap()).is_err(), "index out of range");
    assert!(kiln_autograd::cat(&[], 0).is_err());
    assert!(kiln_autograd::stack(&[&a, &b], 0).is_err());
    assert!(a.conv2d(&b, None, 1, 0).is_err());
    assert!(a.max_pool2d(2, 2).is_err());
    let f32v = Var::leaf(Tensor::ones([2, 3], DType::F32));
    assert!(matches!(a.add(&f32v), Err(Error::DTypeMismatch { .. })));
    // backward: non-scalar without a seed, a seed of the wrong shape or dtype.
    assert!(backward(&a.exp().unwrap()).is_err());
    assert!(backward_with(&a.exp().unwrap(), Tensor::ones([3, 2], DType::F64)).is_err());
    assert!(backward_with(&a.exp().unwrap(), Tensor::ones([2, 3], DType::F32)).is_err());
    // gradcheck wants f64.
    let r = gradcheck(|v| v[0].exp(), &[Tensor::ones([2], DType::F32)], GradcheckOptions::default());
    assert!(matches!(r, Err(Error::UnsupportedDType { .. })));
}
