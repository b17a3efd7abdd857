//! Device paths (emulated by the host shim) agreeing with the CPU on what is valid and what comes
//! out: cross_entropy's targets (range-checked, u32 taken), relu / maximum with NaN, Adam past
//! step 2^31. This binary switches emulation on for its process.

use kiln_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln_kernels::loss::{cross_entropy, cross_entropy_backward};
use kiln_kernels::optim::{adam_update, AdamParams};
use kiln_tensor::{Device, Tensor};

mod emulated;
use emulated::{device, GPU};

fn logits() -> Tensor {
    Tensor::from_vec((0..12).map(|i| (i as f32 * 0.37).sin()).collect(), [4, 3]).unwrap()
}

#[test]
fn device_cross_entropy_refuses_out_of_range_targets_like_the_cpu() {
    if !device() {
        return;
    }
    let x = logits();
    let bad = Tensor::from_vec(vec![0i64, 2, 3, 1], [4]).unwrap();
    assert!(cross_entropy(&x, &bad).is_err(), "the CPU refuses class 3 of 3");
    let (xg, bg) = (x.to_device(GPU).unwrap(), bad.to_device(GPU).unwrap());
    // Before: a NaN loss and a finite, wrong gradient.
    assert!(cross_entropy(&xg, &bg).is_err());
    let one = Tensor::scalar(1.0f32).to_device(GPU).unwrap();
    assert!(cross_entropy_backward(&xg, &bg, &one).is_err());
    let negative = Tensor::from_vec(vec![0i64, -1, 1, 1], [4]).unwrap().to_device(GPU).unwrap();
    assert!(cross_entropy(&xg, &negative).is_err());
}

#[test]
fn device_cross_entropy_takes_u32_targets_like_the_cpu() {
    if !device() {
        return;
    }
    let x = logits();
    let t = Tensor::from_vec(vec![0u32, 2, 1, 1], [4]).unwrap();
    let cpu = cross_entropy(&x, &t).unwrap().to_vec::<f32>().unwrap()[0];
    let gpu = cross_entropy(&x.to_device(GPU).unwrap(), &t.to_device(GPU).unwrap()).unwrap();
    let gpu = gpu.to_device(Device::Cpu).unwrap().to_vec::<f32>().unwrap()[0];
    assert!((cpu - gpu).abs() < 1e-6, "{cpu} vs {gpu}");
    let one = Tensor::scalar(1.0f32);
    let dc = cross_entropy_backward(&x, &t, &one).unwrap().to_vec::<f32>().unwrap();
    let dg =
        cross_entropy_backward(&x.to_device(GPU).unwrap(), &t.to_device(GPU).unwrap(), &one.to_device(GPU).unwrap())
            .unwrap()
            .to_device(Device::Cpu)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
    assert!(dc.iter().zip(&dg).all(|(a, b)| (a - b).abs() < 1e-6), "{dc:?} vs {dg:?}");
}

#[test]
fn device_relu_and_maximum_propagate_nan() {
    if !device() {
        return;
    }
    let x = Tensor::from_vec(vec![f32::NAN, -1.0, 2.0, f32::NAN], [4]).unwrap();
    let y = Tensor::from_vec(vec![0.0f32, f32::NAN, 1.0, 5.0], [4]).unwrap();
    let back = |t: Tensor| t.to_device(Device::Cpu).unwrap().to_vec::<f32>().unwrap();
    let r = back(unary(UnaryOp::Relu, &x.to_device(GPU).unwrap()).unwrap());
    assert!(r[0].is_nan() && r[1] == 0.0 && r[2] == 2.0 && r[3].is_nan(), "{r:?}");
    for op in [BinaryOp::Maximum, BinaryOp::Minimum] {
        let m = back(binary(op, &x.to_device(GPU).unwrap(), &y.to_device(GPU).unwrap()).unwrap());
        assert!(m[0].is_nan() && m[1].is_nan() && m[3].is_nan(), "{op:?}: {m:?}");
        assert_eq!(m[2], if op == BinaryOp::Maximum { 2.0 } else { 1.0 });
    }
}

#[test]
fn device_adam_agrees_with_the_cpu_past_step_2_31() {
    if !device() {
        return;
    }
    let hp = AdamParams { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, decoupled: false };
    for step in [1u64, 7, (1 << 31) + 5, (1 << 32) + 1] {
        let run = |device: Device| {
            let on = |v: f32| Tensor::from_vec(vec![v; 3], [3]).unwrap().to_device(device).unwrap();
            let (p, g, m, v) = (on(1.0), on(0.5), on(0.0), on(0.0));
            adam_update(&p, &g, &m, &v, hp, step).unwrap();
            p.to_device(Device::Cpu).unwrap().to_vec::<f32>().unwrap()[0]
        };
        let (cpu, gpu) = (run(Device::Cpu), run(GPU));
        assert!((cpu - gpu).abs() < 1e-6, "step {step}: cpu {cpu} vs device {gpu}");
    }
}
