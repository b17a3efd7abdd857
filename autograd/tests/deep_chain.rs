//! A 100,000-op chain on a thread with the default 2 MiB stack: backward gives the right gradient,
//! and dropping the last handle frees every node without recursing (no stack overflow).
//! It must not raise the stack size: the point is that depth never costs stack.

use kiln_autograd::{backward, Var, WeakVar};
use kiln_tensor::{DType, Tensor};

const DEPTH: usize = 100_000;
const STACK: usize = 2 << 20;

fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(STACK).spawn(f).unwrap().join().expect("the chain test thread failed");
}

/// x -> affine(1 + 1e-5) -> ... DEPTH times, with every 1000th step adding x back in (fan-out).
fn chain(x: &Var, weak_every: usize) -> (Var, Vec<WeakVar>) {
    let mut y = x.clone();
    let mut weak = Vec::new();
    for i in 0..DEPTH {
        y = if i % 1000 == 999 { y.add(x).unwrap() } else { y.affine(1.0 + 1e-5, 0.0).unwrap() };
        if i % weak_every == 0 {
            weak.push(y.downgrade());
        }
    }
    (y, weak)
}

/// d y / d x for the chain above, by the recurrence g_i = a * g_{i-1} (affine) or g_{i-1} + 1 (add).
fn expected_grad() -> f64 {
    let mut g = 1.0f64;
    for i in 0..DEPTH {
        g = if i % 1000 == 999 { g + 1.0 } else { g * (1.0 + 1e-5) };
    }
    g
}

#[test]
fn deep_chain_backward_and_free() {
    on_small_stack(|| {
        let x = Var::leaf(Tensor::from_vec(vec![0.5f64, -2.0], [2]).unwrap());
        let (y, weak) = chain(&x, 9_999);
        assert!(weak.iter().all(|w| w.upgrade().is_some()));
        let loss = y.sum_all().unwrap();
        let grads = backward(&loss).unwrap();
        let want = expected_grad();
        let got = grads.get(&x).unwrap().to_vec::<f64>().unwrap();
        assert!(want > 100.0, "the chain's gradient is not trivial: {want}");
        for g in got {
            assert!((g - want).abs() <= 1e-9 * want, "got {g}, want {want}");
        }
        assert_eq!(grads.len(), 1, "only the leaf's gradient is kept");
        drop(grads);
        drop(y);
        assert!(weak.iter().any(|w| w.upgrade().is_some()), "loss still holds the chain");
        drop(loss);
        assert!(weak.iter().all(|w| w.upgrade().is_none()), "every node of the chain was freed");
        assert_eq!(x.tensor().to_vec::<f64>().unwrap(), vec![0.5, -2.0], "the leaf itself is untouched");
    });
}

#[test]
fn dropping_a_deep_chain_without_backward() {
    on_small_stack(|| {
        let x = Var::leaf(Tensor::ones([3], DType::F32));
        let first = x.exp().unwrap();
        let weak_first = first.downgrade();
        let mut y = first;
        for _ in 0..DEPTH {
            y = y.affine(0.5, 1.0).unwrap();
        }
        let dot_len = y.graph_dot().len();
        assert!(dot_len > DEPTH * 10, "DOT of a deep graph is built iteratively too");
        assert!(weak_first.upgrade().is_some());
        drop(y);
        assert!(weak_first.upgrade().is_none());
    });
}
