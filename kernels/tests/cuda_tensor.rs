//! Tensors on a CUDA device, end to end through the tensor-level API: every op family's device
//! dispatch, run on `cuda:0` emulated by the host shim (the same `.cu` kernels, executed on the
//! CPU), compared with the same op on CPU tensors. Inputs include odd sizes, transposed and
//! narrowed views, and broadcast operands. This binary switches emulation on for its process.

use kiln_kernels::cuda::storage::emulate_on_host_shim;
use kiln_kernels::elementwise::{binary, binary_backward, unary, unary_backward, BinaryOp, UnaryOp};
use kiln_tensor::{DType, Device, Error, Rng, Tensor};

const GPU: Device = Device::Cuda(0);

/// Switches emulation on; false (with a notice) where the host shim is not built.
fn device() -> bool {
    match emulate_on_host_shim() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("NOTICE: skipped, {e}");
            false
        }
    }
}

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), 0.0, 1.0, DType::F32, &mut Rng::new(seed))
}

fn on_gpu(t: &Tensor) -> Tensor {
    t.to_device(GPU).unwrap()
}

/// Same shape, and values within `tol` (relative to max(1, |want|)).
fn assert_close(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.device(), GPU, "{what}: the result stays on the device");
    let (g, w) = (got.to_vec_f64().unwrap(), want.to_vec_f64().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= tol * b.abs().max(1.0), "{what}: element {i}: {a} vs {b}");
    }
}

#[test]
fn tensors_round_trip_and_views_copy_on_the_device() {
    if !device() {
        return;
    }
    let x = rand(&[7, 33], 1);
    let d = on_gpu(&x);
    assert_eq!(d.device(), GPU);
    assert_eq!(d.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    // Views stay views; reading them gathers on the device.
    let t = d.t().unwrap();
    assert!(t.same_storage(&d));
    assert_eq!(t.to_vec::<f32>().unwrap(), x.t().unwrap().to_vec::<f32>().unwrap());
    let n = d.narrow(1, 5, 9).unwrap().contiguous().unwrap();
    assert_eq!(n.device(), GPU);
    assert_eq!(n.to_vec::<f32>().unwrap(), x.narrow(1, 5, 9).unwrap().to_vec::<f32>().unwrap());
    let back = t.to_device(Device::Cpu).unwrap();
    assert_eq!(back.device(), Device::Cpu);
    assert_eq!(back.to_vec::<f32>().unwrap(), x.t().unwrap().to_vec::<f32>().unwrap());
    // Index tensors travel too; f64 has no device kernels and is refused by name.
    let ids = Tensor::from_vec(vec![3i64, 1, 4, 1, 5], [5]).unwrap();
    assert_eq!(on_gpu(&ids).to_vec::<i64>().unwrap(), vec![3, 1, 4, 1, 5]);
    let e = Tensor::zeros([2], DType::F64).to_device(GPU).unwrap_err();
    assert!(matches!(e, Error::UnsupportedDType { dtype: DType::F64, .. }), "{e:?}");
    // Host access to device data is a clear error, not a wrong read.
    assert!(matches!(d.with_slice(|s: &[f32], _| s.len()), Err(Error::DeviceMismatch { .. })));
    // Assigning replaces a whole storage's values, moving the source to the target's device.
    let p = on_gpu(&Tensor::zeros([7, 33], DType::F32));
    p.assign(&x).unwrap();
    assert_eq!(p.device(), GPU);
    assert_eq!(p.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    assert_eq!(d.zeros_like().unwrap().device(), GPU);
}

#[test]
fn mixing_devices_is_a_typed_error() {
    if !device() {
        return;
    }
    let a = rand(&[3, 4], 2);
    let e = binary(BinaryOp::Add, &on_gpu(&a), &a).unwrap_err();
    assert!(matches!(e, Error::DeviceMismatch { lhs: GPU, rhs: Device::Cpu, .. }), "{e:?}");
}

#[test]
fn elementwise_ops_match_the_cpu() {
    if !device() {
        return;
    }
    let ops = [
        UnaryOp::Neg,
        UnaryOp::Exp,
        UnaryOp::Abs,
        UnaryOp::Relu,
        UnaryOp::LeakyRelu(0.2),
        UnaryOp::Sigmoid,
        UnaryOp::Tanh,
        UnaryOp::Affine { mul: 0.5, add: -1.0 },
    ];
    for (i, shape) in [vec![1], vec![7], vec![33, 5], vec![2, 3, 17]].into_iter().enumerate() {
        let x = rand(&shape, 10 + i as u64);
        // A transposed view where there is one: the device kernels read through strides.
        let x = if shape.len() > 1 { x.transpose(0, -1).unwrap() } else { x };
        let d = on_gpu(&x);
        for op in ops {
            let y = unary(op, &x).unwrap();
            let dy = unary(op, &d).unwrap();
            assert_close(&dy, &y, 1e-5, &format!("{op:?} {shape:?}"));
            let g = rand(x.dims(), 99);
            let want = unary_backward(op, &x, &y, &g).unwrap();
            let got = unary_backward(op, &d, &dy, &on_gpu(&g)).unwrap();
            assert_close(&got, &want, 1e-5, &format!("{op:?} backward {shape:?}"));
        }
    }
    // Broadcast: a row and a column against a matrix, both ways round.
    let m = rand(&[33, 7], 3);
    let (row, col) = (rand(&[7], 4), rand(&[33, 1], 5));
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum] {
        for (a, b) in [(&m, &row), (&col, &m), (&m, &m)] {
            let want = binary(op, a, b).unwrap();
            assert_close(&binary(op, &on_gpu(a), &on_gpu(b)).unwrap(), &want, 1e-5, &format!("{op:?}"));
            let g = rand(want.dims(), 6);
            let (wa, wb) = binary_backward(op, a, b, &g).unwrap();
            let (ga, gb) = binary_backward(op, &on_gpu(a), &on_gpu(b), &on_gpu(&g)).unwrap();
            assert_close(&ga, &wa, 1e-5, &format!("{op:?} da"));
            assert_close(&gb, &wb, 1e-5, &format!("{op:?} db"));
        }
    }
}
