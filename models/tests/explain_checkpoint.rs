//! A check on a trained W3 checkpoint, run only when `KILN_W3_CHECKPOINT` names one (and
//! `KILN_DATA` holds IMDB): along the integrated-gradients path of a long test review, the
//! gradient's directional derivative must match central finite differences of the logit, and the
//! logit along the path is printed, to show where it moves. Skips with a notice otherwise.

use kiln_autograd::{backward_with, no_grad, Var};
use kiln_models::checkpoint::Checkpoint;
use kiln_models::data::{load_texts, FetchOptions, Split, Vocab};
use kiln_models::explain::{ReviewScorer, Scorer};
use kiln_models::nn::Module;
use kiln_models::zoo::run::load_module;
use kiln_models::zoo::sentiment::{encode_options, SentimentNet};
use kiln_tensor::{Rng, Tensor};
use std::path::PathBuf;

#[test]
fn the_gradient_along_a_long_review_matches_finite_differences() {
    let Some(ck_path) = std::env::var_os("KILN_W3_CHECKPOINT").map(PathBuf::from) else {
        eprintln!("NOTICE: KILN_W3_CHECKPOINT is not set; skipping the trained-W3 check");
        return;
    };
    let ck = Checkpoint::load(&ck_path).unwrap();
    let vocab = Vocab::load(&ck_path.with_file_name("vocab.json")).unwrap();
    let net = SentimentNet::new(vocab.len(), &mut Rng::new(0)).unwrap();
    load_module(&ck, "model", &net).unwrap();
    net.set_training(false);
    let data = PathBuf::from(std::env::var_os("KILN_DATA").expect("KILN_DATA"));
    let test = load_texts(&data, Split::Test, &FetchOptions::from_env()).unwrap();
    let (ids, _) = vocab.encode(&test.texts[0], &encode_options());
    let ids = Tensor::from_vec(ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), [1, ids.len()]).unwrap();
    let f = ReviewScorer::new(&net, &ids).unwrap();
    let (x, b) = (f.inputs().unwrap().to_vec::<f32>().unwrap(), f.pad_baseline().unwrap().to_vec::<f32>().unwrap());
    let dims = [1, ids.dims()[1], 128];
    let point = |a: f64| -> Vec<f32> { x.iter().zip(&b).map(|(x, b)| b + (a as f32) * (x - b)).collect() };
    let logit = |p: &[f32]| {
        let t = Tensor::from_slice(p, dims).unwrap();
        no_grad(|| f.scores(&Var::constant(t), &[0])).unwrap().tensor().to_vec_f64().unwrap()[1]
    };
    for a in [0.0, 1e-7, 1e-5, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0] {
        eprintln!("alpha {a:e}: logit {:.4}", logit(&point(a)));
    }
    for a in [1e-3, 0.3, 1.0] {
        let input = Var::leaf(Tensor::from_vec(point(a), dims).unwrap());
        let s = f.scores(&input, &[0]).unwrap();
        let g = backward_with(&s, Tensor::from_vec(vec![0f32, 1.0], [1, 2]).unwrap()).unwrap();
        let g = g.get(&input).unwrap().to_vec::<f32>().unwrap();
        let analytic: f64 = g.iter().zip(x.iter().zip(&b)).map(|(g, (x, b))| (*g as f64) * (*x - *b) as f64).sum();
        let h = 1e-3;
        let numeric = (logit(&point(a + h)) - logit(&point(a - h))) / (2.0 * h);
        eprintln!("alpha {a}: dF/dalpha analytic {analytic:.5}, finite differences {numeric:.5}");
        assert!((analytic - numeric).abs() <= 0.05 * numeric.abs().max(1.0), "alpha {a}: {analytic} vs {numeric}");
    }
}
