//! The models run unchanged on a CUDA device: the same training steps, from the same seed, on
//! CPU tensors and on `cuda:0` give the same losses. Without a GPU, `cuda:0` is the host shim
//! (the `.cu` kernels executed on the CPU), switched on for this test binary only; on a machine
//! with a GPU the same test runs there once `KILN_TEST_GPU=1` is set (and fails if that GPU is not
//! usable, never skips).

use kiln_autograd::{backward, Var};
use kiln_models::nn::{self, Module};
use kiln_models::optim::{Adam, Optimizer};
use kiln_models::zoo::classifier::Objective;
use kiln_models::zoo::cnn::{self, CnnVariant};
use kiln_models::zoo::gan::{self, step::train_step, step::GanState};
use kiln_models::zoo::lenet;
use kiln_models::zoo::sentiment::SentimentNet;
use kiln_tensor::testing::assert_close;
use kiln_tensor::{DType, Device, Rng, Tensor};

const GPU: Device = Device::Cuda(0);

/// `cuda:0` for this binary: the host shim, or the real GPU with `KILN_TEST_GPU=1` (then a GPU that
/// is not usable fails the test); false (with a notice) only where the shim is not built.
fn device() -> bool {
    kiln_kernels::cuda::testing::tensor_device().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn gan_steps_on_the_device_match_the_cpu() {
    if !device() {
        return;
    }
    let b = 8;
    let (g_cpu, d_cpu) = gan::build(7);
    let (g_dev, d_dev) = gan::build(7);
    nn::to_device(&g_dev, GPU).unwrap();
    nn::to_device(&d_dev, GPU).unwrap();
    assert!(nn::parameters(&d_dev).iter().all(|(_, p)| p.device() == GPU));
    let adam = |m: &dyn Module| Adam::new(nn::parameters(m), 2e-4, gan::BETAS, 0.0);
    let (mut og_cpu, mut od_cpu, mut og_dev, mut od_dev) = (adam(&g_cpu), adam(&d_cpu), adam(&g_dev), adam(&d_dev));
    let real = Tensor::rand_uniform([b, 784], -1.0, 1.0, DType::F32, &mut Rng::new(3));
    let (mut rng_cpu, mut rng_dev) = (Rng::new(11), Rng::new(11));
    for step in 0..2 {
        let mut s = GanState { generator: &g_cpu, discriminator: &d_cpu, opt_g: &mut og_cpu, opt_d: &mut od_cpu };
        let (dl, gl) = train_step(&mut s, &real, &mut rng_cpu).unwrap();
        let mut s = GanState { generator: &g_dev, discriminator: &d_dev, opt_g: &mut og_dev, opt_d: &mut od_dev };
        let (ddl, dgl) = train_step(&mut s, &real.to_device(GPU).unwrap(), &mut rng_dev).unwrap();
        assert_close(&format!("step {step} discriminator loss"), &[ddl], &[dl], 1e-4);
        assert_close(&format!("step {step} generator loss"), &[dgl], &[gl], 1e-4);
    }
    // The parameters moved in place and trained there; back on the host they match the CPU run.
    for ((name, p), (_, q)) in nn::parameters(&g_dev).iter().zip(nn::parameters(&g_cpu).iter()) {
        assert_eq!(p.device(), GPU, "{name}");
        let (a, b) = (p.tensor().to_vec::<f32>().unwrap(), q.tensor().to_vec::<f32>().unwrap());
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{name}: max difference {worst}");
    }
}

type Build = dyn Fn(&mut Rng) -> Box<dyn Module>;

/// Losses of two Adam steps (dropout on) of a model built from a fixed seed, on `device`.
fn classifier_losses(build: &Build, x: &Tensor, y: &Tensor, objective: Objective, device: Device) -> Vec<f32> {
    let net = build(&mut Rng::new(5));
    nn::to_device(net.as_ref(), device).unwrap();
    net.reseed(9);
    let mut opt = Adam::new(nn::parameters(net.as_ref()), 1e-3, (0.9, 0.999), 0.0);
    let (x, y) = (x.to_device(device).unwrap(), y.to_device(device).unwrap());
    (0..2)
        .map(|_| {
            let logits = net.forward(&Var::constant(x.clone())).unwrap();
            let (loss, _) = objective.loss_and_correct(&logits, &y).unwrap();
            opt.step(&backward(&loss).unwrap()).unwrap();
            assert_eq!(loss.device(), device);
            loss.tensor().to_scalar::<f32>().unwrap()
        })
        .collect()
}

/// The two step losses of `build`'s model on the CPU and on the device agree.
fn same_losses(name: &str, build: &Build, x: &Tensor, y: &Tensor, objective: Objective) {
    let cpu = classifier_losses(build, x, y, objective, Device::Cpu);
    let dev = classifier_losses(build, x, y, objective, GPU);
    for (step, (d, c)) in dev.iter().zip(&cpu).enumerate() {
        assert_close(&format!("{name} step {step}"), &[*d], &[*c], 1e-4);
    }
}

#[test]
fn lenet_and_cnn_steps_on_the_device_match_the_cpu() {
    if !device() {
        return;
    }
    let mut rng = Rng::new(4);
    let labels = Tensor::from_vec((0..4).map(|_| rng.below(10) as i64).collect::<Vec<_>>(), [4]).unwrap();
    let mnist = Tensor::randn([4, 1, 28, 28], 0.0, 1.0, DType::F32, &mut rng);
    let cifar = Tensor::randn([4, 3, 32, 32], 0.0, 1.0, DType::F32, &mut rng);
    same_losses("lenet", &|r| Box::new(lenet::model(r)), &mnist, &labels, Objective::CrossEntropy);
    same_losses("cnn", &|r| Box::new(cnn::model(CnnVariant::Plain, r)), &cifar, &labels, Objective::CrossEntropy);
    let bn = CnnVariant::BatchNorm { dropout: 0.5 };
    same_losses("cnn with batch norm", &move |r| Box::new(cnn::model(bn, r)), &cifar, &labels, Objective::CrossEntropy);
}

#[test]
fn sentiment_steps_on_the_device_match_the_cpu() {
    if !device() {
        return;
    }
    let mut rng = Rng::new(2);
    // Three reviews of 6 tokens, two right-padded with PAD (0): lengths 6, 4, 2.
    let mut ids: Vec<i64> = (0..18).map(|_| 2 + rng.below(30) as i64).collect();
    ids[10..12].fill(0);
    ids[14..18].fill(0);
    let x = Tensor::from_vec(ids, [3, 6]).unwrap();
    let y = Tensor::from_vec(vec![1i64, 0, 1], [3]).unwrap();
    same_losses("sentiment", &|r| Box::new(SentimentNet::new(32, r).unwrap()), &x, &y, Objective::BinaryLogits);
}
