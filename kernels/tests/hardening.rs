//! Defects a fuzz of the public API found in the CPU kernels, one test each: checked convolution
//! geometry, NaN propagation of relu / maximum / minimum as in PyTorch (on the scalar path and on
//! the SIMD path of contiguous f32), and Adam's bias correction at steps past 2^31.

use kiln_kernels::conv::conv2d;
use kiln_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln_kernels::optim::{adam_update, AdamParams};
use kiln_tensor::{DType, Error, Tensor};

#[test]
fn conv2d_with_a_padding_that_overflows_is_an_error() {
    let x = Tensor::zeros([1, 1, 3, 3], DType::F32);
    let w = Tensor::ones([1, 1, 2, 2], DType::F32);
    let b = Tensor::ones([1], DType::F32);
    // Before: 3 + 2 * 2^63 wrapped to 3, and a bias-only map of the unpadded shape came back.
    let got = conv2d(&x, &w, Some(&b), 1, 1 << 63);
    assert!(matches!(got, Err(Error::SizeOverflow { .. })), "{:?}", got.map(|t| t.dims().to_vec()));
    // Padding that fits but whose output would overflow a count.
    let got = conv2d(&x, &w, None, 1, 1 << 62);
    assert!(matches!(got, Err(Error::SizeOverflow { .. })), "{:?}", got.map(|t| t.dims().to_vec()));
    assert_eq!(conv2d(&x, &w, Some(&b), 1, 1).unwrap().dims(), [1, 1, 4, 4]);
}

/// Values with NaN in several places, long enough for the SIMD body and a tail.
fn with_nans(n: usize) -> Vec<f32> {
    (0..n).map(|i| if i % 7 == 3 { f32::NAN } else { i as f32 - n as f32 / 2.0 }).collect()
}

#[test]
fn relu_propagates_nan_and_keeps_every_other_value() {
    for n in [1, 5, 37, 4099] {
        let v = with_nans(n);
        for dtype in [DType::F32, DType::F64] {
            let x = Tensor::from_vec(v.clone(), [n]).unwrap().to_dtype(dtype).unwrap();
            let got = unary(UnaryOp::Relu, &x).unwrap().to_vec_f64().unwrap();
            for (i, (&g, &x)) in got.iter().zip(&v).enumerate() {
                if x.is_nan() {
                    assert!(g.is_nan(), "relu(NaN) at {i} of {n} ({dtype:?}) gave {g}");
                } else {
                    // Bit-exact, sign of zero included: results without NaN do not change.
                    assert_eq!(g.to_bits(), (x.max(0.0) as f64).to_bits(), "relu({x}) at {i} ({dtype:?})");
                }
            }
        }
    }
    let negzero = Tensor::from_vec(vec![-0.0f32; 64], [64]).unwrap();
    let got = unary(UnaryOp::Relu, &negzero).unwrap().to_vec::<f32>().unwrap();
    assert!(got.iter().all(|v| v.to_bits() == 0), "relu(-0) is +0 as before");
}

#[test]
fn maximum_and_minimum_propagate_nan_from_either_side() {
    let n = 41;
    let a = with_nans(n);
    let b: Vec<f32> = (0..n).map(|i| if i % 5 == 1 { f32::NAN } else { (i as f32).sin() }).collect();
    for op in [BinaryOp::Maximum, BinaryOp::Minimum] {
        let (ta, tb) = (Tensor::from_vec(a.clone(), [n]).unwrap(), Tensor::from_vec(b.clone(), [n]).unwrap());
        let got = binary(op, &ta, &tb).unwrap().to_vec::<f32>().unwrap();
        for i in 0..n {
            let want = if a[i].is_nan() || b[i].is_nan() {
                f32::NAN
            } else if op == BinaryOp::Maximum {
                a[i].max(b[i])
            } else {
                a[i].min(b[i])
            };
            assert!(got[i] == want || (got[i].is_nan() && want.is_nan()), "{op:?} at {i}: {} vs {}", got[i], want);
        }
        // Broadcast scalar operand (the `max(x, 0)` idiom) too.
        let zero = Tensor::scalar(0.0f32);
        let got = binary(op, &ta, &zero).unwrap().to_vec::<f32>().unwrap();
        assert!(got[3].is_nan(), "{op:?}(NaN, 0)");
    }
}

#[test]
fn adam_bias_correction_uses_the_whole_step_count() {
    let hp = AdamParams { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false };
    let (bc1, bc2) = hp.bias_corrections(1);
    assert!((bc1 - 0.1).abs() < 1e-15 && (bc2 - 0.001f64.sqrt()).abs() < 1e-15);
    // Before: `step as i32` made step 2^32 + 1 act as step 1.
    assert_eq!(hp.bias_corrections((1 << 32) + 1), (1.0, 1.0));
    let moved = |step: u64| {
        let p = Tensor::from_vec(vec![1.0f32], [1]).unwrap();
        let g = Tensor::from_vec(vec![0.5f32], [1]).unwrap();
        let (m, v) = (Tensor::zeros([1], DType::F32), Tensor::zeros([1], DType::F32));
        adam_update(&p, &g, &m, &v, hp, step).unwrap();
        1.0 - p.to_vec::<f32>().unwrap()[0] as f64
    };
    assert!((moved(1) - 0.1).abs() < 1e-6, "first step moves by lr");
    // Uncorrected: lr * 0.1 g / (sqrt(0.001 g^2) + eps) = lr * 0.1 / sqrt(0.001).
    let far = moved((1 << 32) + 1);
    assert!((far - 0.1 * 0.1 / 0.001f64.sqrt()).abs() < 1e-5, "{far}");
}
