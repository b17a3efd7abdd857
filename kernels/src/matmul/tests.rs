//! Tests of the matmul family: the `matrixmultiply` path against the naive reference on odd,
//! transposed, narrowed and broadcast operands in f32 and f64, a hand case, and the error cases.

use super::*;
use crate::with_backend;
use kiln_tensor::{DType, Rng};

fn randn(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
    Tensor::randn(shape.to_vec(), 0.0, 1.0, dtype, rng)
}

/// Fast against reference; the tolerance grows with the accumulation length `k`.
fn check_against_reference(a: &Tensor, b: &Tensor) {
    let fast = with_backend(Backend::Cpu, || matmul(a, b)).unwrap();
    let slow = with_backend(Backend::Reference, || matmul(a, b)).unwrap();
    assert_eq!(fast.shape(), slow.shape());
    assert!(fast.is_contiguous());
    let k = a.dims()[a.rank() - 1];
    let eps = if a.dtype() == DType::F32 { f32::EPSILON as f64 } else { f64::EPSILON };
    let tol = 4.0 * eps * (k.max(1) as f64);
    for (x, y) in fast.to_vec_f64().unwrap().iter().zip(slow.to_vec_f64().unwrap()) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y} for {} @ {}", a.shape(), b.shape());
    }
}

const SIZES: [(usize, usize, usize); 8] =
    [(1, 1, 1), (1, 7, 1), (7, 1, 33), (33, 7, 1), (7, 33, 7), (33, 33, 33), (2, 0, 3), (0, 3, 2)];

#[test]
fn fast_matches_reference_on_contiguous_and_strided_operands() {
    let mut rng = Rng::new(11);
    for dtype in [DType::F32, DType::F64] {
        for &(m, k, n) in &SIZES {
            let (a, b) = (randn(&[m, k], dtype, &mut rng), randn(&[k, n], dtype, &mut rng));
            check_against_reference(&a, &b);
            // Transposed views: the column stride is not 1.
            let at = randn(&[k, m], dtype, &mut rng).t().unwrap();
            let bt = randn(&[n, k], dtype, &mut rng).t().unwrap();
            assert!(m < 2 || k < 2 || !at.is_contiguous());
            check_against_reference(&at, &bt);
            check_against_reference(&a, &bt);
            // Narrowed views: row stride larger than the row and a nonzero offset.
            let an = randn(&[m + 2, k + 3], dtype, &mut rng).narrow(0, 1, m).unwrap().narrow(1, 2, k).unwrap();
            let bn = randn(&[k + 1, n + 4], dtype, &mut rng).narrow(0, 1, k).unwrap().narrow(1, 3, n).unwrap();
            check_against_reference(&an, &bn);
            // Stride 0 inside a matrix: every row (or column) is the same.
            let arow = randn(&[1, k], dtype, &mut rng).broadcast_to([m, k]).unwrap();
            let bcol = randn(&[k, 1], dtype, &mut rng).broadcast_to([k, n]).unwrap();
            check_against_reference(&arow, &bcol);
        }
    }
}

#[test]
fn batch_dims_broadcast_numpy_style() {
    let mut rng = Rng::new(12);
    for dtype in [DType::F32, DType::F64] {
        let a = randn(&[7, 5], dtype, &mut rng);
        let b = randn(&[4, 5, 3], dtype, &mut rng);
        assert_eq!(matmul(&a, &b).unwrap().dims(), &[4, 7, 3]);
        check_against_reference(&a, &b);
        let a = randn(&[2, 1, 7, 5], dtype, &mut rng);
        let b = randn(&[3, 5, 33], dtype, &mut rng);
        assert_eq!(matmul(&a, &b).unwrap().dims(), &[2, 3, 7, 33]);
        check_against_reference(&a, &b);
        // A permuted batch (batch stride smaller than the matrix strides) and an explicit stride-0 batch.
        let ap = randn(&[5, 3, 7], dtype, &mut rng).permute(&[1, 2, 0]).unwrap();
        let bb = randn(&[1, 5, 2], dtype, &mut rng).broadcast_to([3, 5, 2]).unwrap();
        assert_eq!(bb.strides()[0], 0);
        check_against_reference(&ap, &bb);
    }
}

#[test]
fn broadcast_batch_entries_are_independent_products() {
    let mut rng = Rng::new(13);
    let a = randn(&[3, 4, 5], DType::F64, &mut rng);
    let b = randn(&[5, 2], DType::F64, &mut rng);
    let out = matmul(&a, &b).unwrap();
    for i in 0..3 {
        let ai = a.narrow(0, i, 1).unwrap().squeeze(0).unwrap();
        let oi = out.narrow(0, i, 1).unwrap().squeeze(0).unwrap();
        assert_eq!(matmul(&ai, &b).unwrap().to_vec::<f64>().unwrap(), oi.to_vec::<f64>().unwrap());
    }
}

#[test]
fn hand_computed_product() {
    for backend in [Backend::Reference, Backend::Cpu] {
        let a = Tensor::from_vec(vec![1f32, 2., 3., 4.], [2, 2]).unwrap();
        let b = Tensor::from_vec(vec![5f32, 6., 7., 8.], [2, 2]).unwrap();
        assert_eq!(
            with_backend(backend, || matmul(&a, &b)).unwrap().to_vec::<f32>().unwrap(),
            vec![19., 22., 43., 50.]
        );
        // a^T @ b = [[1,3],[2,4]] @ [[5,6],[7,8]]
        let at = a.t().unwrap();
        assert_eq!(
            with_backend(backend, || matmul(&at, &b)).unwrap().to_vec::<f32>().unwrap(),
            vec![26., 30., 38., 44.]
        );
    }
}

#[test]
fn bad_operands_are_typed_errors() {
    let a = Tensor::zeros([2, 3], DType::F32);
    let b = Tensor::zeros([4, 2], DType::F32);
    match matmul(&a, &b) {
        Err(Error::ShapeMismatch { lhs, rhs, .. }) => assert_eq!((lhs.dims(), rhs.dims()), (&[2, 3][..], &[4, 2][..])),
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
    let v = Tensor::zeros([3], DType::F32);
    assert!(matches!(matmul(&v, &b), Err(Error::InvalidArgument { .. })));
    let x = Tensor::zeros([2, 2, 3], DType::F32);
    let y = Tensor::zeros([3, 3, 1], DType::F32);
    assert!(matches!(matmul(&x, &y), Err(Error::BroadcastIncompatible { .. })));
    let d = Tensor::zeros([3, 2], DType::F64);
    assert!(matches!(matmul(&a, &d), Err(Error::DTypeMismatch { .. })));
    let i = Tensor::zeros([2, 2], DType::I64);
    assert!(matches!(matmul(&i, &i), Err(Error::UnsupportedDType { .. })));
}
