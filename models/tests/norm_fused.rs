//! The fused BatchNorm2d / LayerNorm (what the modules run on the CPU) against the composite of
//! autograd ops they replace (`composite`): outputs, the gradients of input, weight and bias, and
//! the running statistics, in training and evaluation, on odd shapes; a Sequential's BatchNorm2d +
//! ReLU (run as one fused op) against the two layers called one after the other; and PyTorch's
//! input checks.

use kiln_autograd::{backward, Var};
use kiln_models::nn::{BatchNorm2d, LayerNorm, Module, ReLU, Sequential};
use kiln_tensor::{DType, Rng, Tensor};

fn close(got: &Tensor, want: &Tensor, tol: f32, what: &str) {
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    assert_eq!(got.shape(), want.shape(), "{what}");
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: fused {a} vs composite {b}");
    }
}

/// Output and gradients of `f` at `x` (the upstream gradient random, so no sum hides an error).
fn run(f: impl Fn(&Var) -> Var, x: &Tensor, params: [&Var; 2], up: &Tensor) -> Vec<Tensor> {
    let xv = Var::leaf(x.clone());
    let y = f(&xv);
    let loss = y.mul(&Var::constant(up.clone())).unwrap().sum_all().unwrap();
    let grads = backward(&loss).unwrap();
    let mut out = vec![y.tensor().clone(), grads.get(&xv).unwrap().clone()];
    out.extend(params.iter().map(|p| grads.get(p).unwrap().clone()));
    out
}

#[test]
fn fused_batch_norm_matches_the_composite() {
    let mut rng = Rng::new(20);
    for shape in [[4, 3, 5, 7], [2, 5, 1, 1], [3, 2, 9, 17]] {
        let (fused, composite) = (BatchNorm2d::new(shape[1]), BatchNorm2d::new(shape[1]));
        for bn in [&fused, &composite] {
            bn.weight
                .tensor()
                .assign(&Tensor::rand_uniform([shape[1]], 0.5, 1.5, DType::F32, &mut Rng::new(1)))
                .unwrap();
            bn.bias.tensor().assign(&Tensor::randn([shape[1]], 0.0, 1.0, DType::F32, &mut Rng::new(2))).unwrap();
        }
        let x = Tensor::randn(shape, 3.0, 2.0, DType::F32, &mut rng);
        let up = Tensor::randn(shape, 0.0, 1.0, DType::F32, &mut rng);
        for training in [true, false] {
            fused.set_training(training);
            composite.set_training(training);
            let a = run(|v| fused.forward(v).unwrap(), &x, [&fused.weight, &fused.bias], &up);
            let b = run(|v| composite.composite(v).unwrap(), &x, [&composite.weight, &composite.bias], &up);
            for (k, what) in ["y", "dx", "dweight", "dbias"].iter().enumerate() {
                close(&a[k], &b[k], 2e-4, &format!("{shape:?} training {training} {what}"));
            }
            close(&fused.running_mean, &composite.running_mean, 1e-5, "running mean");
            close(&fused.running_var, &composite.running_var, 1e-5, "running var");
        }
    }
}

/// The fused pair changes no number: output, every gradient and the running statistics are the
/// unfused layers' bit for bit, in training and evaluation (W2-BN's published results stand).
#[test]
fn sequential_batch_norm_relu_is_the_two_layers_bit_for_bit() {
    let mut rng = Rng::new(21);
    for shape in [[4, 3, 5, 7], [8, 16, 6, 6], [2, 5, 1, 1]] {
        let c = shape[1];
        let (fused, apart) = (Sequential::new().push(BatchNorm2d::new(c)).push(ReLU), BatchNorm2d::new(c));
        let bn = |m: &Sequential| match m.layers().next().unwrap().as_layer() {
            kiln_models::nn::LayerRef::BatchNorm2d(bn) => {
                (bn.weight.clone(), bn.bias.clone(), bn.running_mean.clone(), bn.running_var.clone())
            }
            _ => unreachable!("the first layer is the BatchNorm2d"),
        };
        let (fw, fb, f_mean, f_var) = bn(&fused);
        for (w, b) in [(&fw, &fb), (&apart.weight, &apart.bias)] {
            w.tensor().assign(&Tensor::rand_uniform([c], 0.5, 1.5, DType::F32, &mut Rng::new(3))).unwrap();
            b.tensor().assign(&Tensor::randn([c], 0.0, 1.0, DType::F32, &mut Rng::new(4))).unwrap();
        }
        let x = Tensor::randn(shape, 1.0, 2.0, DType::F32, &mut rng);
        let up = Tensor::randn(shape, 0.0, 1.0, DType::F32, &mut rng);
        for training in [true, false] {
            fused.set_training(training);
            apart.set_training(training);
            let a = run(|v| fused.forward(v).unwrap(), &x, [&fw, &fb], &up);
            let b = run(|v| apart.forward(v).unwrap().relu().unwrap(), &x, [&apart.weight, &apart.bias], &up);
            // Not vacuous: the ReLU stops some values and passes others.
            let zeros = a[0].to_vec::<f32>().unwrap().iter().filter(|&&v| v == 0.0).count();
            assert!(zeros > 0 && zeros < x.elem_count(), "{shape:?}: {zeros} zeros");
            let stats = [(&f_mean, &apart.running_mean), (&f_var, &apart.running_var)];
            for (k, (got, want)) in a.iter().zip(&b).chain(stats).enumerate() {
                let what = format!("{shape:?} training {training} part {k}");
                assert_eq!(got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap(), "{what}");
            }
        }
    }
}

#[test]
fn fused_layer_norm_matches_the_composite() {
    let mut rng = Rng::new(21);
    for shape in [vec![3, 5], vec![2, 3, 37], vec![4, 1]] {
        let d = *shape.last().unwrap();
        let ln = LayerNorm::new(d);
        ln.weight.tensor().assign(&Tensor::rand_uniform([d], 0.5, 1.5, DType::F32, &mut rng)).unwrap();
        let x = Tensor::randn(shape.clone(), 1.0, 2.0, DType::F32, &mut rng);
        let up = Tensor::randn(shape.clone(), 0.0, 1.0, DType::F32, &mut rng);
        let a = run(|v| ln.forward(v).unwrap(), &x, [&ln.weight, &ln.bias], &up);
        let b = run(|v| ln.composite(v).unwrap(), &x, [&ln.weight, &ln.bias], &up);
        for (k, what) in ["y", "dx", "dweight", "dbias"].iter().enumerate() {
            close(&a[k], &b[k], 2e-4, &format!("{shape:?} {what}"));
        }
    }
}

#[test]
fn norms_reject_mismatched_inputs_as_pytorch_does() {
    let bn = BatchNorm2d::new(3);
    let wrong_channels = Var::constant(Tensor::ones([2, 4, 3, 3], DType::F32));
    let msg = bn.forward(&wrong_channels).err().unwrap().to_string();
    assert!(msg.contains("4 channels") && msg.contains("has 3"), "{msg}");
    let rank3 = Var::constant(Tensor::ones([2, 3, 3], DType::F32));
    assert!(bn.forward(&rank3).err().unwrap().to_string().contains("expected 4D input"));
    assert!(bn.composite(&rank3).err().unwrap().to_string().contains("expected 4D input"));
    let ln = LayerNorm::new(5);
    assert!(ln.forward(&Var::constant(Tensor::ones([2, 4], DType::F32))).is_err());
}
