//! Masked-token pretraining of W3's encoder on token streams made up here (no IMDB needed): the
//! tied output projection sends gradient into embedding rows the input never looked up, the
//! encoder learns a language whose tokens follow from their neighbours, and `init_classifier`
//! carries exactly the encoder into W3.

use kiln_autograd::{backward, Var};
use kiln_models::checkpoint::Checkpoint;
use kiln_models::nn::{self, Module};
use kiln_models::optim::{Adam, Optimizer};
use kiln_models::zoo::run::add_module;
use kiln_models::zoo::sentiment::masking::MaskedBatch;
use kiln_models::zoo::sentiment::model::lengths;
use kiln_models::zoo::sentiment::pretrain::{init_classifier, MaskedLm, PRETRAINING_KEY, PRETRAINING_OBJECTIVE};
use kiln_models::zoo::sentiment::SentimentNet;
use kiln_tensor::{Rng, Tensor};

#[test]
fn the_tied_projection_sends_gradient_into_rows_the_input_never_read() {
    let model = MaskedLm::new(30, &mut Rng::new(1)).unwrap();
    // Row 5 is only a target: the input reads [MASK] (id 30) where it stood.
    let masked = MaskedBatch { inputs: vec![30, 6, 7, 0], positions: vec![0], targets: vec![5] };
    let (loss, _) = model.loss(&masked, 1, 4, &[3]).unwrap();
    let grads = backward(&loss).unwrap();
    let g = grads.get(&model.embedding.weight).unwrap().to_vec::<f32>().unwrap();
    let row = |r: usize| g[r * 128..(r + 1) * 128].iter().map(|v| v.abs()).sum::<f32>();
    assert!(row(5) > 0.0, "the target's row got no gradient through the projection");
    assert!(row(30) > 0.0 && row(6) > 0.0, "the rows the input read");

    // The gradient of one entry of the target's row against a central difference of the loss.
    let (i, h) = (5 * 128 + 3, 1e-2f32);
    let at = |delta: f32| {
        let mut w = model.embedding.weight.tensor().to_vec::<f32>().unwrap();
        w[i] += delta;
        let probe = MaskedLm::new(30, &mut Rng::new(1)).unwrap();
        probe.embedding.weight.tensor().assign(&Tensor::from_vec(w, [31, 128]).unwrap()).unwrap();
        probe.loss(&masked, 1, 4, &[3]).unwrap().0.tensor().to_scalar::<f32>().unwrap()
    };
    let numeric = (at(h) - at(-h)) / (2.0 * h);
    assert!((numeric - g[i]).abs() < 0.05 * g[i].abs().max(1e-3), "analytic {} vs numeric {numeric}", g[i]);
}

/// Reviews of a made-up language: each token is the one before it plus 1 (mod 20, ids 2..22),
/// so a masked token follows from its neighbours.
fn stream(rng: &mut Rng, b: usize, t: usize) -> Vec<i64> {
    (0..b)
        .flat_map(|_| {
            let start = rng.below(20);
            (0..t).map(move |k| 2 + ((start + k) % 20) as i64)
        })
        .collect()
}

#[test]
fn the_encoder_learns_to_fill_in_masked_tokens() {
    let model = MaskedLm::new(22, &mut Rng::new(2)).unwrap();
    let mut opt = Adam::new(nn::parameters(&model), 1e-2, (0.9, 0.999), 0.0);
    let (b, t) = (16, 24);
    let mut rng = Rng::new(3);
    let mut accuracy = Vec::new();
    for _ in 0..60 {
        let ids = stream(&mut rng, b, t);
        let masked = model.masking(0.15).apply(&ids, &mut rng);
        let lens = lengths(&Tensor::from_vec(ids.clone(), [b, t]).unwrap()).unwrap();
        let (loss, correct) = model.loss(&masked, b, t, &lens).unwrap();
        opt.step(&backward(&loss).unwrap()).unwrap();
        accuracy.push(correct as f64 / masked.positions.len() as f64);
    }
    let late: f64 = accuracy[50..].iter().sum::<f64>() / 10.0;
    assert!(late > 0.9, "masked-token accuracy {late:.2} after 60 steps (chance 0.05): {accuracy:?}");
}

#[test]
fn init_classifier_copies_the_encoder_and_leaves_the_head() {
    let pretrained = MaskedLm::new(40, &mut Rng::new(4)).unwrap();
    let mut ck = Checkpoint::new();
    add_module(&mut ck, "model", &pretrained);
    let net = SentimentNet::new(40, &mut Rng::new(5)).unwrap();
    let head = net.fc.weight.tensor().to_vec::<f32>().unwrap();
    let refused = init_classifier(&net, &ck, "x").unwrap_err().to_string();
    assert!(refused.contains("not a `kiln pretrain sentiment` checkpoint"), "{refused}");
    ck.metadata.insert(PRETRAINING_KEY.into(), PRETRAINING_OBJECTIVE.into());
    init_classifier(&net, &ck, "x").unwrap();
    let table = pretrained.embedding.weight.tensor().to_vec::<f32>().unwrap();
    assert_eq!(
        net.embedding.weight.tensor().to_vec::<f32>().unwrap(),
        table[..40 * 128].to_vec(),
        "all rows but [MASK]"
    );
    for ((name, a), (_, b)) in nn::parameters(&net.lstm).iter().zip(nn::parameters(&pretrained.lstm).iter()) {
        assert_eq!(a.tensor().to_vec::<f32>().unwrap(), b.tensor().to_vec::<f32>().unwrap(), "{name}");
    }
    assert_eq!(net.fc.weight.tensor().to_vec::<f32>().unwrap(), head, "the head stays as initialised");
    let other = SentimentNet::new(41, &mut Rng::new(5)).unwrap();
    let err = init_classifier(&other, &ck, "x").unwrap_err().to_string();
    assert!(err.contains("[42, 128]"), "{err}");
    assert!(net.forward(&Var::constant(Tensor::from_vec(vec![2i64, 3, 0], [1, 3]).unwrap())).is_ok());
}
