//! View tests: every view shares storage with its source, `contiguous()` copies only when needed,
//! and values read through views match an index computed by hand.

use kiln_tensor::{DType, Error, Rng, Tensor};

fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|i| i as f32).collect::<Vec<_>>(), shape.to_vec()).unwrap()
}

#[test]
fn views_share_storage() {
    let a = iota(&[2, 3, 4]);
    let views = [
        a.transpose(0, 2).unwrap(),
        a.permute(&[1, 2, 0]).unwrap(),
        a.narrow(1, 1, 2).unwrap(),
        a.unsqueeze(0).unwrap(),
        a.unsqueeze(0).unwrap().squeeze(0).unwrap(),
        a.reshape([6, 4]).unwrap(),
        a.narrow(2, 0, 1).unwrap().broadcast_to([2, 3, 5]).unwrap(),
        a.narrow(0, 0, 1).unwrap().expand([4, 3, 4]).unwrap(),
    ];
    for v in &views {
        assert!(v.same_storage(&a), "{v:?} copied");
    }
}

#[test]
fn contiguous_copies_only_when_needed() {
    let a = iota(&[3, 4]);
    assert!(a.contiguous().unwrap().same_storage(&a));
    let t = a.t().unwrap();
    let c = t.contiguous().unwrap();
    assert!(!c.same_storage(&a));
    assert!(c.is_contiguous());
    assert_eq!(c.to_vec::<f32>().unwrap(), vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
    // reshape of a non-contiguous view must copy, and give the logical order.
    let r = t.reshape([12]).unwrap();
    assert!(!r.same_storage(&a));
    assert_eq!(r.to_vec::<f32>().unwrap(), c.to_vec::<f32>().unwrap());
}

#[test]
fn permute_and_narrow_read_the_right_elements() {
    let a = iota(&[2, 3, 4]);
    let p = a.permute(&[2, 0, 1]).unwrap(); // p[k, i, j] = a[i, j, k]
    assert_eq!(p.dims(), &[4, 2, 3]);
    let pv = p.to_vec::<f32>().unwrap();
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(pv[k * 6 + i * 3 + j], (i * 12 + j * 4 + k) as f32);
            }
        }
    }
    let n = a.narrow(-1, 1, 2).unwrap().narrow(0, 1, 1).unwrap();
    assert_eq!(n.to_vec::<f32>().unwrap(), vec![13., 14., 17., 18., 21., 22.]);
}

#[test]
fn broadcast_repeats_without_copying() {
    let col = Tensor::from_vec(vec![1f64, 2., 3.], [3, 1]).unwrap();
    let b = col.broadcast_to([2, 3, 2]).unwrap();
    assert_eq!(b.strides(), &[0, 1, 0]);
    assert_eq!(b.to_vec::<f64>().unwrap(), vec![1., 1., 2., 2., 3., 3., 1., 1., 2., 2., 3., 3.]);
    assert!(matches!(col.broadcast_to([3, 2, 2]), Err(Error::BroadcastIncompatible { .. })));
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(matches!(Tensor::from_vec(vec![1f32; 5], [2, 3]), Err(Error::ElementCount { .. })));
    let a = iota(&[2, 3]);
    assert!(matches!(a.transpose(0, 2), Err(Error::AxisOutOfRange { .. })));
    assert!(matches!(a.reshape([7]), Err(Error::ReshapeIncompatible { .. })));
    assert!(matches!(a.to_vec::<f64>(), Err(Error::DTypeMismatch { .. })));
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.narrow(0, 1, 5).is_err());
    assert!(a.to_scalar::<f32>().is_err());
    assert!(matches!(a.to_device(kiln_tensor::Device::Cuda(0)), Err(Error::DeviceUnavailable { .. })));
}

#[test]
fn construction_and_conversion() {
    let r = Tensor::arange(0.0, 5.0, 1.0, DType::I64).unwrap();
    assert_eq!(r.to_vec::<i64>().unwrap(), vec![0, 1, 2, 3, 4]);
    let h = Tensor::from_vec(vec![0.5f32, -1.25, 3.0], [3]).unwrap().to_dtype(DType::F16).unwrap();
    assert_eq!(h.dtype(), DType::F16);
    assert_eq!(h.to_dtype(DType::F32).unwrap().to_vec::<f32>().unwrap(), vec![0.5, -1.25, 3.0]);
    let b = Tensor::full(2.5, [2, 2], DType::BF16);
    assert_eq!(b.to_vec_f64().unwrap(), vec![2.5; 4]);
    let mut rng = Rng::new(42);
    let x = Tensor::randn([1000], 0.0, 1.0, DType::F32, &mut rng);
    let y = Tensor::randn([1000], 0.0, 1.0, DType::F32, &mut Rng::new(42));
    assert_eq!(x.to_vec::<f32>().unwrap(), y.to_vec::<f32>().unwrap());
    let u = Tensor::rand_uniform([1000], -2.0, 3.0, DType::F64, &mut rng).to_vec::<f64>().unwrap();
    assert!(u.iter().all(|&v| (-2.0..3.0).contains(&v)));
    assert_eq!(Tensor::ones([2], DType::U32).to_vec::<u32>().unwrap(), vec![1, 1]);
    assert_eq!(Tensor::scalar(4.0f32).to_scalar::<f32>().unwrap(), 4.0);
}

#[test]
fn move_axis_keeps_the_other_dims_in_order_and_round_trips() {
    let a = iota(&[2, 3, 4, 5]);
    let last = a.move_axis(1, 3).unwrap();
    assert_eq!(last.dims(), &[2, 4, 5, 3]);
    assert!(last.same_storage(&a));
    assert_eq!(last.to_vec::<f32>().unwrap(), a.permute(&[0, 2, 3, 1]).unwrap().to_vec::<f32>().unwrap());
    assert_eq!(a.move_axis(2, 0).unwrap().dims(), &[4, 2, 3, 5]);
    let back = last.move_axis(3, 1).unwrap();
    assert_eq!(back.to_vec::<f32>().unwrap(), a.to_vec::<f32>().unwrap());
    assert!(matches!(a.move_axis(4, 0), Err(Error::AxisOutOfRange { .. })));
}
