//! Tests of the fast optimizer steps (`cpu.rs`) against the scalar reference, called directly and
//! compared bit for bit: Adam and AdamW with and without weight decay over several steps, SGD with
//! every momentum / Nesterov / first-step combination, odd sizes, f32 and f64, a size above the
//! parallel threshold, and the tensor-level update with a transposed (copied) gradient.

use super::{adam_update, cpu, reference, AdamParams, SgdParams};
use crate::elementwise::cpu_tests::assert_same;
use kiln_tensor::{DType, Float, Rng, Tensor};

fn vals<T: Float>(n: usize, rng: &mut Rng) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.uniform(-1.0, 1.0))).collect()
}

fn sizes() -> [usize; 6] {
    [1, 7, 33, 257, 1000, cpu::PAR_MIN_OPTIM + 33]
}

fn check_adam<T: Float>(rng: &mut Rng) {
    for n in sizes() {
        for (wd, decoupled) in [(0.0, false), (0.01, false), (0.01, true)] {
            let hp = AdamParams { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: wd, decoupled };
            let mut fast = (vals::<T>(n, rng), vec![T::ZERO; n], vec![T::ZERO; n]);
            let mut slow = fast.clone();
            for step in 1..=3u64 {
                let g = vals::<T>(n, rng);
                cpu::adam_step(&mut fast.0, &g, &mut fast.1, &mut fast.2, hp, step);
                reference::adam_step(&mut slow.0, &g, &mut slow.1, &mut slow.2, hp, step);
            }
            let what = format!("adam {:?} n={n} wd={wd} decoupled={decoupled}", T::DTYPE);
            assert_same(&fast.0, &slow.0, &what);
            assert_same(&fast.1, &slow.1, &format!("{what} m"));
            assert_same(&fast.2, &slow.2, &format!("{what} v"));
        }
    }
}

fn check_sgd<T: Float>(rng: &mut Rng) {
    for n in sizes() {
        for (momentum, nesterov, wd) in [(0.0, false, 0.0), (0.9, false, 0.01), (0.9, true, 0.0), (0.5, true, 0.1)] {
            let hp = SgdParams { lr: 0.1, momentum, dampening: 0.1, weight_decay: wd, nesterov };
            let mut fast = (vals::<T>(n, rng), vec![T::ZERO; n]);
            let mut slow = fast.clone();
            for first in [true, false, false] {
                let g = vals::<T>(n, rng);
                cpu::sgd_step(&mut fast.0, &g, &mut fast.1, hp, first);
                reference::sgd_step(&mut slow.0, &g, &mut slow.1, hp, first);
            }
            let what = format!("sgd {:?} n={n} momentum={momentum} nesterov={nesterov}", T::DTYPE);
            assert_same(&fast.0, &slow.0, &what);
            assert_same(&fast.1, &slow.1, &format!("{what} velocity"));
        }
    }
}

#[test]
fn optimizer_steps_match_reference_bit_for_bit() {
    let mut rng = Rng::new(41);
    check_adam::<f32>(&mut rng);
    check_adam::<f64>(&mut rng);
    check_sgd::<f32>(&mut rng);
    check_sgd::<f64>(&mut rng);
}

#[test]
fn tensor_update_with_a_transposed_gradient_matches_reference() {
    let mut rng = Rng::new(42);
    let hp = AdamParams { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.0, decoupled: true };
    let p = Tensor::rand_uniform([33, 7], -1.0, 1.0, DType::F32, &mut rng);
    let (m, v) = (Tensor::zeros([33, 7], DType::F32), Tensor::zeros([33, 7], DType::F32));
    let g = Tensor::rand_uniform([7, 33], -1.0, 1.0, DType::F32, &mut rng).t().unwrap();
    let mut want = p.to_vec::<f32>().unwrap();
    let (mut wm, mut wv) = (vec![0.0; want.len()], vec![0.0; want.len()]);
    reference::adam_step(&mut want, &g.to_vec::<f32>().unwrap(), &mut wm, &mut wv, hp, 1);
    adam_update(&p, &g, &m, &v, hp, 1).unwrap();
    assert_same(&p.to_vec::<f32>().unwrap(), &want, "adam_update, transposed grad");
    assert_same(&m.to_vec::<f32>().unwrap(), &wm, "adam_update m");
}
