//! Tests of the loss family: hand values (ln C for uniform logits, ln 2 at p = 1/2, PyTorch's
//! clamps), stability on huge logits, every gradient against central finite differences in f64,
//! strided inputs, and the error cases.

use super::*;
use kiln_tensor::testing::is_close;
use kiln_tensor::{DType, Rng};

fn f64s(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

fn val(t: Result<Tensor>) -> f64 {
    let t = t.unwrap();
    assert_eq!(t.rank(), 0, "losses are scalars");
    t.to_vec_f64().unwrap()[0]
}

/// Central differences of a scalar loss w.r.t. every element of `x` (contiguous f64).
fn numeric_grad(x: &Tensor, loss: impl Fn(&Tensor) -> f64) -> Vec<f64> {
    let base = x.to_vec::<f64>().unwrap();
    let h = 1e-6;
    (0..base.len())
        .map(|i| {
            let mut plus = base.clone();
            let mut minus = base.clone();
            plus[i] += h;
            minus[i] -= h;
            let (p, m) = (f64s(&plus, x.dims()), f64s(&minus, x.dims()));
            (loss(&p) - loss(&m)) / (2.0 * h)
        })
        .collect()
}

fn assert_grad(analytic: &Tensor, numeric: &[f64], what: &str) {
    for (a, n) in analytic.to_vec::<f64>().unwrap().iter().zip(numeric) {
        assert!(is_close(*a, *n, 1e-6), "{what}: analytic {a} vs numeric {n}");
    }
}

#[test]
fn cross_entropy_hand_values_and_stability() {
    for dtype in [DType::F32, DType::F64] {
        let uniform = Tensor::zeros([4, 10], dtype);
        let t = Tensor::from_vec(vec![0i64, 3, 9, 9], [4]).unwrap();
        assert!(is_close(val(cross_entropy(&uniform, &t)), 10f64.ln(), 1e-6));
        let huge = Tensor::from_vec(vec![1000.0, 0.0, 0.0, -1000.0], [2, 2]).unwrap().to_dtype(dtype).unwrap();
        let ok = Tensor::from_vec(vec![0u32, 0], [2]).unwrap();
        let wrong = Tensor::from_vec(vec![1u32, 1], [2]).unwrap();
        assert_eq!(val(cross_entropy(&huge, &ok)), 0.0);
        assert!(is_close(val(cross_entropy(&huge, &wrong)), 1000.0, 1e-6));
        let g = cross_entropy_backward(&huge, &wrong, &Tensor::ones((), dtype)).unwrap().to_vec_f64().unwrap();
        assert_eq!(g, vec![0.5, -0.5, 0.5, -0.5]);
    }
    // F.cross_entropy(tensor([[1., 2., 3.]]), tensor([2])) = 0.40760596
    let x = f64s(&[1., 2., 3.], &[1, 3]);
    assert!(is_close(val(cross_entropy(&x, &Tensor::from_vec(vec![2i64], [1]).unwrap())), 0.40760596444, 1e-9));
}

#[test]
fn cross_entropy_gradient_matches_finite_differences_on_a_transposed_input() {
    let mut rng = Rng::new(51);
    let x = Tensor::randn([5, 3], 0.0, 2.0, DType::F64, &mut rng); // logits [3, 5] after .t()
    let xt = x.t().unwrap();
    let t = Tensor::from_vec(vec![4i64, 0, 2], [3]).unwrap();
    let g = Tensor::scalar(0.7f64);
    let analytic = cross_entropy_backward(&xt, &t, &g).unwrap();
    assert_eq!(analytic.dims(), &[3, 5]);
    let contiguous = xt.contiguous().unwrap();
    let numeric = numeric_grad(&contiguous, |v| 0.7 * val(cross_entropy(v, &t)));
    assert_grad(&analytic, &numeric, "cross_entropy");
    assert!(is_close(val(cross_entropy(&xt, &t)), val(cross_entropy(&contiguous, &t)), 1e-15));
}

#[test]
fn bce_hand_values_clamp_and_gradient() {
    let half = f64s(&[0.5, 0.5], &[2]);
    assert!(is_close(val(bce(&half, &f64s(&[1., 0.], &[2]))), 2f64.ln(), 1e-12));
    // log(0) is clamped at -100, so a confident wrong answer costs exactly 100.
    let p = f64s(&[0., 1., 1.], &[3]);
    let y = f64s(&[1., 1., 0.], &[3]);
    assert!(is_close(val(bce(&p, &y)), 200.0 / 3.0, 1e-12));
    let gp = bce_backward(&p, &y, &Tensor::scalar(1.0f64)).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(gp, vec![-1e12 / 3.0, 0.0, 1e12 / 3.0]);
    let mut rng = Rng::new(52);
    let p = Tensor::rand_uniform([2, 3], 0.05, 0.95, DType::F64, &mut rng);
    let y = Tensor::rand_uniform([2, 3], 0.0, 1.0, DType::F64, &mut rng);
    let analytic = bce_backward(&p, &y, &Tensor::scalar(1.3f64)).unwrap();
    assert_grad(&analytic, &numeric_grad(&p, |v| 1.3 * val(bce(v, &y))), "bce");
    let f = Tensor::from_vec(vec![0.25f32], [1]).unwrap();
    assert!(is_close(val(bce(&f, &Tensor::from_vec(vec![0f32], [1]).unwrap())), -(0.75f64.ln()), 1e-6));
}

#[test]
fn bce_with_logits_is_stable_and_matches_bce_of_sigmoid() {
    let x = f64s(&[0., 0.], &[2]);
    assert!(is_close(val(bce_with_logits(&x, &f64s(&[1., 0.], &[2]))), 2f64.ln(), 1e-12));
    let huge = Tensor::from_vec(vec![1000f32, -1000., 1000.], [3]).unwrap();
    let y = Tensor::from_vec(vec![0f32, 0., 1.], [3]).unwrap();
    assert!(is_close(val(bce_with_logits(&huge, &y)), 1000.0 / 3.0, 1e-6));
    let g = bce_with_logits_backward(&huge, &y, &Tensor::scalar(3f32)).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(g, vec![1., 0., 0.]);
    let mut rng = Rng::new(53);
    let x = Tensor::randn([4, 2], 0.0, 3.0, DType::F64, &mut rng);
    let y = Tensor::rand_uniform([4, 2], 0.0, 1.0, DType::F64, &mut rng);
    let p = crate::elementwise::unary(crate::elementwise::UnaryOp::Sigmoid, &x).unwrap();
    assert!(is_close(val(bce_with_logits(&x, &y)), val(bce(&p, &y)), 1e-9));
    let analytic = bce_with_logits_backward(&x, &y, &Tensor::scalar(0.5f64)).unwrap();
    assert_grad(&analytic, &numeric_grad(&x, |v| 0.5 * val(bce_with_logits(v, &y))), "bce_with_logits");
}

#[test]
fn mse_values_gradients_and_broadcast_views() {
    let a = f64s(&[1., 2.], &[2]);
    let b = f64s(&[3., 5.], &[2]);
    assert_eq!(val(mse(&a, &b)), 6.5);
    let (ga, gb) = mse_backward(&a, &b, &Tensor::scalar(2.0f64)).unwrap();
    assert_eq!((ga.to_vec::<f64>().unwrap(), gb.to_vec::<f64>().unwrap()), (vec![-4., -6.], vec![4., 6.]));
    // A stride-0 target and a transposed prediction.
    let target = f64s(&[1.], &[1, 1]).broadcast_to([2, 3]).unwrap();
    let pred = f64s(&[0., 1., 2., 3., 4., 5.], &[3, 2]).t().unwrap();
    assert!(is_close(val(mse(&pred, &target)), (1. + 1. + 9. + 0. + 4. + 16.) / 6.0, 1e-15));
    let mut rng = Rng::new(54);
    let x = Tensor::randn([3, 2], 0.0, 1.0, DType::F64, &mut rng);
    let y = Tensor::randn([3, 2], 0.0, 1.0, DType::F64, &mut rng);
    let (gx, gy) = mse_backward(&x, &y, &Tensor::scalar(1.0f64)).unwrap();
    assert_grad(&gx, &numeric_grad(&x, |v| val(mse(v, &y))), "mse a");
    assert_grad(&gy, &numeric_grad(&y, |v| val(mse(&x, v))), "mse b");
}

#[test]
fn bad_arguments_are_typed_errors() {
    let logits = Tensor::zeros([2, 3], DType::F32);
    let t = |v: Vec<i64>| Tensor::from_vec(v.clone(), [v.len()]).unwrap();
    assert!(matches!(cross_entropy(&logits, &t(vec![0, 3])), Err(Error::IndexOutOfRange { index: 3, bound: 3, .. })));
    assert!(matches!(cross_entropy(&logits, &t(vec![0, -1])), Err(Error::IndexOutOfRange { index: -1, .. })));
    assert!(matches!(cross_entropy(&logits, &t(vec![0])), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(cross_entropy(&logits, &Tensor::zeros([2], DType::F32)), Err(Error::UnsupportedDType { .. })));
    assert!(matches!(cross_entropy(&Tensor::zeros([3], DType::F32), &t(vec![0])), Err(Error::InvalidArgument { .. })));
    let two = Tensor::zeros([2], DType::F32);
    assert!(matches!(cross_entropy_backward(&logits, &t(vec![0, 1]), &two), Err(Error::ShapeMismatch { .. })));
    let g64 = Tensor::scalar(1.0f64);
    assert!(matches!(cross_entropy_backward(&logits, &t(vec![0, 1]), &g64), Err(Error::DTypeMismatch { .. })));
    let (a, b) = (Tensor::zeros([2, 3], DType::F32), Tensor::zeros([3, 2], DType::F32));
    assert!(matches!(bce(&a, &b), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(bce_with_logits(&a, &b), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(mse(&a, &b), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(mse_backward(&a, &b, &Tensor::scalar(1f32)), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(bce(&a, &Tensor::zeros([2, 3], DType::F64)), Err(Error::DTypeMismatch { .. })));
    let i = Tensor::zeros([2], DType::I64);
    assert!(matches!(mse(&i, &i), Err(Error::UnsupportedDType { .. })));
    assert!(matches!(bce_backward(&a, &a, &Tensor::zeros([1, 2], DType::F32)), Err(Error::ShapeMismatch { .. })));
    // A one-element upstream of any rank is accepted.
    assert!(bce_with_logits_backward(&a, &a, &Tensor::ones([1, 1], DType::F32)).is_ok());
}

/// Distillation's KL: `batchmean` (sum over classes, mean over rows, not over elements), the T^2
/// factor, zero for equal logits, the device composite equal to the reference, strided inputs, the
/// gradients against finite differences, and bad arguments.
#[test]
fn distill_kl_is_batchmean_kl_times_t_squared() {
    let mut rng = Rng::new(7);
    let s = Tensor::randn([3, 4], 0.0, 2.0, DType::F64, &mut rng);
    let t = Tensor::randn([3, 4], 0.0, 2.0, DType::F64, &mut rng);
    let softmax = |row: &[f64], temp: f64| {
        let m = row.iter().fold(f64::MIN, |a, &v| a.max(v / temp));
        let e: Vec<f64> = row.iter().map(|&v| (v / temp - m).exp()).collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|v| v / z).collect::<Vec<_>>()
    };
    let (sv, tv) = (s.to_vec::<f64>().unwrap(), t.to_vec::<f64>().unwrap());
    for temp in [1.0, 3.0] {
        let mut kl = 0.0;
        for r in 0..3 {
            let (ps, pt) = (softmax(&sv[r * 4..r * 4 + 4], temp), softmax(&tv[r * 4..r * 4 + 4], temp));
            kl += pt.iter().zip(&ps).map(|(p, q)| p * (p / q).ln()).sum::<f64>();
        }
        let want = kl / 3.0 * temp * temp;
        let got = val(distill_kl(&s, &t, temp));
        assert!(is_close(got, want, 1e-12), "T={temp}: {got} vs {want}");
        let composite = val(composite::distill_kl(&s, &t, temp));
        assert!(is_close(composite, want, 1e-12), "composite T={temp}: {composite} vs {want}");
        let g = Tensor::scalar(0.5f64);
        let (gs, gt) = distill_kl_backward(&s, &t, temp, &g).unwrap();
        let (cs, ct) = composite::distill_kl_backward(&s, &t, temp, &g).unwrap();
        let num_s = numeric_grad(&s, |x| 0.5 * val(distill_kl(x, &t, temp)));
        let num_t = numeric_grad(&t, |x| 0.5 * val(distill_kl(&s, x, temp)));
        assert_grad(&gs, &num_s, "student");
        assert_grad(&gt, &num_t, "teacher");
        assert_grad(&cs, &num_s, "composite student");
        assert_grad(&ct, &num_t, "composite teacher");
    }
    assert!(val(distill_kl(&s, &s, 2.0)).abs() < 1e-15, "KL(p || p) = 0");
    // A transposed view gives what its contiguous copy gives.
    let st = Tensor::randn([4, 3], 0.0, 1.0, DType::F64, &mut rng).t().unwrap();
    assert_eq!(val(distill_kl(&st, &t, 2.0)), val(distill_kl(&st.contiguous().unwrap(), &t, 2.0)));
    assert!(distill_kl(&s, &t, 0.0).unwrap_err().to_string().contains("temperature"));
    assert!(distill_kl(&s, &t, f64::NAN).is_err());
    assert!(distill_kl(&s, &Tensor::zeros([3, 5], DType::F64), 1.0).is_err());
    assert!(distill_kl(&Tensor::zeros([12], DType::F64), &Tensor::zeros([12], DType::F64), 1.0).is_err());
}
