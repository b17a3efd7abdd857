//! The fused norm kernels on a CUDA device (norm.cu, on `cuda:0` emulated by the host shim, or the
//! real GPU with `KILN_TEST_GPU=1`) against the CPU's, which are themselves checked against the
//! scalar reference: BatchNorm2d and LayerNorm statistics, normalise + affine, and both backward
//! modes, plain and with the fused ReLU, on odd sizes, a transposed (non-contiguous) input and empty batches.

use kiln_kernels::norm::{
    batch_norm_apply, batch_norm_backward, batch_norm_stats, layer_norm_apply, layer_norm_backward, layer_norm_stats,
};
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Device, Rng, Tensor};

mod emulated;
use emulated::{device, GPU};

fn rand(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape.to_vec(), 0.5, 2.0, DType::F32, &mut Rng::new(seed))
}

fn gpu(t: &Tensor) -> Tensor {
    t.to_device(GPU).unwrap()
}

#[track_caller]
fn same(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.device(), GPU, "{what} stays on the device");
    assert_close(what, &got.to_device(Device::Cpu).unwrap(), want, 2e-4);
}

#[test]
fn batch_norm_on_the_device_matches_the_cpu() {
    if !device() {
        return;
    }
    for (k, dims) in [[2usize, 3, 5, 7], [4, 16, 8, 8], [1, 1, 1, 1], [3, 5, 1, 33], [0, 4, 3, 3]].iter().enumerate() {
        let c = dims[1];
        let x = rand(dims, k as u64);
        let (w, b, g) = (rand(&[c], 10 + k as u64), rand(&[c], 20 + k as u64), rand(dims, 30 + k as u64));
        let s = batch_norm_stats(&x, c, 1e-5).unwrap();
        let sd = batch_norm_stats(&gpu(&x), c, 1e-5).unwrap();
        if dims[0] > 0 {
            same(&format!("{dims:?} mean"), &sd.mean, &s.mean);
            same(&format!("{dims:?} var"), &sd.var, &s.var);
            same(&format!("{dims:?} invstd"), &sd.invstd, &s.invstd);
        }
        let (stats, stats_d) = ((&s.mean, &s.invstd), (&gpu(&s.mean), &gpu(&s.invstd)));
        let (affine, affine_d) = ((&w, &b), (&gpu(&w), &gpu(&b)));
        // Plain and with the fused ReLU (forward and its gate in both backward kernels).
        for relu in [false, true] {
            let y = batch_norm_apply(&x, stats, affine, relu).unwrap();
            let yd = batch_norm_apply(&gpu(&x), stats_d, affine_d, relu).unwrap();
            same(&format!("{dims:?} y (relu {relu})"), &yd, &y);
            for batch in [true, false] {
                let what = format!("{dims:?} (batch {batch}, relu {relu})");
                let (dx, dw, db) = batch_norm_backward(&x, stats, affine, &g, (batch, relu)).unwrap();
                let (dxd, dwd, dbd) =
                    batch_norm_backward(&gpu(&x), stats_d, affine_d, &gpu(&g), (batch, relu)).unwrap();
                same(&format!("{what} dx"), &dxd, &dx);
                same(&format!("{what} dw"), &dwd, &dw);
                same(&format!("{what} db"), &dbd, &db);
            }
        }
    }
    // A channels-last tensor seen as [N, C, H, W] (non-contiguous) is read through its strides.
    let nhwc = rand(&[2, 4, 4, 6], 40);
    let x = nhwc.permute(&[0, 3, 1, 2]).unwrap();
    let s = batch_norm_stats(&x, 6, 1e-5).unwrap();
    let on_device = gpu(&nhwc).permute(&[0, 3, 1, 2]).unwrap();
    assert!(!on_device.is_contiguous());
    same("channels-last mean", &batch_norm_stats(&on_device, 6, 1e-5).unwrap().mean, &s.mean);
}

#[test]
fn layer_norm_on_the_device_matches_the_cpu() {
    if !device() {
        return;
    }
    for (k, dims) in [vec![3usize, 7], vec![2, 5, 129], vec![1, 1], vec![4, 1000], vec![0, 8]].iter().enumerate() {
        let d = *dims.last().unwrap();
        let x = rand(dims, 50 + k as u64);
        let (w, b, g) = (rand(&[d], 60 + k as u64), rand(&[d], 70 + k as u64), rand(dims, 80 + k as u64));
        let s = layer_norm_stats(&x, 1e-5).unwrap();
        let sd = layer_norm_stats(&gpu(&x), 1e-5).unwrap();
        same(&format!("{dims:?} mean"), &sd.mean, &s.mean);
        same(&format!("{dims:?} invstd"), &sd.invstd, &s.invstd);
        let y = layer_norm_apply(&x, &s.mean, &s.invstd, &w, &b).unwrap();
        let yd = layer_norm_apply(&gpu(&x), &gpu(&s.mean), &gpu(&s.invstd), &gpu(&w), &gpu(&b)).unwrap();
        same(&format!("{dims:?} y"), &yd, &y);
        let (dx, dw, db) = layer_norm_backward(&x, (&s.mean, &s.invstd), &w, &g).unwrap();
        let (dxd, dwd, dbd) =
            layer_norm_backward(&gpu(&x), (&gpu(&s.mean), &gpu(&s.invstd)), &gpu(&w), &gpu(&g)).unwrap();
        same(&format!("{dims:?} dx"), &dxd, &dx);
        same(&format!("{dims:?} dw"), &dwd, &dw);
        same(&format!("{dims:?} db"), &dbd, &db);
    }
    // A transposed (non-contiguous) input on the device.
    let x = rand(&[9, 6], 90);
    let on_device = gpu(&x).t().unwrap();
    assert!(!on_device.is_contiguous());
    let s = layer_norm_stats(&x.t().unwrap(), 1e-5).unwrap();
    same("transposed mean", &layer_norm_stats(&on_device, 1e-5).unwrap().mean, &s.mean);
    same("transposed invstd", &layer_norm_stats(&on_device, 1e-5).unwrap().invstd, &s.invstd);
}

#[test]
fn f64_on_the_device_is_refused_by_name() {
    if !device() {
        return;
    }
    let x = Tensor::zeros([2, 3, 2, 2], DType::F64);
    let err = match x.to_device(GPU) {
        Ok(d) => batch_norm_stats(&d, 3, 1e-5).err().map(|e| e.to_string()).unwrap_or_default(),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("f64") || err.contains("F64"), "{err}");
}
