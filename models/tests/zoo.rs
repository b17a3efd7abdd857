//! Each workload learns: a few optimizer steps on one small fixed batch (generated data, the real
//! shapes of DESIGN.md §6) must lower its loss. Catches a broken gradient path anywhere from the
//! layers down to the kernels.

use kiln_autograd::{backward, Var};
use kiln_models::nn::{self, Module};
use kiln_models::optim::{Adam, Optimizer};
use kiln_models::zoo::classifier::Objective;
use kiln_models::zoo::cnn::{self, CnnVariant};
use kiln_models::zoo::gan::{self, step::train_step, step::GanState};
use kiln_models::zoo::{lenet, sentiment::SentimentNet};
use kiln_tensor::{DType, Rng, Tensor};

/// Loss at the first and the last of `steps` steps on the same batch.
fn fit(model: &dyn Module, x: &Tensor, y: &Tensor, objective: Objective, lr: f64, steps: usize) -> (f64, f64) {
    let mut opt = Adam::new(nn::parameters(model), lr, (0.9, 0.999), 0.0);
    model.set_training(false); // no dropout noise: the loss must fall monotonically enough
    let mut losses = Vec::new();
    for _ in 0..steps {
        let logits = model.forward(&Var::constant(x.clone())).unwrap();
        let (loss, _) = objective.loss_and_correct(&logits, y).unwrap();
        opt.step(&backward(&loss).unwrap()).unwrap();
        losses.push(loss.tensor().to_scalar::<f32>().unwrap() as f64);
    }
    (losses[0], *losses.last().unwrap())
}

fn labels(n: usize, classes: usize, rng: &mut Rng) -> Tensor {
    Tensor::from_vec((0..n).map(|_| rng.below(classes) as i64).collect::<Vec<_>>(), [n]).unwrap()
}

#[test]
fn lenet_and_cnn_fit_a_batch() {
    let mut rng = Rng::new(1);
    for kind in lenet::MnistNet::ALL {
        let net = lenet::network(kind, &mut rng);
        let x = Tensor::randn([8, 1, 28, 28], 0.0, 1.0, DType::F32, &mut rng);
        let (first, last) = fit(&net, &x, &labels(8, 10, &mut rng), Objective::CrossEntropy, 3e-3, 20);
        assert!(last < 0.7 * first, "{} {first} -> {last}", kind.name());
    }
    for variant in [CnnVariant::Plain, CnnVariant::BatchNorm { dropout: 0.5 }, CnnVariant::Half] {
        let net = cnn::model(variant, &mut rng);
        let x = Tensor::randn([8, 3, 32, 32], 0.0, 1.0, DType::F32, &mut rng);
        let (first, last) = fit(&net, &x, &labels(8, 10, &mut rng), Objective::CrossEntropy, 3e-3, 20);
        assert!(last < 0.7 * first, "cnn {variant:?} {first} -> {last}");
    }
}

#[test]
fn sentiment_fits_a_batch_with_padding() {
    let mut rng = Rng::new(2);
    let net = SentimentNet::new(50, &mut rng).unwrap();
    // Four reviews of 12 tokens, two of them right-padded with PAD (0).
    let mut ids: Vec<i64> = (0..48).map(|_| 2 + rng.below(48) as i64).collect();
    ids[8..12].fill(0);
    ids[30..36].fill(0);
    let x = Tensor::from_vec(ids, [4, 12]).unwrap();
    let y = Tensor::from_vec(vec![1i64, 0, 1, 0], [4]).unwrap();
    let (first, last) = fit(&net, &x, &y, Objective::BinaryLogits, 1e-2, 15);
    assert!(last < 0.5 * first, "sentiment {first} -> {last}");
}

#[test]
fn gan_discriminator_learns_and_steps_are_deterministic() {
    let run = || {
        let (g, d) = gan::build(4);
        let mut opt_g = Adam::new(nn::parameters(&g), 2e-4, gan::BETAS, 0.0);
        let mut opt_d = Adam::new(nn::parameters(&d), 2e-4, gan::BETAS, 0.0);
        let mut rng = Rng::new(5);
        let real = Tensor::rand_uniform([16, 784], -1.0, 1.0, DType::F32, &mut Rng::new(6));
        let mut state = GanState { generator: &g, discriminator: &d, opt_g: &mut opt_g, opt_d: &mut opt_d };
        (0..8).map(|_| train_step(&mut state, &real, &mut rng).unwrap()).collect::<Vec<_>>()
    };
    let losses = run();
    assert!(losses.last().unwrap().0 < losses[0].0, "d loss {losses:?}");
    assert_eq!(losses, run(), "same seeds, same losses");
}

/// The losses of `steps` training steps (dropout on) of a freshly seeded model, inside a pool of
/// `threads` rayon threads.
type Build = dyn Fn(&mut Rng) -> (Box<dyn Module>, Tensor, Tensor, Objective) + Sync;

fn curve(build: &Build, threads: usize) -> Vec<f32> {
    let pool = kiln_kernels::denormals::pool_builder(threads).build().unwrap();
    pool.install(|| {
        let mut rng = Rng::new(7);
        let (model, x, y, objective) = build(&mut rng);
        let mut opt = Adam::new(nn::parameters(model.as_ref()), 1e-3, (0.9, 0.999), 0.0);
        model.set_training(true);
        (0..3)
            .map(|s| {
                model.reseed(s);
                let logits = model.forward(&Var::constant(x.clone())).unwrap();
                let (loss, _) = objective.loss_and_correct(&logits, &y).unwrap();
                opt.step(&backward(&loss).unwrap()).unwrap();
                loss.tensor().to_scalar::<f32>().unwrap()
            })
            .collect()
    })
}

#[test]
fn training_steps_are_deterministic_with_parallel_kernels() {
    // Big enough that the LSTM recurrence and the convolution split their work over the two threads
    // (above `PAR_MIN_LSTM` and the conv block threshold): same seed, same thread count, same curve.
    let sentiment = |rng: &mut Rng| {
        let net = SentimentNet::new(300, rng).unwrap();
        let mut ids: Vec<i64> = (0..8 * 16).map(|_| 2 + rng.below(298) as i64).collect();
        ids[20..32].fill(0);
        let x = Tensor::from_vec(ids, [8, 16]).unwrap();
        let y = Tensor::from_vec((0..8).map(|i| (i % 2) as i64).collect::<Vec<_>>(), [8]).unwrap();
        (Box::new(net) as Box<dyn Module>, x, y, Objective::BinaryLogits)
    };
    let cnn = |rng: &mut Rng| {
        let net = cnn::model(CnnVariant::Plain, rng);
        let x = Tensor::randn([16, 3, 32, 32], 0.0, 1.0, DType::F32, rng);
        (Box::new(net) as Box<dyn Module>, x, labels(16, 10, rng), Objective::CrossEntropy)
    };
    for (name, build) in [("sentiment", &sentiment as &Build), ("cnn", &cnn)] {
        let (a, b) = (curve(build, 2), curve(build, 2));
        assert_eq!(a, b, "{name}: two runs on two threads differ");
        assert!(a.iter().all(|l| l.is_finite()), "{name}: {a:?}");
    }
}
