//! Tests of the embedding family: hand cases (repeated indices, u32 and i64 indices, strided
//! inputs), adjoint identities tying each select to its add, and the error cases.

use super::*;
use kiln_tensor::{DType, Rng};

fn f(v: &[f64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

fn i(v: &[i64], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape.to_vec()).unwrap()
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.to_vec_f64().unwrap().iter().zip(b.to_vec_f64().unwrap()).map(|(x, y)| x * y).sum()
}

#[test]
fn index_select_with_repeats_on_both_axes() {
    let x = f(&[0., 1., 2., 3., 4., 5.], &[3, 2]);
    let rows = index_select(&x, 0, &i(&[2, 0, 2], &[3])).unwrap();
    assert_eq!(rows.dims(), &[3, 2]);
    assert_eq!(rows.to_vec::<f64>().unwrap(), vec![4., 5., 0., 1., 4., 5.]);
    let u = Tensor::from_vec(vec![1u32, 1, 0], [3]).unwrap();
    let cols = index_select(&x, -1, &u).unwrap();
    assert_eq!(cols.to_vec::<f64>().unwrap(), vec![1., 1., 0., 3., 3., 2., 5., 5., 4.]);
    // Transposed input ([[0,2,4],[1,3,5]]) and an integer table.
    let xt = x.t().unwrap();
    assert_eq!(index_select(&xt, 1, &i(&[2, 1], &[2])).unwrap().to_vec::<f64>().unwrap(), vec![4., 2., 5., 3.]);
    let table = Tensor::from_vec(vec![10i64, 11, 12], [3]).unwrap();
    assert_eq!(index_select(&table, 0, &i(&[2, 2, 0], &[3])).unwrap().to_vec::<i64>().unwrap(), vec![12, 12, 10]);
    // A broadcast table: every row is the same.
    let b = f(&[7., 8.], &[1, 2]).broadcast_to([4, 2]).unwrap();
    assert_eq!(index_select(&b, 0, &i(&[3, 1], &[2])).unwrap().to_vec::<f64>().unwrap(), vec![7., 8., 7., 8.]);
    assert_eq!(index_select(&x, 0, &i(&[], &[0])).unwrap().dims(), &[0, 2]);
}

#[test]
fn index_add_accumulates_repeats() {
    let src = f(&[1., 2., 3., 4., 5., 6.], &[3, 2]);
    let out = index_add(&[3, 2].into(), 0, &i(&[2, 0, 2], &[3]), &src).unwrap();
    assert_eq!(out.to_vec::<f64>().unwrap(), vec![3., 4., 0., 0., 6., 8.]);
    // A transposed src along axis 1.
    let st = f(&[1., 2., 3., 4.], &[2, 2]).t().unwrap(); // [[1,3],[2,4]]
    let out = index_add(&[2, 3].into(), 1, &i(&[0, 0], &[2]), &st).unwrap();
    assert_eq!(out.to_vec::<f64>().unwrap(), vec![4., 0., 0., 6., 0., 0.]);
}

#[test]
fn index_add_is_the_adjoint_of_index_select() {
    let mut rng = Rng::new(31);
    let x = Tensor::randn([3, 5, 4], 0.0, 1.0, DType::F64, &mut rng);
    let idx = i(&[4, 0, 4, 2, 4, 1, 0], &[7]);
    let y = index_select(&x, 1, &idx).unwrap();
    assert_eq!(y.dims(), &[3, 7, 4]);
    let g = Tensor::randn(y.dims().to_vec(), 0.0, 1.0, DType::F64, &mut rng);
    let back = index_add(x.shape(), 1, &idx, &g).unwrap();
    assert!((dot(&y, &g) - dot(&x, &back)).abs() < 1e-12);
}

#[test]
fn gather_and_scatter_add_follow_torch() {
    let x = f(&[1., 2., 3., 4.], &[2, 2]);
    let along1 = gather(&x, 1, &i(&[0, 0, 1, 0], &[2, 2])).unwrap();
    assert_eq!(along1.to_vec::<f64>().unwrap(), vec![1., 1., 4., 3.]);
    let along0 = gather(&x, 0, &i(&[1, 0, 0, 0], &[2, 2])).unwrap();
    assert_eq!(along0.to_vec::<f64>().unwrap(), vec![3., 2., 1., 2.]);
    // A narrower index, a longer one along the axis, and a transposed x ([[1,3],[2,4]]).
    assert_eq!(gather(&x, 1, &i(&[1, 0], &[2, 1])).unwrap().to_vec::<f64>().unwrap(), vec![2., 3.]);
    assert_eq!(gather(&x, 1, &i(&[1, 1, 0], &[1, 3])).unwrap().to_vec::<f64>().unwrap(), vec![2., 2., 1.]);
    let xt = x.t().unwrap();
    assert_eq!(gather(&xt, 1, &i(&[1, 0, 1, 1], &[2, 2])).unwrap().to_vec::<f64>().unwrap(), vec![3., 1., 4., 4.]);
    // Labels as i64 gather too.
    let labels = i(&[5, 6, 7, 8], &[2, 2]);
    assert_eq!(gather(&labels, 0, &i(&[1, 1], &[1, 2])).unwrap().to_vec::<i64>().unwrap(), vec![7, 8]);

    let src = f(&[1., 2., 3., 4.], &[2, 2]);
    let s = scatter_add(&[2, 2].into(), 1, &i(&[0, 0, 1, 0], &[2, 2]), &src).unwrap();
    assert_eq!(s.to_vec::<f64>().unwrap(), vec![3., 0., 4., 3.]);
    // src larger than index: only its leading [2, 1] block is used.
    let s = scatter_add(&[2, 3].into(), 1, &i(&[2, 2], &[2, 1]), &src).unwrap();
    assert_eq!(s.to_vec::<f64>().unwrap(), vec![0., 0., 1., 0., 0., 3.]);
}

#[test]
fn scatter_add_is_the_adjoint_of_gather() {
    let mut rng = Rng::new(32);
    let x = Tensor::randn([4, 3, 5], 0.0, 1.0, DType::F64, &mut rng);
    let raw: Vec<u32> = (0..2 * 3 * 6).map(|_| rng.below(5) as u32).collect();
    let idx = Tensor::from_vec(raw, [2, 3, 6]).unwrap();
    let y = gather(&x, 2, &idx).unwrap();
    let g = Tensor::randn([2, 3, 6], 0.0, 1.0, DType::F64, &mut rng);
    let back = scatter_add(x.shape(), 2, &idx, &g).unwrap();
    assert!((dot(&y, &g) - dot(&x, &back)).abs() < 1e-12);
}

#[test]
fn bad_arguments_are_typed_errors() {
    let x = f(&[0., 1., 2., 3., 4., 5.], &[3, 2]);
    assert!(matches!(index_select(&x, 0, &i(&[3], &[1])), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(index_select(&x, 0, &i(&[-1], &[1])), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(index_select(&x, 2, &i(&[0], &[1])), Err(Error::AxisOutOfRange { .. })));
    assert!(matches!(index_select(&x, 0, &i(&[0, 1], &[1, 2])), Err(Error::InvalidArgument { .. })));
    assert!(matches!(index_select(&x, 0, &f(&[0.], &[1])), Err(Error::UnsupportedDType { .. })));
    let shape: Shape = [3, 2].into();
    assert!(matches!(index_add(&shape, 0, &i(&[0], &[1]), &x), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(index_add(&shape, 0, &i(&[0, 1, 5], &[3]), &x), Err(Error::IndexOutOfRange { .. })));
    let xi = Tensor::zeros([3, 2], DType::I64);
    assert!(matches!(index_add(&shape, 0, &i(&[0, 1, 2], &[3]), &xi), Err(Error::UnsupportedDType { .. })));
    assert!(matches!(gather(&x, 1, &i(&[0, 1], &[2])), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(gather(&x, 1, &i(&[0; 4], &[4, 1])), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(gather(&x, 1, &i(&[2], &[1, 1])), Err(Error::IndexOutOfRange { .. })));
    let src = f(&[1., 2.], &[1, 2]);
    assert!(matches!(scatter_add(&shape, 0, &i(&[0; 4], &[2, 2]), &src), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(scatter_add(&shape, 0, &i(&[3, 0], &[1, 2]), &src), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(scatter_add(&shape, 5, &i(&[0, 0], &[1, 2]), &src), Err(Error::AxisOutOfRange { .. })));
}

#[test]
fn embedding_backward_is_index_add_with_the_padding_row_left_zero() {
    let shape: Shape = [4, 2].into();
    let ids = i(&[1, 0, 1, 3, 0], &[5]);
    let g = f(&[1., 2., 3., 4., 5., 6., 7., 8., 9., 10.], &[5, 2]);
    let full = index_add(&shape, 0, &ids, &g).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(embedding_backward(&shape, &ids, &g, None).unwrap().to_vec::<f64>().unwrap(), full);
    let padded = embedding_backward(&shape, &ids, &g, Some(1)).unwrap().to_vec::<f64>().unwrap();
    assert_eq!(padded, [full[0], full[1], 0., 0., full[4], full[5], full[6], full[7]]);
    let e = embedding_backward(&shape, &ids, &g, Some(4)).err().unwrap().to_string();
    assert!(e.contains("padding index 4") && e.contains("[4, 2]"), "{e}");
}

#[test]
fn row_fast_paths_equal_the_reference_bit_for_bit_and_decline_strided_inputs() {
    let mut rng = Rng::new(21);
    for (n, row, picks) in [(1, 1, 1), (7, 33, 20), (33, 7, 257), (5, 1, 9)] {
        let x = Tensor::randn([n, row], 0.0, 1.0, DType::F32, &mut rng);
        let idx: Vec<usize> = (0..picks).map(|_| rng.below(n)).collect();
        x.with_slice(|s: &[f32], l| {
            assert_eq!(
                cpu::select_rows(s, l, &idx).unwrap(),
                reference::index_select(s, l, 0, &idx),
                "select {n}x{row}"
            );
        })
        .unwrap();
        let src = Tensor::randn([picks, row], 0.0, 1.0, DType::F32, &mut rng);
        src.with_slice(|s: &[f32], l| {
            let want = reference::index_add(&[n, row], 0, &idx, s, l);
            assert_eq!(cpu::add_rows(&[n, row], &idx, s, l).unwrap(), want, "add {n}x{row}");
        })
        .unwrap();
    }
    let t = Tensor::randn([4, 6], 0.0, 1.0, DType::F64, &mut rng).t().unwrap();
    t.with_slice(|s: &[f64], l| {
        assert!(cpu::select_rows(s, l, &[0, 1]).is_none());
        assert!(cpu::add_rows(&[6, 4], &[0, 1, 2, 3, 4, 5], s, l).is_none());
    })
    .unwrap();
}
