//! Tensors on a CUDA device, end to end through the tensor-level API: every op family's device
//! dispatch, run on `cuda:0` emulated by the host shim (the same `.cu` kernels, executed on the
//! CPU), or on the real GPU with `KILN_TEST_GPU=1`, compared with the same op on CPU tensors. Inputs
//! include odd sizes, transposed and narrowed views, and broadcast operands.

use kiln_kernels::elementwise::{binary, binary_backward, unary, unary_backward, BinaryOp, UnaryOp};
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Device, Error, Layout, Rng, Shape, Tensor};

mod emulated;
use emulated::{device, GPU};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), 0.0, 1.0, DType::F32, &mut Rng::new(seed))
}

/// `t` on the device *with its layout*: the whole storage behind it is uploaded and viewed through
/// the same shape, strides and offset, so a transposed, narrowed or broadcast input reaches the
/// device kernels as that view (`to_device` alone would upload it densely).
fn on_gpu(t: &Tensor) -> Tensor {
    let whole = t.with_layout(Layout::contiguous(Shape::from(vec![t.storage().len()]))).unwrap();
    let moved = whole.to_device(GPU).unwrap().with_layout(t.layout().clone()).unwrap();
    assert_eq!(moved.layout(), t.layout());
    moved
}

/// `t` (2-D) on the device as a transposed view of a dense upload: the same values, read through
/// strides. (`to_device` always uploads densely, so a view must be taken after the upload.)
fn strided_on_gpu(t: &Tensor) -> Tensor {
    on_gpu(&t.t().unwrap().contiguous().unwrap()).t().unwrap()
}

/// [`assert_close`] for a result that must have stayed on the device.
#[track_caller]
fn assert_on_device(got: &Tensor, want: &Tensor, tol: f64, what: &str) {
    assert_eq!(got.device(), GPU, "{what}: the result stays on the device");
    assert_close(what, got, want, tol);
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
        let base = rand(&shape, 10 + i as u64);
        // A transposed view where there is one, taken on each device after the upload: the
        // device kernels read through strides.
        let view = |t: &Tensor| if shape.len() > 1 { t.transpose(0, -1).unwrap() } else { t.clone() };
        let (x, d) = (view(&base), view(&on_gpu(&base)));
        for op in ops {
            let y = unary(op, &x).unwrap();
            let dy = unary(op, &d).unwrap();
            assert_on_device(&dy, &y, 1e-5, &format!("{op:?} {shape:?}"));
            let g = rand(x.dims(), 99);
            let want = unary_backward(op, &x, &y, &g).unwrap();
            let got = unary_backward(op, &d, &dy, &on_gpu(&g)).unwrap();
            assert_on_device(&got, &want, 1e-5, &format!("{op:?} backward {shape:?}"));
        }
    }
    // Broadcast: a row and a column against a matrix, both ways round.
    let m = rand(&[33, 7], 3);
    let (row, col) = (rand(&[7], 4), rand(&[33, 1], 5));
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Maximum] {
        for (a, b) in [(&m, &row), (&col, &m), (&m, &m)] {
            let want = binary(op, a, b).unwrap();
            assert_on_device(&binary(op, &on_gpu(a), &on_gpu(b)).unwrap(), &want, 1e-5, &format!("{op:?}"));
            let g = rand(want.dims(), 6);
            let (wa, wb) = binary_backward(op, a, b, &g).unwrap();
            let (ga, gb) = binary_backward(op, &on_gpu(a), &on_gpu(b), &on_gpu(&g)).unwrap();
            assert_on_device(&ga, &wa, 1e-5, &format!("{op:?} da"));
            assert_on_device(&gb, &wb, 1e-5, &format!("{op:?} db"));
        }
    }
}

#[test]
fn reductions_softmax_and_cat_match_the_cpu() {
    if !device() {
        return;
    }
    use kiln_kernels::join::cat;
    use kiln_kernels::reduce::{argmax, reduce, ReduceOp};
    use kiln_kernels::softmax::{log_softmax, softmax, softmax_backward};
    let x = rand(&[5, 33, 7], 20);
    let views = [x.clone(), x.transpose(0, 2).unwrap(), x.narrow(1, 3, 17).unwrap()];
    for v in &views {
        let d = on_gpu(v);
        for op in [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min] {
            for (axes, keep) in
                [(vec![], false), (vec![0], true), (vec![1], false), (vec![0, 2], false), (vec![-1], true)]
            {
                let want = reduce(op, v, &axes, keep).unwrap();
                let got = reduce(op, &d, &axes, keep).unwrap();
                assert_on_device(&got, &want, 1e-5, &format!("{op:?} {axes:?} of {:?}", v.dims()));
            }
        }
        for axis in [0, 1, -1] {
            for log in [false, true] {
                let want = if log { log_softmax(v, axis) } else { softmax(v, axis) }.unwrap();
                let got = if log { log_softmax(&d, axis) } else { softmax(&d, axis) }.unwrap();
                assert_on_device(&got, &want, 1e-5, &format!("softmax log={log} axis {axis}"));
                let g = rand(v.dims(), 21);
                let wb = softmax_backward(&want, &g, axis, log).unwrap();
                let gb = softmax_backward(&got, &on_gpu(&g), axis, log).unwrap();
                assert_on_device(&gb, &wb, 1e-5, &format!("softmax backward log={log} axis {axis}"));
            }
        }
        let am = argmax(&d, 1, false).unwrap();
        assert_eq!(am.device(), GPU);
        assert_eq!(am.to_vec::<i64>().unwrap(), argmax(v, 1, false).unwrap().to_vec::<i64>().unwrap());
    }
    let (a, b) = (rand(&[3, 7, 5], 22), rand(&[3, 2, 5], 23).transpose(0, 2).unwrap().transpose(0, 2).unwrap());
    for axis in [1, -2] {
        let want = cat(&[&a, &b, &a], axis).unwrap();
        assert_on_device(&cat(&[&on_gpu(&a), &on_gpu(&b), &on_gpu(&a)], axis).unwrap(), &want, 0.0, "cat");
    }
    let c = rand(&[4, 7, 5], 24);
    let want = cat(&[&a, &c.narrow(0, 1, 2).unwrap()], 0).unwrap();
    assert_on_device(&cat(&[&on_gpu(&a), &on_gpu(&c).narrow(0, 1, 2).unwrap()], 0).unwrap(), &want, 0.0, "cat axis 0");
}

#[test]
fn matmul_matches_the_cpu_for_transposes_batches_and_broadcasts() {
    if !device() {
        return;
    }
    use kiln_kernels::matmul::matmul;
    let cases: Vec<(Tensor, Tensor)> = vec![
        (rand(&[1, 1], 30), rand(&[1, 1], 31)),
        (rand(&[7, 33], 32), rand(&[33, 65], 33)),
        (rand(&[33, 7], 34).t().unwrap(), rand(&[65, 33], 35).t().unwrap()),
        (rand(&[3, 5, 7], 36), rand(&[7, 9], 37)),
        (rand(&[2, 3, 5, 7], 38), rand(&[3, 7, 4], 39)),
        (rand(&[5, 3, 7], 40).transpose(0, 1).unwrap(), rand(&[3, 7, 2], 41)),
    ];
    for (a, b) in &cases {
        let want = matmul(a, b).unwrap();
        let got = matmul(&on_gpu(a), &on_gpu(b)).unwrap();
        assert_on_device(&got, &want, 1e-4, &format!("{:?} @ {:?}", a.dims(), b.dims()));
    }
}

#[test]
fn losses_match_the_cpu_forward_and_backward() {
    if !device() {
        return;
    }
    use kiln_kernels::loss::*;
    let logits = rand(&[9, 10], 50);
    let targets = Tensor::from_vec((0..9).map(|i| (i * 7 % 10) as i64).collect::<Vec<_>>(), [9]).unwrap();
    let g = Tensor::from_vec(vec![0.75f32], ()).unwrap();
    let (dl, dt, dg) = (on_gpu(&logits), on_gpu(&targets), on_gpu(&g));
    assert_on_device(&cross_entropy(&dl, &dt).unwrap(), &cross_entropy(&logits, &targets).unwrap(), 1e-5, "ce");
    let want = cross_entropy_backward(&logits, &targets, &g).unwrap();
    assert_on_device(&cross_entropy_backward(&dl, &dt, &dg).unwrap(), &want, 1e-5, "ce backward");
    // Transposed logits take the contiguous-copy path.
    let lt = rand(&[10, 9], 51).t().unwrap();
    assert_on_device(
        &cross_entropy(&on_gpu(&lt), &dt).unwrap(),
        &cross_entropy(&lt, &targets).unwrap(),
        1e-5,
        "ce of a view",
    );

    let x = rand(&[33], 52);
    let y = Tensor::from_vec((0..33).map(|i| (i % 2) as f32).collect::<Vec<_>>(), [33]).unwrap();
    let p = kiln_kernels::elementwise::unary(UnaryOp::Sigmoid, &x).unwrap();
    let (dx, dy, dp) = (on_gpu(&x), on_gpu(&y), on_gpu(&p));
    assert_on_device(&bce_with_logits(&dx, &dy).unwrap(), &bce_with_logits(&x, &y).unwrap(), 1e-5, "bce logits");
    let want = bce_with_logits_backward(&x, &y, &g).unwrap();
    assert_on_device(&bce_with_logits_backward(&dx, &dy, &dg).unwrap(), &want, 1e-5, "bce logits backward");
    assert_on_device(&bce(&dp, &dy).unwrap(), &bce(&p, &y).unwrap(), 1e-5, "bce");
    assert_on_device(&bce_backward(&dp, &dy, &dg).unwrap(), &bce_backward(&p, &y, &g).unwrap(), 1e-4, "bce backward");
    assert_on_device(&mse(&dx, &dp).unwrap(), &mse(&x, &p).unwrap(), 1e-5, "mse");
    let (wa, wb) = mse_backward(&x, &p, &g).unwrap();
    let (ga, gb) = mse_backward(&dx, &dp, &dg).unwrap();
    assert_on_device(&ga, &wa, 1e-5, "mse da");
    assert_on_device(&gb, &wb, 1e-5, "mse db");
}

#[test]
fn optimizer_steps_match_the_cpu_in_place() {
    if !device() {
        return;
    }
    use kiln_kernels::optim::{adam_update, sgd_update, AdamParams, SgdParams};
    let adam = AdamParams { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01, decoupled: true };
    let sgd = SgdParams { lr: 0.1, momentum: 0.9, dampening: 0.0, weight_decay: 1e-3, nesterov: true };
    let p0 = rand(&[7, 33], 60);
    let (cp, cm, cv, cvel) =
        (p0.deep_copy().unwrap(), p0.zeros_like().unwrap(), p0.zeros_like().unwrap(), p0.zeros_like().unwrap());
    let (dp, dm, dv) = (on_gpu(&p0), on_gpu(&cm), on_gpu(&cv));
    let (sp, dvel) = (on_gpu(&p0), on_gpu(&cvel));
    let sp_cpu = p0.deep_copy().unwrap();
    for step in 1..=3u64 {
        let g = rand(&[7, 33], 60 + step);
        adam_update(&cp, &g, &cm, &cv, adam, step).unwrap();
        adam_update(&dp, &on_gpu(&g), &dm, &dv, adam, step).unwrap();
        sgd_update(&sp_cpu, &g, &cvel, sgd, step == 1).unwrap();
        sgd_update(&sp, &on_gpu(&g), &dvel, sgd, step == 1).unwrap();
    }
    assert_on_device(&dp, &cp, 1e-5, "adam param");
    assert_on_device(&dv, &cv, 1e-5, "adam v");
    assert_on_device(&sp, &sp_cpu, 1e-5, "sgd param");
    assert_on_device(&dvel, &cvel, 1e-5, "sgd velocity");
    // State on another device than its parameter is refused by name.
    let e = adam_update(&dp, &on_gpu(&p0), &cm, &dv, adam, 4).unwrap_err();
    assert!(matches!(e, Error::DeviceMismatch { .. }), "{e:?}");
}

#[test]
fn conv2d_and_max_pool_match_the_cpu_forward_and_backward() {
    if !device() {
        return;
    }
    use kiln_kernels::conv::{conv2d, conv2d_backward_input, conv2d_backward_weight};
    use kiln_kernels::pool::{max_pool2d, max_pool2d_backward};
    // (input, weight, stride, padding): odd sizes, a channels-last view, stride 2 with padding.
    let cases = [
        (rand(&[2, 3, 7, 9], 70), rand(&[5, 3, 3, 3], 71), 1, 0),
        (rand(&[2, 7, 9, 3], 72).permute(&[0, 3, 1, 2]).unwrap(), rand(&[4, 3, 3, 2], 73), 2, 1),
        (rand(&[1, 1, 5, 5], 74), rand(&[1, 1, 5, 5], 75), 1, 2),
    ];
    for (x, w, stride, pad) in &cases {
        let b = rand(&[w.dims()[0]], 76);
        let want = conv2d(x, w, Some(&b), *stride, *pad).unwrap();
        let (dx, dw) = (on_gpu(x), on_gpu(w));
        let got = conv2d(&dx, &dw, Some(&on_gpu(&b)), *stride, *pad).unwrap();
        assert_on_device(&got, &want, 1e-4, &format!("conv2d {:?} * {:?}", x.dims(), w.dims()));
        let g = rand(want.dims(), 77);
        let wi = conv2d_backward_input(&g, w, x.shape(), *stride, *pad).unwrap();
        let gi = conv2d_backward_input(&on_gpu(&g), &dw, x.shape(), *stride, *pad).unwrap();
        assert_on_device(&gi, &wi, 1e-4, "conv2d backward input");
        let ww = conv2d_backward_weight(x, &g, w.shape(), *stride, *pad).unwrap();
        let gw = conv2d_backward_weight(&dx, &on_gpu(&g), w.shape(), *stride, *pad).unwrap();
        assert_on_device(&gw, &ww, 1e-4, "conv2d backward weight");
    }
    for (x, k, s) in [(rand(&[2, 3, 8, 8], 78), 2, 2), (rand(&[1, 2, 7, 5], 79).transpose(2, 3).unwrap(), 3, 2)] {
        let (want, wi) = max_pool2d(&x, k, s).unwrap();
        let (got, gi) = max_pool2d(&on_gpu(&x), k, s).unwrap();
        assert_on_device(&got, &want, 0.0, "max_pool2d");
        assert_eq!(gi.to_vec::<i64>().unwrap(), wi.to_vec::<i64>().unwrap(), "argmax");
        let g = rand(want.dims(), 80);
        let wb = max_pool2d_backward(&g, &wi, x.shape()).unwrap();
        assert_on_device(&max_pool2d_backward(&on_gpu(&g), &gi, x.shape()).unwrap(), &wb, 1e-6, "max_pool2d backward");
    }
}

#[test]
fn embedding_and_lstm_sequences_match_the_cpu() {
    if !device() {
        return;
    }
    use kiln_kernels::embedding::{embedding_backward, index_add, index_select};
    use kiln_kernels::lstm::{backward, forward, Forward, Steps};
    let table = rand(&[9, 6], 90);
    let ids = Tensor::from_vec(vec![3i64, 0, 8, 3, 1, 0, 7], [7]).unwrap();
    let (dt, di) = (on_gpu(&table), on_gpu(&ids));
    assert_on_device(&index_select(&dt, 0, &di).unwrap(), &index_select(&table, 0, &ids).unwrap(), 0.0, "rows");
    let ids32 = on_gpu(&ids.to_dtype(DType::U32).unwrap());
    assert_on_device(&index_select(&dt, 0, &ids32).unwrap(), &index_select(&table, 0, &ids).unwrap(), 0.0, "u32 ids");
    let cols = Tensor::from_vec(vec![5i64, 0, 5], [3]).unwrap();
    let want = index_select(&table.t().unwrap(), 1, &cols).unwrap();
    assert_on_device(&index_select(&dt.t().unwrap(), 1, &on_gpu(&cols)).unwrap(), &want, 0.0, "columns of a view");
    let g = rand(&[7, 6], 91);
    for pad in [None, Some(0)] {
        let want = embedding_backward(table.shape(), &ids, &g, pad).unwrap();
        let got = embedding_backward(table.shape(), &di, &on_gpu(&g), pad).unwrap();
        assert_on_device(&got, &want, 1e-6, &format!("embedding backward, padding {pad:?}"));
    }
    let g = rand(&[6, 3], 92);
    let want = index_add(&[6, 9].into(), 1, &cols, &g).unwrap();
    assert_on_device(
        &index_add(&[6, 9].into(), 1, &on_gpu(&cols), &on_gpu(&g)).unwrap(),
        &want,
        1e-6,
        "index_add axis 1",
    );

    let (b, t, h) = (3, 5, 4);
    let proj = rand(&[b, t, 4 * h], 93);
    let w_hh = Tensor::randn([4 * h, h], 0.0, 0.5, DType::F32, &mut Rng::new(94));
    for steps in [
        Steps { lengths: None, reverse: false },
        Steps { lengths: Some(vec![5, 2, 4]), reverse: false },
        Steps { lengths: Some(vec![5, 2, 4]), reverse: true },
    ] {
        let want = forward(&proj, &w_hh, &steps).unwrap();
        let got = forward(&on_gpu(&proj), &on_gpu(&w_hh), &steps).unwrap();
        assert_on_device(&got.states, &want.states, 1e-5, &format!("states {steps:?}"));
        assert_on_device(&got.gates, &want.gates, 1e-5, &format!("gates {steps:?}"));
        let g = rand(&[b, t, 2 * h], 95);
        let wb = backward(&g, &want, &w_hh, &steps).unwrap();
        let dev_fwd = Forward { states: got.states, gates: got.gates };
        let gb = backward(&on_gpu(&g), &dev_fwd, &on_gpu(&w_hh), &steps).unwrap();
        assert_on_device(&gb.proj, &wb.proj, 1e-4, &format!("dproj {steps:?}"));
        assert_on_device(&gb.w_hh, &wb.w_hh, 1e-4, &format!("dw_hh {steps:?}"));
    }
}

#[test]
fn empty_tensors_travel_and_compute_on_the_device() {
    if !device() {
        return;
    }
    let e = on_gpu(&Tensor::zeros([0, 5], DType::F32));
    assert_eq!(e.device(), GPU);
    assert_eq!(unary(UnaryOp::Relu, &e).unwrap().dims(), [0, 5]);
    assert_eq!(kiln_kernels::reduce::sum(&e, &[0], false).unwrap().to_vec::<f32>().unwrap(), vec![0.0; 5]);
    assert!(e.to_vec::<f32>().unwrap().is_empty());
    // An LSTM over no steps (or no rows) gives empty states and a zero weight gradient, as on the CPU.
    use kiln_kernels::lstm::{backward, forward, Steps};
    let w_hh = rand(&[12, 3], 120);
    for dims in [[2, 0, 12], [0, 4, 12]] {
        let steps = Steps { lengths: None, reverse: true };
        let proj = Tensor::zeros(dims, DType::F32);
        let (want, got) =
            (forward(&proj, &w_hh, &steps).unwrap(), forward(&on_gpu(&proj), &on_gpu(&w_hh), &steps).unwrap());
        assert_eq!((got.states.dims(), got.gates.dims()), (want.states.dims(), want.gates.dims()));
        let g = Tensor::zeros(want.states.dims().to_vec(), DType::F32);
        let want_b = backward(&g, &want, &w_hh, &steps).unwrap();
        let got_b = backward(&on_gpu(&g), &got, &on_gpu(&w_hh), &steps).unwrap();
        assert_on_device(&got_b.w_hh, &want_b.w_hh, 0.0, "dw_hh over no steps");
        assert_eq!(got_b.proj.dims(), want_b.proj.dims());
    }
}

#[test]
fn compare_where_masked_fill_gather_and_scatter_add_match_the_cpu() {
    use kiln_kernels::elementwise::{compare, masked_fill, where_cond, CompareOp};
    use kiln_kernels::embedding::{gather, scatter_add};
    if !device() {
        return;
    }
    // Ties and NaNs on purpose: equal entries, and a NaN row in a.
    let mut av = rand(&[7, 5], 100).to_vec::<f32>().unwrap();
    av[3] = f32::NAN;
    let a = Tensor::from_vec(av, [7, 5]).unwrap();
    let b = a.narrow(0, 2, 1).unwrap(); // a row of a, broadcast down the columns: ties
    let col = rand(&[7, 1], 101);
    for op in [CompareOp::Eq, CompareOp::Ne, CompareOp::Lt, CompareOp::Le, CompareOp::Gt, CompareOp::Ge] {
        // On the device: b as a narrowed view (an offset), a also as a strided view.
        let (da, db, dcol) = (on_gpu(&a), on_gpu(&a).narrow(0, 2, 1).unwrap(), on_gpu(&col));
        let da_strided = strided_on_gpu(&a);
        for (x, y, dx, dy, what) in [
            (&a, &b, &da, &db, "row (narrowed on the device)"),
            (&a, &col, &da_strided, &dcol, "column, a strided"),
            (&b, &a, &db, &da_strided, "swapped"),
        ] {
            let want = compare(op, x, y).unwrap();
            let got = compare(op, dx, dy).unwrap();
            assert_eq!(got.dtype(), DType::U32);
            assert_eq!(got.to_vec::<u32>().unwrap(), want.to_vec::<u32>().unwrap(), "{op:?} {what}");
        }
    }
    let cond = compare(CompareOp::Gt, &a, &col).unwrap();
    let other = rand(&[5, 7], 102).t().unwrap();
    let want = where_cond(&cond, &a, &other).unwrap();
    // A strided condition and a strided operand on the device.
    let got = where_cond(&strided_on_gpu(&cond), &on_gpu(&a), &strided_on_gpu(&other)).unwrap();
    assert_eq!(
        got.to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        want.to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        "where"
    );
    let row_cond = compare(CompareOp::Lt, &b, &Tensor::zeros((), DType::F32)).unwrap(); // [1, 5]
    let want = where_cond(&row_cond, &col, &other).unwrap();
    assert_on_device(
        &where_cond(&on_gpu(&row_cond), &on_gpu(&col), &strided_on_gpu(&other)).unwrap(),
        &want,
        0.0,
        "3-way broadcast",
    );
    let want = masked_fill(&other, &row_cond, -7.5).unwrap();
    assert_on_device(&masked_fill(&on_gpu(&other), &on_gpu(&row_cond), -7.5).unwrap(), &want, 0.0, "masked_fill");

    let x = rand(&[6, 9], 103);
    // The same values on the device dense, strided, and as a narrowed view (an offset).
    let wide = rand(&[8, 9], 104);
    let sources = [
        (x.clone(), on_gpu(&x), "dense"),
        (x.clone(), strided_on_gpu(&x), "strided"),
        (wide.narrow(0, 2, 6).unwrap(), on_gpu(&wide).narrow(0, 2, 6).unwrap(), "narrowed"),
    ];
    assert!(!sources[1].1.is_contiguous() && sources[2].1.layout().offset() > 0, "the device views are views");
    for (axis, idx) in [
        (0, Tensor::from_vec(vec![5i64, 0, 2, 2, 1, 3, 4, 0], [2, 4]).unwrap()),
        (1, Tensor::from_vec(vec![8i64, 0, 8, 3, 1, 7, 6, 2, 2], [3, 3]).unwrap()),
        (1, Tensor::from_vec(vec![4i64; 6], [6, 1]).unwrap()),
    ] {
        for (src, dsrc, what) in &sources {
            let want = gather(src, axis, &idx).unwrap();
            let got = gather(dsrc, axis, &on_gpu(&idx)).unwrap();
            assert_on_device(&got, &want, 0.0, &format!("gather axis {axis} {what}"));
            let narrow_idx = on_gpu(&idx.to_dtype(DType::U32).unwrap());
            assert_on_device(
                &gather(dsrc, axis, &narrow_idx).unwrap(),
                &want,
                0.0,
                &format!("u32 gather {axis} {what}"),
            );
            // Repeated indices accumulate; a strided source is read through its strides.
            let g = rand(idx.dims(), 105);
            let want = scatter_add(x.shape(), axis, &idx, &g).unwrap();
            let got = scatter_add(x.shape(), axis, &on_gpu(&idx), &strided_on_gpu(&g)).unwrap();
            assert_on_device(&got, &want, 1e-6, &format!("scatter_add axis {axis} {what}"));
        }
    }
}
