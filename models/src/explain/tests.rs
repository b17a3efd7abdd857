//! Tests of the attribution methods against oracles: completeness of integrated gradients on a
//! smooth model (1e-3, many steps), saliency against central finite differences, gradient x input
//! of a linear model against its exact contributions, the review scorer's completeness from the
//! PAD embedding, the sanity checks on models whose answer is known, and clear errors.

use super::attribute::{attribute, ExplainConfig, Method};
use super::randomise::{cascading_randomisation, random_floor, Cascade};
use super::sanity::{attribution_order, deletion_area, deletion_curve, random_order, Deletion, Grouping};
use super::scorer::{ReviewScorer, Scorer};
use super::Rule;
use crate::data::Normalize;
use crate::nn::{parameters, Dropout, Flatten, Linear, Module, Sequential, Tanh};
use crate::robust::PixelClassifier;
use crate::zoo::sentiment::SentimentNet;
use kiln_autograd::{no_grad, Var};
use kiln_tensor::{Device, Rng, Tensor};

const DIMS: [usize; 4] = [3, 1, 2, 3];

fn mlp(seed: u64) -> Sequential {
    let mut rng = Rng::new(seed);
    Sequential::new()
        .push(Flatten)
        .push(Linear::new(6, 8, true, &mut rng))
        .push(Tanh)
        .push(Dropout::new(0.5, &mut rng))
        .push(Linear::new(8, 3, true, &mut rng))
}

fn inputs() -> Tensor {
    let mut rng = Rng::new(7);
    let v: Vec<f32> = (0..DIMS.iter().product()).map(|_| rng.uniform(0.0, 1.0) as f32).collect();
    Tensor::from_vec(v, DIMS).unwrap()
}

fn pixels(model: &dyn Module) -> PixelClassifier<'_> {
    PixelClassifier::new(model, &Normalize::MeanStd { mean: vec![0.5], std: vec![0.25] }, 1, Device::Cpu).unwrap()
}

fn cfg(method: Method) -> ExplainConfig {
    ExplainConfig { batch: 7, ..ExplainConfig::new(method) }
}

/// The target score of each sample without a graph.
fn target_scores(f: &dyn Scorer, x: &[f32], target: &[usize]) -> Vec<f64> {
    let t = Tensor::from_slice(x, DIMS).unwrap();
    let owners: Vec<usize> = (0..DIMS[0]).collect();
    let s = no_grad(|| f.scores(&Var::constant(t), &owners)).unwrap().tensor().to_vec_f64().unwrap();
    target.iter().enumerate().map(|(i, &c)| s[i * 3 + c]).collect()
}

#[test]
fn integrated_gradients_are_complete_on_a_smooth_model() {
    let net = mlp(1);
    net.set_training(true);
    let f = pixels(&net);
    for (rule, steps) in [(Rule::GaussLegendre, 50), (Rule::RiemannTrapezoid, 400), (Rule::RiemannMiddle, 400)] {
        let a =
            attribute(&f, &inputs(), None, None, &ExplainConfig { rule, steps, ..cfg(Method::IntegratedGradients) })
                .unwrap();
        let (delta, base) = (a.delta.as_ref().unwrap(), a.baseline_score.as_ref().unwrap());
        for i in 0..DIMS[0] {
            let gap = a.score[i] - base[i];
            assert!(
                delta[i].abs() <= 1e-3 * gap.abs().max(1e-3),
                "{rule:?}: delta {} for F(x) - F(b) = {gap}",
                delta[i]
            );
            let sum: f64 = a.sample(i).iter().sum();
            assert!((sum - gap - delta[i]).abs() < 1e-9, "the delta is sum(attr) - (F(x) - F(b))");
        }
    }
    // Dropout was on: attribution ran in evaluation mode (no noise in F) and gave the mode back.
    assert_eq!(net.training(), Some(true));
    let a = attribute(&f, &inputs(), None, None, &cfg(Method::IntegratedGradients)).unwrap();
    let b = attribute(&f, &inputs(), None, None, &ExplainConfig { batch: 1000, ..cfg(Method::IntegratedGradients) })
        .unwrap();
    let worst = a.values.iter().zip(&b.values).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-6, "points batched 7 or all at once agree ({worst})");
    // Three steps of a left Riemann sum are visibly incomplete: the delta is not trivially zero.
    let rough = attribute(
        &f,
        &inputs(),
        None,
        None,
        &ExplainConfig { rule: Rule::RiemannLeft, steps: 3, ..cfg(Method::IntegratedGradients) },
    )
    .unwrap();
    assert!(rough.delta.unwrap().iter().any(|d| d.abs() > 1e-3));
}

#[test]
fn saliency_is_the_absolute_input_gradient_by_finite_differences() {
    let net = mlp(2);
    // The finite differences below call the model directly: no dropout there either.
    net.set_training(false);
    let f = pixels(&net);
    let x = inputs();
    let a = attribute(&f, &x, None, None, &cfg(Method::Saliency)).unwrap();
    let base = x.to_vec::<f32>().unwrap();
    let h = 1e-2f32;
    let mut worst = 0.0f64;
    for j in 0..base.len() {
        let (mut up, mut down) = (base.clone(), base.clone());
        up[j] += h;
        down[j] -= h;
        let (fu, fd) = (target_scores(&f, &up, &a.target), target_scores(&f, &down, &a.target));
        let i = j / 6;
        let numeric = (fu[i] - fd[i]) / (2.0 * h as f64);
        worst = worst.max((a.values[j] - numeric.abs()).abs());
    }
    let largest = a.values.iter().fold(0.0f64, |m, v| m.max(*v));
    assert!(largest > 0.01 && worst < 1e-3 * largest.max(1.0), "worst {worst}, largest {largest}");
    assert!(a.delta.is_none());
    // SmoothGrad without noise is saliency; with noise it differs but stays non-negative.
    let still =
        attribute(&f, &x, None, None, &ExplainConfig { sigma: 0.0, samples: 3, ..cfg(Method::SmoothGrad) }).unwrap();
    assert!(still.values.iter().zip(&a.values).all(|(s, v)| (s - v).abs() < 1e-6));
    let noisy = attribute(&f, &x, None, None, &cfg(Method::SmoothGrad)).unwrap();
    assert!(noisy.values != a.values && noisy.values.iter().all(|v| *v >= 0.0));
}

#[test]
fn gradient_x_input_of_a_linear_model_is_its_exact_contribution() {
    let net = Sequential::new().push(Flatten).push(Linear::new(6, 3, true, &mut Rng::new(4)));
    let f = PixelClassifier::new(&net, &Normalize::Unit, 1, Device::Cpu).unwrap();
    let x = inputs();
    let w = parameters(&net)[0].1.tensor().to_vec_f64().unwrap();
    let target = [2, 0, 1];
    let a = attribute(&f, &x, None, Some(&target), &cfg(Method::GradXInput)).unwrap();
    let xs = x.to_vec_f64().unwrap();
    for (j, v) in a.values.iter().enumerate() {
        let (i, p) = (j / 6, j % 6);
        assert_eq!(*v, w[target[i] * 6 + p] * xs[j], "element {j}");
    }
    // Integrated gradients from black agree: the path's gradient is constant.
    let ig = attribute(&f, &x, None, Some(&target), &cfg(Method::IntegratedGradients)).unwrap();
    assert!(ig.values.iter().zip(&a.values).all(|(g, v)| (g - v).abs() < 1e-9));
    assert_eq!(ig.target, target);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let net = mlp(3);
    let f = pixels(&net);
    let x = inputs();
    let err = |r: kiln_tensor::Result<super::Attribution>| r.unwrap_err().to_string();
    assert!(err(attribute(&f, &x, None, Some(&[0, 1, 3]), &cfg(Method::Saliency)))
        .contains("class 3 is outside the model's 3"));
    assert!(err(attribute(&f, &x, None, Some(&[0]), &cfg(Method::Saliency))).contains("1 target classes for 3 samples"));
    let other = Tensor::zeros([1, 1, 2, 3], kiln_tensor::DType::F32);
    assert!(err(attribute(&f, &x, Some(&other), None, &cfg(Method::IntegratedGradients))).contains("baseline of shape"));
    let nan = Tensor::from_vec(vec![f32::NAN; 6], [1, 1, 2, 3]).unwrap();
    assert!(err(attribute(&f, &nan, None, None, &cfg(Method::Saliency))).contains("input element 0 is NaN"));
    let empty = Tensor::zeros([0, 1, 2, 3], kiln_tensor::DType::F32);
    assert!(err(attribute(&f, &empty, None, None, &cfg(Method::Saliency))).contains("not a non-empty batch"));
    assert!(err(attribute(&f, &x, None, None, &ExplainConfig { steps: 0, ..cfg(Method::IntegratedGradients) }))
        .contains("0 steps"));
    assert!(err(attribute(&f, &x, None, None, &ExplainConfig { samples: 0, ..cfg(Method::SmoothGrad) }))
        .contains("samples"));
    assert!(
        err(attribute(&f, &x, None, None, &ExplainConfig { batch: 0, ..cfg(Method::Saliency) })).contains("at least 1")
    );
    assert!(Method::parse("lime").unwrap_err().to_string().contains("saliency, gradxinput, ig or smoothgrad"));
}

#[test]
fn reviews_are_attributed_at_the_embedding_from_the_pad_embedding() {
    let net = SentimentNet::new(20, &mut Rng::new(5)).unwrap();
    let ids = Tensor::from_vec(vec![5i64, 9, 3, 7, 0, 0, 12, 4, 0, 0, 0, 0], [2, 6]).unwrap();
    let f = ReviewScorer::new(&net, &ids).unwrap();
    assert_eq!(f.lengths(), &[4, 2]);
    let (x, base) = (f.inputs().unwrap(), f.pad_baseline().unwrap());
    let a =
        attribute(&f, &x, Some(&base), None, &ExplainConfig { batch: 50, ..cfg(Method::IntegratedGradients) }).unwrap();
    let (delta, b) = (a.delta.as_ref().unwrap(), a.baseline_score.as_ref().unwrap());
    let g = Grouping::tokens(&x.dims()[1..]).unwrap();
    for i in 0..2 {
        let gap = a.score[i] - b[i];
        assert!(delta[i].abs() <= 1e-3 * gap.abs().max(1e-3), "review {i}: delta {} of {gap}", delta[i]);
        let per = g.per_position(a.sample(i));
        assert!(per[f.lengths()[i]..].iter().all(|v| *v == 0.0), "padding gets nothing: {per:?}");
    }
    // The two classes' scores are -z and z: towards the other class every attribution flips sign.
    let flipped: Vec<usize> = a.target.iter().map(|t| 1 - t).collect();
    let other = attribute(
        &f,
        &x,
        Some(&base),
        Some(&flipped),
        &ExplainConfig { batch: 50, ..cfg(Method::IntegratedGradients) },
    )
    .unwrap();
    assert!(other.values.iter().zip(&a.values).all(|(o, v)| (o + v).abs() < 1e-9));
    // The confidence is the model's own sigmoid of the logit.
    let logit = a.score[0] * if a.target[0] == 1 { 1.0 } else { -1.0 };
    let p = 1.0 / (1.0 + (-logit).exp());
    assert!((a.confidence[0] - p.max(1.0 - p)).abs() < 1e-9);
}

#[test]
fn sanity_checks_see_what_a_model_depends_on() {
    // A linear model that reads only the first pixel: deletion by attribution removes it first.
    let net = Sequential::new().push(Flatten).push(Linear::new(6, 2, true, &mut Rng::new(6)));
    let w = parameters(&net)[0].1.clone();
    w.tensor()
        .assign(&Tensor::from_vec(vec![8f32, 0., 0., 0., 0., 0., -8., 0., 0., 0., 0., 0.], [2, 6]).unwrap())
        .unwrap();
    // Without pixel 0 the bias decides, for class 1.
    parameters(&net)[1].1.tensor().assign(&Tensor::from_vec(vec![0f32, 0.5], [2]).unwrap()).unwrap();
    let f = PixelClassifier::new(&net, &Normalize::Unit, 1, Device::Cpu).unwrap();
    let x = Tensor::from_vec(vec![0.9f32; 18], DIMS).unwrap();
    let zeros = Tensor::zeros(DIMS, kiln_tensor::DType::F32);
    let a = attribute(&f, &x, None, None, &cfg(Method::IntegratedGradients)).unwrap();
    let g = Grouping::pixels(&DIMS[1..]).unwrap();
    let valid = [6; 3];
    let order = attribution_order(&a, g, &valid);
    assert!(order.iter().all(|o| o[0] == 0), "{order:?}");
    let d = Deletion { inputs: &x, baseline: &zeros, target: &a.target, labels: &a.target, grouping: g, batch: 2 };
    let fractions: Vec<f64> = (0..=6).map(|k| k as f64 / 6.0).collect();
    let by_attr = deletion_curve(&f, &d, &order, &fractions).unwrap();
    let by_chance = deletion_curve(&f, &d, &random_order(&valid, 1), &fractions).unwrap();
    assert_eq!(by_attr[0], by_chance[0]);
    assert!(by_attr[1].target_probability < 0.6 && by_attr[1].accuracy < 1.0, "{by_attr:?}");
    assert!(deletion_area(&by_attr) < deletion_area(&by_chance));
    // 2x2 squares of a 3x5 image: positions 0 1 2 / 3 4 5 (the last row and column cut).
    let sq = Grouping::patches(&[1, 3, 5], 2).unwrap();
    let cells: Vec<f64> = (0..15).map(|i| i as f64).collect();
    assert_eq!(sq.per_position(&cells), vec![12.0, 20.0, 13.0, 21.0, 25.0, 14.0]);

    // Cascading randomisation: correlations fall below the trained model's 1, weights come back.
    let trained = mlp(8);
    let f = pixels(&trained);
    let before: Vec<Vec<f64>> = parameters(&trained).iter().map(|(_, v)| v.tensor().to_vec_f64().unwrap()).collect();
    let target = attribute(&f, &inputs(), None, None, &cfg(Method::Saliency)).unwrap().target;
    let c = Cascade {
        inputs: &inputs(),
        baseline: &Tensor::zeros(DIMS, kiln_tensor::DType::F32),
        target: &target,
        grouping: g,
        ig: cfg(Method::IntegratedGradients),
    };
    let rows = cascading_randomisation(&f, &mlp(9), &c).unwrap();
    assert_eq!(rows.iter().map(|r| r.layer.as_str()).collect::<Vec<_>>(), ["4", "1"], "top layer first");
    assert!(rows.iter().all(|r| r.gradient < 0.999 && r.ig < 0.999), "{rows:?}");
    let after: Vec<Vec<f64>> = parameters(&trained).iter().map(|(_, v)| v.tensor().to_vec_f64().unwrap()).collect();
    assert_eq!(before, after, "the trained weights are restored");
    let small = Sequential::new().push(Flatten).push(Linear::new(6, 3, true, &mut Rng::new(1)));
    assert!(cascading_randomisation(&f, &small, &c).unwrap_err().to_string().contains("no parameter"));
    // Two random draws against each other: a model compared with itself correlates fully, two
    // draws less; the trained weights come back here too.
    let same = random_floor(&f, &mlp(9), &mlp(9), &c).unwrap();
    assert!((same.gradient - 1.0).abs() < 1e-12 && (same.ig - 1.0).abs() < 1e-12, "{same:?}");
    let floor = random_floor(&f, &mlp(9), &mlp(10), &c).unwrap();
    assert!(floor.gradient < 0.999 && floor.layer == "random vs random", "{floor:?}");
    let after: Vec<Vec<f64>> = parameters(&trained).iter().map(|(_, v)| v.tensor().to_vec_f64().unwrap()).collect();
    assert_eq!(before, after, "the trained weights are restored");
    assert!(random_floor(&f, &mlp(9), &small, &c).unwrap_err().to_string().contains("no parameter"));
}

#[test]
fn a_long_review_is_scored_the_same_with_and_without_a_graph() {
    // W3 reads up to 256 tokens: the graph's forward (what IG differentiates) and the graph-free
    // one (what F(x) and F(b) are) must agree on a long one too.
    let net = SentimentNet::new(50, &mut Rng::new(11)).unwrap();
    net.set_training(false);
    let mut rng = Rng::new(12);
    let ids: Vec<i64> =
        (0..2 * 120).map(|i| if i % 120 < 100 + 20 * (i / 120) { 2 + rng.below(48) as i64 } else { 0 }).collect();
    let ids = Tensor::from_vec(ids, [2, 120]).unwrap();
    let f = ReviewScorer::new(&net, &ids).unwrap();
    let x = f.inputs().unwrap();
    let plain = no_grad(|| f.scores(&Var::constant(x.clone()), &[0, 1])).unwrap().tensor().to_vec_f64().unwrap();
    let graph = f.scores(&Var::leaf(x.clone()), &[0, 1]).unwrap().tensor().to_vec_f64().unwrap();
    assert_eq!(plain, graph);
    let base = f.pad_baseline().unwrap();
    let a = attribute(
        &f,
        &x,
        Some(&base),
        None,
        &ExplainConfig { steps: 200, batch: 100, ..cfg(Method::IntegratedGradients) },
    )
    .unwrap();
    let (delta, b) = (a.delta.as_ref().unwrap(), a.baseline_score.as_ref().unwrap());
    for i in 0..2 {
        let gap = a.score[i] - b[i];
        assert!(delta[i].abs() <= 1e-2 * gap.abs().max(1e-2), "review {i}: delta {} of {gap}", delta[i]);
    }
}

#[test]
fn the_blurred_canvas_keeps_flat_images_and_spreads_a_point_symmetrically() {
    use super::sanity::gaussian_blur;
    let flat = vec![0.25; 2 * 3 * 5 * 7];
    let out = gaussian_blur(&flat, &[2, 3, 5, 7], 1.5).unwrap();
    assert!(out.iter().all(|v| (v - 0.25).abs() < 1e-12), "renormalised at the edges");
    // A point in the middle of a 31 x 31 plane (far from the edges for sigma 2): symmetric, mass
    // kept, peak lowered.
    let mut point = vec![0.0; 31 * 31];
    point[15 * 31 + 15] = 1.0;
    let out = gaussian_blur(&point, &[1, 1, 31, 31], 2.0).unwrap();
    assert!((out.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    assert!(out[15 * 31 + 15] < 0.05 && out[15 * 31 + 15] > out[15 * 31 + 16]);
    for (a, b) in [((15, 13), (15, 17)), ((13, 15), (17, 15)), ((12, 12), (18, 18))] {
        assert!((out[a.0 * 31 + a.1] - out[b.0 * 31 + b.1]).abs() < 1e-15);
    }
    // Channels and images are blurred apart: nothing leaks into the next plane.
    let mut two = vec![0.0; 2 * 9];
    two[4] = 1.0;
    assert!(gaussian_blur(&two, &[2, 1, 3, 3], 3.0).unwrap()[9..].iter().all(|&v| v == 0.0));
    assert!(gaussian_blur(&flat, &[2, 3, 5, 7], 0.0).unwrap_err().to_string().contains("sigma 0"));
    assert!(gaussian_blur(&flat, &[2, 3, 35], 1.0).unwrap_err().to_string().contains("[N, C, H, W]"));
    assert!(gaussian_blur(&flat[1..], &[2, 3, 5, 7], 1.0).unwrap_err().to_string().contains("209 values"));
}
