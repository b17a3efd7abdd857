//! Tests of the conv family: the im2col path against the direct loops (forward and both
//! backwards) on odd sizes, strides, paddings and strided/broadcast inputs in f32 and f64; an
//! adjoint identity tying the three reference maps together; hand cases; the error cases.

use super::*;
use crate::with_backend;
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Rng};

pub(super) fn randn(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
    Tensor::randn(shape.to_vec(), 0.0, 1.0, dtype, rng)
}

/// The tolerance of a fast result against the reference: a few rounding errors per accumulated
/// product.
pub(super) fn conv_tol(dtype: DType, acc_len: usize) -> f64 {
    let eps = if dtype == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
    4.0 * eps * acc_len.max(1) as f64
}

/// (n, c, h, w, o, kh, kw, stride, padding)
pub(super) const GEOMS: [[usize; 9]; 7] = [
    [1, 1, 1, 1, 1, 1, 1, 1, 0],
    [2, 3, 7, 7, 4, 3, 3, 1, 1],
    [1, 2, 7, 33, 3, 3, 5, 2, 2],
    [3, 1, 8, 5, 2, 2, 3, 3, 0],
    [2, 3, 33, 7, 5, 7, 1, 1, 3],
    [1, 2, 2, 3, 1, 4, 5, 1, 1],
    [2, 1, 9, 9, 1, 3, 3, 4, 0],
];

/// Input variants with the same logical shape: contiguous, NHWC-permuted, narrowed, batch-broadcast
/// (also the pooling tests' inputs).
pub(crate) fn inputs(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    dtype: DType,
    rng: &mut Rng,
) -> Vec<(&'static str, Tensor)> {
    vec![
        ("contiguous", randn(&[n, c, h, w], dtype, rng)),
        ("nhwc", randn(&[n, h, w, c], dtype, rng).permute(&[0, 3, 1, 2]).unwrap()),
        (
            "narrowed",
            randn(&[n, c + 1, h + 2, w + 3], dtype, rng)
                .narrow(1, 1, c)
                .unwrap()
                .narrow(2, 2, h)
                .unwrap()
                .narrow(3, 1, w)
                .unwrap(),
        ),
        ("broadcast", randn(&[1, c, h, w], dtype, rng).broadcast_to([n, c, h, w]).unwrap()),
    ]
}

#[test]
fn im2col_path_matches_direct_loops() {
    let mut rng = Rng::new(21);
    for dtype in [DType::F32, DType::F64] {
        for [n, c, h, w, o, kh, kw, s, p] in GEOMS {
            // A transposed weight view (copied once by mod.rs) and a bias.
            let wt = randn(&[c, o, kh, kw], dtype, &mut rng).permute(&[1, 0, 2, 3]).unwrap();
            let bias = randn(&[o], dtype, &mut rng);
            for (name, x) in inputs(n, c, h, w, dtype, &mut rng) {
                let what = format!("{name} x{:?} w{:?} s{s} p{p} {dtype:?}", x.dims(), wt.dims());
                let fast = with_backend(Backend::Cpu, || conv2d(&x, &wt, Some(&bias), s, p)).unwrap();
                let slow = with_backend(Backend::Reference, || conv2d(&x, &wt, Some(&bias), s, p)).unwrap();
                assert_close(&format!("forward {what}"), &fast, &slow, conv_tol(fast.dtype(), c * kh * kw));
                // A permuted output gradient (a non-contiguous upstream).
                let od = fast.dims().to_vec();
                let go = randn(&[od[0], od[2], od[3], od[1]], dtype, &mut rng).permute(&[0, 3, 1, 2]).unwrap();
                let xs = x.shape().clone();
                let fi = with_backend(Backend::Cpu, || conv2d_backward_input(&go, &wt, &xs, s, p)).unwrap();
                let si = with_backend(Backend::Reference, || conv2d_backward_input(&go, &wt, &xs, s, p)).unwrap();
                assert_close(&format!("backward input {what}"), &fi, &si, conv_tol(fi.dtype(), o * kh * kw));
                let ws = wt.shape().clone();
                let fw = with_backend(Backend::Cpu, || conv2d_backward_weight(&x, &go, &ws, s, p)).unwrap();
                let sw = with_backend(Backend::Reference, || conv2d_backward_weight(&x, &go, &ws, s, p)).unwrap();
                assert_close(&format!("backward weight {what}"), &fw, &sw, conv_tol(fw.dtype(), n * od[2] * od[3]));
            }
        }
    }
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_vec_f64().unwrap().iter().zip(b.to_vec_f64().unwrap()).map(|(x, y)| x * y).sum()
}

/// <conv(x, w), g> = <x, dx(g, w)> = <w, dw(x, g)>: the backward maps are the forward's adjoints.
#[test]
fn backward_maps_are_adjoints_of_the_forward() {
    let mut rng = Rng::new(22);
    for backend in [Backend::Reference, Backend::Cpu] {
        for [n, c, h, w, o, kh, kw, s, p] in GEOMS {
            let x = randn(&[n, c, h, w], DType::F64, &mut rng);
            let wt = randn(&[o, c, kh, kw], DType::F64, &mut rng);
            let y = with_backend(backend, || conv2d(&x, &wt, None, s, p)).unwrap();
            let g = randn(y.dims(), DType::F64, &mut rng);
            let dx = with_backend(backend, || conv2d_backward_input(&g, &wt, x.shape(), s, p)).unwrap();
            let dw = with_backend(backend, || conv2d_backward_weight(&x, &g, wt.shape(), s, p)).unwrap();
            let (lhs, via_x, via_w) = (dot(&y, &g), dot(&x, &dx), dot(&wt, &dw));
            assert!((lhs - via_x).abs() < 1e-9 * (1.0 + lhs.abs()), "{lhs} vs {via_x}");
            assert!((lhs - via_w).abs() < 1e-9 * (1.0 + lhs.abs()), "{lhs} vs {via_w}");
        }
    }
}

#[test]
fn hand_computed_cases() {
    for backend in [Backend::Reference, Backend::Cpu] {
        let x = Tensor::from_vec((0..9).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 3, 3]).unwrap();
        let w = Tensor::ones([1, 1, 2, 2], DType::F32);
        let b = Tensor::from_vec(vec![1f32], [1]).unwrap();
        let y = with_backend(backend, || conv2d(&x, &w, Some(&b), 1, 0)).unwrap();
        assert_eq!(y.dims(), &[1, 1, 2, 2]);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![9., 13., 21., 25.]);
        // Padding 1 around a 2x2 of ones: every 3x3 window covers all four ones.
        let ones = Tensor::ones([1, 1, 2, 2], DType::F64);
        let k3 = Tensor::ones([1, 1, 3, 3], DType::F64);
        assert_eq!(
            with_backend(backend, || conv2d(&ones, &k3, None, 1, 1)).unwrap().to_vec::<f64>().unwrap(),
            vec![4.; 4]
        );
        // Stride 2 over a 3x3 with a 1x1 kernel picks the corners.
        let x64 = x.to_dtype(DType::F64).unwrap();
        let k1 = Tensor::full(2.0, [1, 1, 1, 1], DType::F64);
        let y = with_backend(backend, || conv2d(&x64, &k1, None, 2, 0)).unwrap();
        assert_eq!(y.to_vec::<f64>().unwrap(), vec![0., 4., 12., 16.]);
        // The input gradient of the 2x2 ones kernel counts how many windows cover each pixel.
        let g = Tensor::ones([1, 1, 2, 2], DType::F32);
        let dx = with_backend(backend, || conv2d_backward_input(&g, &w, x.shape(), 1, 0)).unwrap();
        assert_eq!(dx.to_vec::<f32>().unwrap(), vec![1., 2., 1., 2., 4., 2., 1., 2., 1.]);
    }
}

#[test]
fn bad_arguments_are_typed_errors() {
    let x = Tensor::zeros([1, 3, 5, 5], DType::F32);
    let w = Tensor::zeros([2, 3, 3, 3], DType::F32);
    let w_bad_c = Tensor::zeros([2, 4, 3, 3], DType::F32);
    assert!(matches!(conv2d(&x, &w_bad_c, None, 1, 0), Err(Error::ShapeMismatch { .. })));
    let w_big = Tensor::zeros([2, 3, 8, 3], DType::F32);
    assert!(matches!(conv2d(&x, &w_big, None, 1, 1), Err(Error::KernelDoesNotFit { .. })));
    assert!(conv2d(&x, &w_big, None, 1, 2).is_ok()); // 5 + 2*2 = 9 >= 8
    assert!(matches!(conv2d(&x, &w, None, 0, 0), Err(Error::BadHyperParameter { name: "stride", .. })));
    let x3 = Tensor::zeros([3, 5, 5], DType::F32);
    assert!(matches!(conv2d(&x3, &w, None, 1, 0), Err(Error::InvalidArgument { .. })));
    let bias = Tensor::zeros([3], DType::F32);
    assert!(matches!(conv2d(&x, &w, Some(&bias), 1, 0), Err(Error::ShapeMismatch { .. })));
    let w64 = Tensor::zeros([2, 3, 3, 3], DType::F64);
    assert!(matches!(conv2d(&x, &w64, None, 1, 0), Err(Error::DTypeMismatch { .. })));
    // The output gradient must have the forward's output shape [1, 2, 3, 3].
    let g_bad = Tensor::zeros([1, 2, 4, 4], DType::F32);
    assert!(matches!(conv2d_backward_input(&g_bad, &w, x.shape(), 1, 0), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(conv2d_backward_weight(&x, &g_bad, w.shape(), 1, 0), Err(Error::ShapeMismatch { .. })));
    let g = Tensor::zeros([1, 2, 3, 3], DType::F32);
    assert!(conv2d_backward_weight(&x, &g, w.shape(), 1, 0).is_ok());
    let idx = Tensor::zeros([1, 3, 5, 5], DType::I64);
    assert!(matches!(conv2d(&idx, &idx, None, 1, 0), Err(Error::UnsupportedDType { .. })));
}
