//! Tests of the fast LSTM recurrence (`cpu.rs`) against the scalar reference on every SIMD path:
//! odd batch / step / hidden sizes, both directions, with and without padding lengths, sizes above
//! the parallel threshold; the small GEMM against a naive loop; and the public entry points on
//! strided inputs and bad shapes.

use super::{cpu, reference, BackwardArgs, Dims, Forward, Steps};
use crate::elementwise::cpu_tests::{rand, strided};
use crate::simd::Isa;
use kiln_tensor::testing::{assert_close, Tol};
use kiln_tensor::{DType, Rng, Tensor};

fn values(n: usize, lo: f64, hi: f64, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(lo, hi) as f32).collect()
}

#[test]
fn small_gemm_matches_a_naive_loop_on_odd_sizes_and_leading_dims() {
    let mut rng = Rng::new(11);
    for isa in Isa::ALL {
        for (m, k, n) in [(1, 1, 1), (3, 7, 5), (4, 16, 64), (5, 33, 257), (16, 64, 256), (7, 256, 33)] {
            let (lda, ldb, ldc) = (k + 3, n + 1, n + 5);
            let a = values(m * lda, -1.0, 1.0, &mut rng);
            let b = values(k * ldb, -1.0, 1.0, &mut rng);
            let c0 = values(m * ldc, -1.0, 1.0, &mut rng);
            let mut want = c0.clone();
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| a[i * lda + p] as f64 * b[p * ldb + j] as f64).sum();
                    want[i * ldc + j] = (c0[i * ldc + j] as f64 + dot) as f32;
                }
            }
            let mut got = c0.clone();
            cpu::gemm_acc(isa, [m, k, n], (&a, lda), (&b, ldb), (&mut got, ldc));
            assert_close(&format!("{isa:?} gemm_acc {m}x{k}x{n}"), &got, &want, Tol::rel(1e-5).abs(1e-5 * k as f64));
        }
    }
}

fn random_steps(batch: usize, t_len: usize, padded: bool, reverse: bool, rng: &mut Rng) -> Steps {
    let lengths = padded.then(|| (0..batch).map(|_| 1 + rng.below(t_len)).collect());
    Steps { lengths, reverse }
}

/// Fast forward and backward against the reference for one configuration.
fn check(isa: Isa, d: Dims, steps: &Steps, rng: &mut Rng) {
    let Dims { batch, steps: t_len, hidden: h } = d;
    let what = format!("{isa:?} {d:?} {steps:?}");
    let proj = values(batch * t_len * 4 * h, -2.0, 2.0, rng);
    let w = values(4 * h * h, -0.5, 0.5, rng);
    let (want_states, want_gates) = reference::forward(&proj, &w, d, steps);
    let (states, gates) = cpu::forward(isa, &proj, &w, d, steps);
    assert_close(&format!("{what} states"), &states, &want_states, Tol::rel(1e-4).abs(1e-5));
    assert_close(&format!("{what} gates"), &gates, &want_gates, Tol::rel(1e-4).abs(1e-5));
    let grad = values(batch * t_len * 2 * h, -1.0, 1.0, rng);
    let args = BackwardArgs { grad: &grad, states: &want_states, gates: &want_gates, w_hh: &w };
    let (want_dproj, want_dw) = reference::backward(&args, d, steps);
    let (dproj, dw) = cpu::backward(isa, &args, d, steps);
    assert_close(&format!("{what} d proj"), &dproj, &want_dproj, Tol::rel(1e-4).abs(1e-4));
    assert_close(&format!("{what} d w_hh"), &dw, &want_dw, Tol::rel(1e-4).abs(1e-5 * (batch * t_len) as f64));
}

#[test]
fn fast_recurrence_matches_reference_on_every_path_direction_and_padding() {
    let mut rng = Rng::new(3);
    for isa in Isa::ALL {
        for (batch, t_len, h) in [(1, 1, 1), (3, 7, 7), (2, 5, 16), (5, 4, 33)] {
            for padded in [false, true] {
                for reverse in [false, true] {
                    let steps = random_steps(batch, t_len, padded, reverse, &mut rng);
                    check(isa, Dims { batch, steps: t_len, hidden: h }, &steps, &mut rng);
                }
            }
        }
    }
}

#[test]
fn fast_recurrence_matches_reference_above_the_parallel_threshold() {
    let mut rng = Rng::new(4);
    let d = Dims { batch: 9, steps: 33, hidden: 64 };
    assert!(d.batch * d.steps * 4 * d.hidden * d.hidden >= cpu::PAR_MIN_LSTM);
    let pool = crate::denormals::pool_builder(4).build().unwrap();
    pool.install(|| {
        for reverse in [false, true] {
            check(crate::simd::isa(), d, &random_steps(9, 33, true, reverse, &mut rng), &mut rng);
        }
    });
}

#[test]
fn entry_points_take_strided_inputs_and_agree_with_dense_ones() {
    let mut rng = Rng::new(5);
    let (b, t, h) = (3, 4, 5);
    // [B, T, 4H] read through a transposed layout, and W_hh as the transpose of a [H, 4H] tensor.
    let proj_t = rand(&[b, 4 * h, t], -1.0, 1.0, DType::F32, &mut rng).transpose(1, 2).unwrap();
    let w = strided(&[4 * h, h], -0.5, 0.5, DType::F32, &mut rng);
    assert!(!proj_t.is_contiguous() && !w.is_contiguous());
    let steps = Steps { lengths: Some(vec![4, 1, 3]), reverse: true };
    let got = super::forward(&proj_t, &w, &steps).unwrap();
    let dense = super::forward(&proj_t.contiguous().unwrap(), &w.contiguous().unwrap(), &steps).unwrap();
    assert_eq!(got.states.to_vec::<f32>().unwrap(), dense.states.to_vec::<f32>().unwrap());
    assert_eq!(got.states.dims(), &[b, t, 2 * h]);
    // Row 1 has one real step, the last in reverse order is step 0: steps 1.. stay zero.
    let states = got.states.to_vec::<f32>().unwrap();
    assert!(states[(t + 1) * 2 * h..2 * t * 2 * h].iter().all(|&v| v == 0.0));
    assert!(states[t * 2 * h..(t + 1) * 2 * h].iter().any(|&v| v != 0.0));
    let grad = strided(&[b, t, 2 * h], -1.0, 1.0, DType::F32, &mut rng);
    let back = super::backward(&grad, &got, &w, &steps).unwrap();
    assert_eq!(back.proj.dims(), &[b, t, 4 * h]);
    assert_eq!(back.w_hh.dims(), &[4 * h, h]);
}

#[test]
fn bad_shapes_and_lengths_are_typed_errors_naming_them() {
    let proj = Tensor::zeros([2, 3, 8], DType::F32);
    let w = Tensor::zeros([8, 2], DType::F32);
    let ok = Steps { lengths: None, reverse: false };
    let wrong_w = Tensor::zeros([8, 3], DType::F32);
    let e = super::forward(&proj, &wrong_w, &ok).err().unwrap().to_string();
    assert!(e.contains("[2, 3, 8]") && e.contains("[8, 3]"), "{e}");
    let bad_len = Steps { lengths: Some(vec![1, 4]), reverse: false };
    let e = super::forward(&proj, &w, &bad_len).err().unwrap().to_string();
    assert!(e.contains("[1, 4]"), "{e}");
    let fwd: Forward = super::forward(&proj, &w, &ok).unwrap();
    let e = super::backward(&Tensor::zeros([2, 3, 3], DType::F32), &fwd, &w, &ok).err().unwrap().to_string();
    assert!(e.contains("[2, 3, 3]"), "{e}");
    let ints = Tensor::zeros([2, 3, 8], DType::I64);
    assert!(super::forward(&ints, &w, &ok).is_err());
}
