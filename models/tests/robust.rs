//! Attacks on a small classifier trained here in a second (a two-layer MLP on 1x6x6 images whose
//! class is which half of the picture is brighter): the properties every attack must have, the
//! input gradient against finite differences, the model's mode restored, and clear errors; and
//! adversarial training on a task with a non-robust shortcut feature.

use kiln_autograd::{backward, cross_entropy, Var};
use kiln_models::data::{Augment, ImageBatcher, ImageDataset, Loader, LoaderOptions, Normalize};
use kiln_models::nn::{self, Dropout, Flatten, Linear, Module, Sequential, Tanh};
use kiln_models::optim::{Adam, Optimizer};
use kiln_models::robust::{
    attack, parse_eps, robust_accuracy, AdversarialTraining, AttackConfig, EarlyStopping, Method, PixelClassifier,
    Recipe,
};
use kiln_models::zoo::adversarial::Adversarial;
use kiln_tensor::{DType, Device, Rng, Tensor};

const SIDE: usize = 6;
const PIXELS: usize = SIDE * SIDE;
/// The normalisation the model is trained with (as MNIST's loader does), so the attack's wrapper
/// has a real affine map to put in front of it.
fn normalize() -> Normalize {
    Normalize::MeanStd { mean: vec![0.5], std: vec![0.25] }
}

/// `n` images: class 1 when the left half is brighter than the right, with a margin and noise.
fn dataset(n: usize, seed: u64) -> ImageDataset {
    let mut rng = Rng::new(seed);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = (i % 2) as u8;
        let (left, right) = if class == 1 { (150.0, 105.0) } else { (105.0, 150.0) };
        for p in 0..PIXELS {
            let base = if p % SIDE < SIDE / 2 { left } else { right };
            images.push((base + rng.uniform(-40.0, 40.0)).clamp(0.0, 255.0) as u8);
        }
        labels.push(class);
    }
    ImageDataset::new(images, labels, [1, SIDE, SIDE], vec!["right".into(), "left".into()]).unwrap()
}

/// `n` images with two features (Ilyas et al. 2019 in miniature): a faint checkerboard of +-0.03
/// whose phase always tells the class (a non-robust feature: any eps > 0.03 can flip it), and which
/// half is brighter by 0.3, which tells it for 85% of the images (a robust feature).
fn shortcut_dataset(n: usize, seed: u64) -> ImageDataset {
    let mut rng = Rng::new(seed);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = (i % 2) as u8;
        let sign = if class == 1 { 1.0 } else { -1.0 };
        let bright_left = (class == 1) != (rng.uniform(0.0, 1.0) < 0.15);
        for p in 0..PIXELS {
            let (row, col) = (p / SIDE, p % SIDE);
            let left = col < SIDE / 2;
            let base = if left == bright_left { 0.65 } else { 0.35 };
            let checker = if (row + col) % 2 == 0 { 0.03 } else { -0.03 };
            let v = base + sign * checker + rng.uniform(-0.1, 0.1);
            images.push((v * 255.0).round().clamp(0.0, 255.0) as u8);
        }
        labels.push(class);
    }
    ImageDataset::new(images, labels, [1, SIDE, SIDE], vec!["a".into(), "b".into()]).unwrap()
}

fn loader(data: ImageDataset, norm: &Normalize, batch: usize) -> Loader<ImageBatcher> {
    let batcher = ImageBatcher::new(data, Augment::default(), norm).unwrap();
    Loader::new(batcher, LoaderOptions { batch_size: batch, shuffle: false, drop_last: false, seed: 0, prefetch: 0 })
        .unwrap()
}

fn mlp() -> Sequential {
    let mut rng = Rng::new(3);
    Sequential::new()
        .push(Flatten)
        .push(Linear::new(PIXELS, 16, true, &mut rng))
        .push(Tanh)
        .push(Dropout::new(0.1, &mut rng))
        .push(Linear::new(16, 2, true, &mut rng))
}

/// The MLP, trained for a few hundred Adam steps on normalised inputs (as kiln's models are).
fn trained_model() -> Sequential {
    let net = mlp();
    let mut opt = Adam::new(nn::parameters(&net), 1e-2, (0.9, 0.999), 0.0);
    let train = loader(dataset(256, 1), &normalize(), 64);
    for epoch in 0..8 {
        for batch in train.epoch(epoch) {
            let batch = batch.unwrap();
            let logits = net.forward(&Var::constant(batch.inputs)).unwrap();
            let loss = cross_entropy(&logits, &batch.labels.to_dtype(DType::I64).unwrap()).unwrap();
            opt.step(&backward(&loss).unwrap()).unwrap();
        }
    }
    net
}

/// The MLP trained on the shortcut task, naturally or on adversarial batches of pixels (the step
/// `zoo::adversarial` takes in `kiln train --adversarial`), with the same steps either way.
fn train_mlp(recipe: Option<AdversarialTraining>) -> Sequential {
    let net = mlp();
    let mut opt = Adam::new(nn::parameters(&net), 1e-2, (0.9, 0.999), 0.0);
    let train = loader(shortcut_dataset(512, 1), &Normalize::Unit, 64);
    let adversarial = recipe.map(|training| Adversarial {
        training,
        normalize: normalize(),
        holdout: loader(shortcut_dataset(64, 2), &Normalize::Unit, 64),
        stopping: EarlyStopping::new(),
    });
    let clf = PixelClassifier::new(&net, &normalize(), 1, Device::Cpu).unwrap();
    for epoch in 0..10 {
        for (step, batch) in train.epoch(epoch).enumerate() {
            let batch = batch.unwrap();
            net.set_training(true);
            let logits = match &adversarial {
                Some(adv) => adv.logits(&net, &batch.inputs, &batch.labels, epoch * 100 + step as u64).unwrap(),
                None => clf.logits(&Var::constant(batch.inputs)).unwrap(),
            };
            assert_eq!(net.training(), Some(true), "the attack gives the training mode back");
            let loss = cross_entropy(&logits, &batch.labels.to_dtype(DType::I64).unwrap()).unwrap();
            opt.step(&backward(&loss).unwrap()).unwrap();
        }
    }
    net
}

/// A pixel batch of the test set and its labels.
fn pixel_batch(n: usize) -> (Tensor, Vec<i64>) {
    let batch = loader(dataset(n, 9), &Normalize::Unit, n).epoch(0).next().unwrap().unwrap();
    let labels = batch.labels.to_vec_f64().unwrap().into_iter().map(|v| v as i64).collect();
    (batch.inputs, labels)
}

fn accuracy(predicted: &[i64], labels: &[i64]) -> f64 {
    predicted.iter().zip(labels).filter(|(p, y)| p == y).count() as f64 / labels.len() as f64
}

#[test]
fn attacks_keep_to_the_ball_and_pgd_is_at_least_as_strong_as_fgsm() {
    let net = trained_model();
    net.set_training(false);
    let clf = PixelClassifier::new(&net, &normalize(), 1, Device::Cpu).unwrap();
    let (x, labels) = pixel_batch(200);
    let clean = clf.verdicts(&x, &labels).unwrap();
    let clean_acc = accuracy(&clean.predicted, &labels);
    assert!(clean_acc > 0.95, "the model must first be good: {clean_acc}");
    let pixels = x.to_vec::<f32>().unwrap();

    // eps = 0: every attack returns the clean images and the clean accuracy, exactly.
    for cfg in [AttackConfig::fgsm(0.0), AttackConfig::pgd(0.0, 0.01, 5), AttackConfig::adam(0.0, 0.01, 5)] {
        let out = attack(&clf, &x, &labels, &cfg).unwrap();
        assert_eq!(out.adversarial.to_vec::<f32>().unwrap(), pixels, "{:?} at eps 0", cfg.method);
        assert_eq!(accuracy(&out.verdicts.predicted, &labels), clean_acc);
    }

    let eps = 0.12;
    let mut accs = Vec::new();
    for cfg in [AttackConfig::fgsm(eps), AttackConfig::pgd(eps, eps / 4.0, 20), AttackConfig::adam(eps, 0.02, 30)] {
        let out = attack(&clf, &x, &labels, &cfg).unwrap();
        let adv = out.adversarial.to_vec::<f32>().unwrap();
        for (a, c) in adv.iter().zip(&pixels) {
            assert!((0.0..=1.0).contains(a), "{:?}: pixel {a} left [0, 1]", cfg.method);
            // One ulp of slack for the clamp's rounding of c +- eps.
            assert!((a - c).abs() <= eps * (1.0 + f32::EPSILON), "{:?}: |{a} - {c}| > {eps}", cfg.method);
        }
        // The verdicts returned are the model's on the returned images.
        assert_eq!(clf.verdicts(&out.adversarial, &labels).unwrap().predicted, out.verdicts.predicted);
        accs.push((cfg.method, accuracy(&out.verdicts.predicted, &labels)));
    }
    let (fgsm, pgd, adam) = (accs[0].1, accs[1].1, accs[2].1);
    assert!(fgsm < clean_acc, "FGSM must hurt at eps {eps}: {accs:?}");
    assert!(pgd <= fgsm, "PGD must be at least as strong as FGSM: {accs:?}");
    assert!(adam < clean_acc, "the Adam attack must hurt: {accs:?}");

    // Restarts never do worse than one run: per sample the first success is kept.
    let mut one = AttackConfig::pgd(eps / 2.0, eps / 8.0, 5);
    one.seed = 4;
    let mut many = one.clone();
    many.restarts = 4;
    let acc_one = accuracy(&attack(&clf, &x, &labels, &one).unwrap().verdicts.predicted, &labels);
    let acc_many = accuracy(&attack(&clf, &x, &labels, &many).unwrap().verdicts.predicted, &labels);
    assert!(acc_many <= acc_one, "restarts: {acc_many} > {acc_one}");

    // Targeted: everything pushed to class 0 at a large radius.
    let mut targeted = AttackConfig::pgd(0.4, 0.05, 20);
    targeted.target = Some(0);
    let out = attack(&clf, &x, &labels, &targeted).unwrap();
    let hit = out.verdicts.predicted.iter().filter(|&&p| p == 0).count();
    assert!(hit > 190, "targeted PGD sent only {hit} of 200 to class 0");
}

#[test]
fn the_input_gradient_matches_finite_differences() {
    // Central differences of the batch's mean cross-entropy in f32, with a step large enough that
    // f32 rounding stays far below the tolerance; every 7th pixel of 4 images.
    let net = trained_model();
    net.set_training(false);
    let clf = PixelClassifier::new(&net, &normalize(), 1, Device::Cpu).unwrap();
    // Grey images near the decision boundary, where the loss depends on every pixel visibly.
    let mut rng = Rng::new(5);
    let grey: Vec<f32> = (0..4 * PIXELS).map(|_| 0.5 + rng.uniform(-0.05, 0.05) as f32).collect();
    let x = Tensor::from_vec(grey, [4, 1, SIDE, SIDE]).unwrap();
    let labels = vec![0i64, 1, 0, 1];
    let (grad, _) = clf.input_gradient(&x, &labels).unwrap();
    let g = grad.to_vec::<f32>().unwrap();
    let base = x.to_vec::<f32>().unwrap();
    let loss_at = |v: &[f32]| -> f64 {
        let t = Tensor::from_slice(v, x.dims()).unwrap();
        let targets = Tensor::from_vec(labels.clone(), [labels.len()]).unwrap();
        let logits = kiln_autograd::no_grad(|| clf.logits(&Var::constant(t))).unwrap();
        cross_entropy(&logits, &targets).unwrap().tensor().to_scalar::<f32>().unwrap() as f64
    };
    let h = 1e-2f32;
    let mut checked = 0;
    for i in (0..base.len()).step_by(7) {
        let (mut up, mut down) = (base.clone(), base.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (loss_at(&up) - loss_at(&down)) / (2.0 * h as f64);
        let tol = 1e-4 + 0.02 * numeric.abs();
        assert!((numeric - g[i] as f64).abs() < tol, "pixel {i}: autograd {} vs finite difference {numeric}", g[i]);
        checked += 1;
    }
    let largest = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(checked > 10 && largest > 1e-2, "the gradient is not trivially small: {largest}");
}

#[test]
fn robust_accuracy_restores_the_mode_and_counts_every_sample() {
    let net = trained_model();
    net.set_training(true);
    let test = loader(dataset(100, 9), &Normalize::Unit, 32);
    let attacks = [AttackConfig::fgsm(0.0), AttackConfig::fgsm(0.1), AttackConfig::pgd(0.1, 0.025, 10)];
    let mut seen_calls = Vec::new();
    let report = robust_accuracy(&net, &normalize(), &test, &attacks, |n| seen_calls.push(n)).unwrap();
    assert_eq!(net.training(), Some(true), "the model's training mode is back");
    assert_eq!(report.seen, 100);
    assert_eq!(seen_calls, [32, 64, 96, 100]);
    assert_eq!(report.rows[0].robust_correct, report.clean_correct, "eps 0 is the clean accuracy");
    assert!(report.rows[2].robust_correct <= report.rows[1].robust_correct);
    let (images, labels, clean, outcomes) = report.first_batch.as_ref().unwrap();
    assert_eq!((images.dims()[0], labels.len(), clean.predicted.len(), outcomes.len()), (32, 32, 32, 3));

    // Eval mode stays restored when an attack fails half way (a bad config).
    net.set_training(true);
    let bad = [AttackConfig::pgd(0.1, 0.01, 0)];
    assert!(robust_accuracy(&net, &normalize(), &test, &bad, |_| {}).is_err());
    assert_eq!(net.training(), Some(true));
}

#[test]
fn bad_arguments_are_clear_errors() {
    let net = trained_model();
    let clf = PixelClassifier::new(&net, &normalize(), 1, Device::Cpu).unwrap();
    let (x, labels) = pixel_batch(8);
    let err = |cfg: AttackConfig| attack(&clf, &x, &labels, &cfg).unwrap_err().to_string();
    assert!(err(AttackConfig::fgsm(-0.1)).contains("eps"));
    assert!(err(AttackConfig::fgsm(f32::NAN)).contains("eps"));
    assert!(err(AttackConfig::pgd(0.1, 0.01, 0)).contains("steps"));
    assert!(err(AttackConfig::pgd(0.1, -1.0, 3)).contains("step size"));
    let mut no_restarts = AttackConfig::pgd(0.1, 0.01, 3);
    no_restarts.restarts = 0;
    assert!(err(no_restarts).contains("restarts"));
    let mut far_target = AttackConfig::fgsm(0.1);
    far_target.target = Some(7);
    assert!(err(far_target).contains("outside"));
    // Normalised (not pixel) inputs are refused, as are mismatched labels.
    let normalised = Tensor::full(-1.5, x.dims(), DType::F32);
    assert!(attack(&clf, &normalised, &labels, &AttackConfig::fgsm(0.1)).unwrap_err().to_string().contains("[0, 1]"));
    assert!(attack(&clf, &x, &labels[..3], &AttackConfig::fgsm(0.1)).is_err());
    assert!(Method::parse("cw").is_err());
    assert!(parse_eps("8/255").is_ok() && parse_eps("8/0").is_err());
    assert!(PixelClassifier::new(&net, &normalize(), 3, Device::Cpu).is_err(), "1 mean for 3 channels");
}

/// Adversarial training does what it is for: on a task with a faint shortcut feature, the
/// naturally trained MLP relies on it and falls under PGD at a radius that can flip it, while the
/// adversarially trained ones (both recipes) learn the robust feature instead; and the per-epoch
/// held-out check reports it.
#[test]
fn adversarial_training_buys_robustness() {
    // Measured: natural 100% clean / 4.75% PGD-20; both recipes 82% / 82% (the robust feature's 85%).
    let eps = 0.05;
    let pgd = AttackConfig::pgd(eps, eps / 4.0, 20);
    let test = loader(shortcut_dataset(400, 9), &Normalize::Unit, 100);
    let robust = |net: &Sequential| {
        let report = robust_accuracy(net, &normalize(), &test, std::slice::from_ref(&pgd), |_| {}).unwrap();
        (report.clean_accuracy(), report.rows[0].robust_accuracy(report.seen))
    };
    let natural = robust(&train_mlp(None));
    for recipe in [Recipe::FgsmRs, Recipe::Pgd] {
        let t = AdversarialTraining::new(recipe, eps, None, None).unwrap();
        let net = train_mlp(Some(t.clone()));
        let trained = robust(&net);
        eprintln!("{recipe:?}: natural (clean, pgd) {natural:?}, adversarial {trained:?}");
        assert!(trained.1 > natural.1 + 0.2, "{recipe:?}: PGD accuracy {trained:?} vs natural {natural:?}");
        assert!(trained.0 > 0.75, "{recipe:?}: clean accuracy {trained:?}");
        let mut adv = Adversarial {
            training: t,
            normalize: normalize(),
            holdout: loader(shortcut_dataset(64, 2), &Normalize::Unit, 64),
            stopping: EarlyStopping::new(),
        };
        let (record, best, stop) = adv.check_epoch(&net, 1).unwrap();
        assert!(best && !stop, "{record}");
        let held = record["holdout_pgd_accuracy"].as_f64().unwrap();
        assert!(held <= record["holdout_clean_accuracy"].as_f64().unwrap() && held > 0.5, "{record}");
    }
}
