//! The autograd on a CUDA device: ops whose backward goes through the selection kernels (max along
//! an axis -> scatter_add, where / masked_fill -> where, gather -> scatter_add) give the CPU's
//! gradients when their tensors live on `cuda:0`, emulated by the host shim (the same `.cu`
//! kernels, executed on the CPU), or on the real GPU with `KILN_TEST_GPU=1`.

use kiln_autograd::Var;
use kiln_kernels::elementwise::{compare, CompareOp};
use kiln_tensor::{DType, Device, Rng, Tensor};

#[test]
fn max_along_an_axis_where_masked_fill_and_gather_differentiate_on_the_device() {
    // The host shim, or the real GPU with KILN_TEST_GPU=1 (then an unusable GPU fails the test).
    if !kiln_kernels::cuda::testing::tensor_device().unwrap_or_else(|e| panic!("{e}")) {
        return;
    }
    let x = Tensor::randn([5, 7], 0.0, 1.0, DType::F32, &mut Rng::new(110));
    let idx = Tensor::from_vec(vec![6i64, 0, 3, 3, 1, 2, 5, 4, 0, 6], [5, 2]).unwrap();
    let grad_of = |x: &Tensor, idx: &Tensor| -> (Vec<f32>, Device) {
        let v = Var::leaf(x.clone());
        let positive = compare(CompareOp::Gt, x, &x.scalar_like(0.0).unwrap()).unwrap();
        let squares = v.mul(&v).unwrap();
        let terms = [
            v.max(1, false).unwrap().sum_all().unwrap(),
            v.where_cond(&positive, &squares).unwrap().masked_fill(&positive, 2.0).unwrap().sum_all().unwrap(),
            v.gather(1, idx).unwrap().mul(&v.gather(1, idx).unwrap()).unwrap().sum_all().unwrap(),
        ];
        let total = terms[0].add(&terms[1]).unwrap().add(&terms[2]).unwrap();
        let g = total.backward().unwrap().get(&v).unwrap().clone();
        (g.to_vec::<f32>().unwrap(), g.device())
    };
    let (want, on_cpu) = grad_of(&x, &idx);
    let gpu = Device::Cuda(0);
    let (got, on_gpu) = grad_of(&x.to_device(gpu).unwrap(), &idx.to_device(gpu).unwrap());
    assert_eq!((on_cpu, on_gpu), (Device::Cpu, gpu));
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "element {i}: {g} vs {w}");
    }
}
