//! int8 networks against their f32 originals: outputs within the quantization error, BatchNorm
//! folded, ReLU fused, checkpoints that reproduce the network bit for bit, and corrupt or
//! mismatched checkpoints as clear errors.

use super::*;
use crate::checkpoint::Checkpoint;
use crate::nn::{BatchNorm2d, Module, Sequential};
use crate::zoo::{cnn, lenet};
use kiln_autograd::{no_grad, Var};
use kiln_tensor::{Rng, Tensor};
use std::path::Path;

fn batch(rng: &mut Rng, dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    Tensor::from_vec((0..n).map(|_| rng.normal() as f32).collect::<Vec<_>>(), dims.to_vec()).unwrap()
}

fn f32_logits(net: &Sequential, x: &Tensor) -> Vec<f32> {
    no_grad(|| net.forward(&Var::constant(x.clone()))).unwrap().tensor().to_vec::<f32>().unwrap()
}

/// Largest |int8 - f32| relative to the f32 logits' largest magnitude.
fn relative_error(q: &[f32], f: &[f32]) -> f32 {
    let scale = f.iter().fold(0f32, |m, v| m.max(v.abs()));
    q.iter().zip(f).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale
}

const CFG: QuantConfig = QuantConfig { observer: ObserverKind::MinMax, per_channel: true, reduce_range: false };

#[test]
fn lenet_int8_follows_the_f32_network() {
    let mut rng = Rng::new(1);
    let net = lenet::model(&mut rng);
    let calib: Vec<Tensor> = (0..3).map(|_| batch(&mut rng, &[16, 1, 28, 28])).collect();
    let q = QuantizedNet::quantize(&net, calib, CFG).unwrap();
    // conv+relu fused, pool, conv+relu, pool, flatten, 3 linear (two with relu): 8 stages.
    assert_eq!(q.stages.len(), 8, "{:?}", q.stages.iter().map(std::mem::discriminant).collect::<Vec<_>>());
    let x = batch(&mut rng, &[32, 1, 28, 28]);
    let (got, want) = (q.run(&x).unwrap().to_vec::<f32>().unwrap(), f32_logits(&net, &x));
    let err = relative_error(&got, &want);
    assert!(err < 0.05, "relative error {err}");
    // The per-tensor contrast quantizes too, less precisely or equally.
    let per_tensor = QuantizedNet::quantize(&net, vec![x.clone()], QuantConfig { per_channel: false, ..CFG }).unwrap();
    assert!(relative_error(&per_tensor.run(&x).unwrap().to_vec::<f32>().unwrap(), &want) < 0.1);
    // 4x smaller: s8 weights against f32 (plus the scales and f32 biases).
    let f32_bytes: usize = crate::nn::parameters(&net).iter().map(|(_, p)| 4 * p.elem_count()).sum();
    assert!(q.weight_bytes() * 3 < f32_bytes, "{} vs {f32_bytes}", q.weight_bytes());
}

#[test]
fn batchnorm_is_folded_into_its_conv() {
    let mut rng = Rng::new(2);
    let net = cnn::model(cnn::CnnVariant::BatchNorm { dropout: 0.3 }, &mut rng);
    // Give the BatchNorms statistics and affine parameters far from the identity.
    net.visit_buffers("", &mut |name, t| {
        let n = t.elem_count();
        let v: Vec<f32> = (0..n)
            .map(
                |i| if name.ends_with("running_var") { 0.5 + (i % 7) as f32 * 0.3 } else { 0.1 * (i % 5) as f32 - 0.2 },
            )
            .collect();
        t.assign(&Tensor::from_vec(v, t.dims().to_vec()).unwrap()).unwrap();
    });
    let x = batch(&mut rng, &[8, 3, 32, 32]);
    net.set_training(false);
    let want = f32_logits(&net, &x);
    net.set_training(true);
    let q = QuantizedNet::quantize(&net, vec![x.clone()], CFG).unwrap();
    assert_eq!(net.training(), Some(true), "the mode is restored");
    assert!(!q.stages.iter().any(|s| matches!(s, Stage::ReLU)), "every ReLU follows a conv or linear layer: fused");
    let err = relative_error(&q.run(&x).unwrap().to_vec::<f32>().unwrap(), &want);
    assert!(err < 0.08, "relative error {err}");
    let _ = BatchNorm2d::new(1);
}

#[test]
fn checkpoints_reproduce_the_network_and_refuse_damage() {
    let mut rng = Rng::new(3);
    let net = lenet::model(&mut rng);
    let x = batch(&mut rng, &[4, 1, 28, 28]);
    let q = QuantizedNet::quantize(&net, vec![x.clone()], CFG).unwrap();
    let mut meta = std::collections::BTreeMap::new();
    meta.insert("model".to_string(), "lenet".to_string());
    let ck = q.to_checkpoint(&meta).unwrap();
    assert!(is_quantized(&ck));
    let bytes = ck.to_bytes().unwrap();
    let back = QuantizedNet::from_checkpoint(&Checkpoint::from_bytes(&bytes, Path::new("q")).unwrap()).unwrap();
    let (a, b) = (q.run(&x).unwrap().to_vec::<f32>().unwrap(), back.run(&x).unwrap().to_vec::<f32>().unwrap());
    assert!(a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()));
    // Mismatched: a stage list that claims another geometry.
    let mut bad = ck.clone();
    let stages = bad.metadata["int8.stages"].replace("\"in\":400", "\"in\":401");
    bad.metadata.insert("int8.stages".into(), stages);
    let e = QuantizedNet::from_checkpoint(&bad).unwrap_err().to_string();
    assert!(e.contains("expected I8 [120, 401]"), "{e}");
    // A missing tensor, and a float checkpoint.
    let mut bad = ck.clone();
    bad.tensors.remove("stages.5.weight_scale");
    assert!(QuantizedNet::from_checkpoint(&bad).unwrap_err().to_string().contains("weight_scale"));
    assert!(QuantizedNet::from_checkpoint(&Checkpoint::new()).unwrap_err().to_string().contains("not an int8"));
}

#[test]
fn reduce_range_puts_calibrated_activations_on_7_bit_grids() {
    let mut rng = Rng::new(8);
    let net = lenet::model(&mut rng);
    let calib: Vec<Tensor> = (0..2).map(|_| batch(&mut rng, &[16, 1, 28, 28])).collect();
    let cfg = QuantConfig { reduce_range: true, ..CFG };
    let q = QuantizedNet::quantize(&net, calib.clone(), cfg).unwrap();
    assert!(q.seven_bit());
    for stage in &q.stages {
        if let Stage::Conv(c) = stage {
            assert!(c.weights.seven_bit && c.input.zero_point <= 127, "{:?}", c.input);
        }
    }
    // A calibration image is coded in 0..=127: its activations lie in the calibrated ranges.
    let first = q.stages.iter().find_map(|s| if let Stage::Conv(c) = s { Some(c.input) } else { None }).unwrap();
    let x = host(&calib[0]);
    let mut codes = vec![0u8; x.len()];
    first.quantize_into(&x, &mut codes);
    assert!(codes.iter().all(|&c| c <= 127));
    let want = f32_logits(&net, &calib[0]);
    let got = q.run(&calib[0]).unwrap().to_vec::<f32>().unwrap();
    assert!(relative_error(&got, &want) < 0.08, "relative error {}", relative_error(&got, &want));
    // The checkpoint carries the 7-bit mark, and a bad mark is a clear error.
    let ck = q.to_checkpoint(&std::collections::BTreeMap::new()).unwrap();
    let back = QuantizedNet::from_checkpoint(&ck).unwrap();
    assert!(back.seven_bit());
    let again = back.run(&calib[0]).unwrap().to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&again).all(|(u, v)| u.to_bits() == v.to_bits()));
    let mut bad = ck.clone();
    bad.metadata.insert("int8.activation_bits".into(), "6".into());
    let e = QuantizedNet::from_checkpoint(&bad).unwrap_err().to_string();
    assert!(e.contains("activation_bits"), "{e}");
    assert!(!QuantizedNet::quantize(&net, calib, CFG).unwrap().seven_bit());
}

fn host(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

#[test]
fn dynamic_linear_measures_each_batch() {
    let mut rng = Rng::new(4);
    let w: Vec<f32> = (0..30 * 20).map(|_| rng.normal() as f32 * 0.1).collect();
    let weights = QWeights::quantize(&w, None, 30, (true, false), GemmOrder::Linear).unwrap();
    let layer = QLinear { weights, input: None, relu: false };
    for scale in [0.01f32, 100.0] {
        let x: Vec<f32> = (0..5 * 20).map(|_| rng.normal() as f32 * scale).collect();
        let got = layer.forward(&x, 5).unwrap();
        let want: Vec<f32> =
            (0..5 * 30).map(|e| (0..20).map(|k| x[(e / 30) * 20 + k] * w[(e % 30) * 20 + k]).sum()).collect();
        assert!(relative_error(&got, &want) < 0.03, "input scale {scale}: {}", relative_error(&got, &want));
    }
    assert!(layer.forward(&[1.0; 7], 5).is_err());
}

#[test]
fn u8_activations_between_layers_equal_quantizing_each_layer_input() {
    // `run` keeps codes between layers (requantizing epilogues, ReLU and pooling on codes) and runs
    // the conv stages sample by sample; `run_layer_by_layer` quantizes every layer's f32 input.
    // Monotone grids make them equal bit for bit, on every model the quantizer takes.
    let mut rng = Rng::new(5);
    let nets = [
        (lenet::model(&mut rng), [1, 28, 28]),
        (cnn::model(cnn::CnnVariant::Plain, &mut rng), [3, 32, 32]),
        (cnn::model(cnn::CnnVariant::BatchNorm { dropout: 0.5 }, &mut rng), [3, 32, 32]),
    ];
    for (net, [c, h, w]) in nets {
        let calib = batch(&mut rng, &[8, c, h, w]);
        for per_channel in [true, false] {
            let q = QuantizedNet::quantize(&net, vec![calib.clone()], QuantConfig { per_channel, ..CFG }).unwrap();
            // A batch wider than calibration, so some activations leave the grids and saturate.
            for n in [1, 5] {
                let v: Vec<f32> = (0..n * c * h * w).map(|_| 1.5 * rng.normal() as f32).collect();
                let x = Tensor::from_vec(v, [n, c, h, w]).unwrap();
                let fused = q.run(&x).unwrap();
                let oracle = q.run_layer_by_layer(&x).unwrap();
                assert_eq!(fused.dims(), oracle.dims());
                let (a, b) = (fused.to_vec::<f32>().unwrap(), oracle.to_vec::<f32>().unwrap());
                for (e, (u, v)) in a.iter().zip(&b).enumerate() {
                    assert_eq!(u.to_bits(), v.to_bits(), "{c}x{h}x{w} per_channel {per_channel} n {n}: logit {e}");
                }
            }
        }
    }
}

#[test]
fn dynamic_lstm_follows_the_f32_sentiment_network() {
    use crate::zoo::sentiment::SentimentNet;
    let mut rng = Rng::new(6);
    let net = SentimentNet::new(60, &mut rng).unwrap();
    net.set_training(false);
    // Right-padded reviews of different lengths (0 is the padding id).
    let (b, t) = (6, 23);
    let lens = [23, 1, 7, 16, 23, 3];
    let ids: Vec<i64> = (0..b * t).map(|e| if e % t < lens[e / t] { 1 + rng.below(59) as i64 } else { 0 }).collect();
    let ids = Tensor::from_vec(ids, [b, t]).unwrap();
    let want = f32_logits_of(&net, &ids);
    for per_channel in [true, false] {
        let q = QuantizedSentiment::quantize(&net, per_channel, false).unwrap();
        let got = q.run(&ids).unwrap().to_vec::<f32>().unwrap();
        let err = relative_error(&got, &want);
        assert!(err < 0.05, "per_channel {per_channel}: relative error {err}: {got:?} vs {want:?}");
        assert!(q.weight_bytes() * 3 < 4 * (2 * (4 * 64 * 128 + 4 * 64 * 64)), "{}", q.weight_bytes());
    }
    // 7-bit grids (reduce_range) follow it too, and say so in their checkpoint.
    let q7 = QuantizedSentiment::quantize(&net, true, true).unwrap();
    let got = q7.run(&ids).unwrap().to_vec::<f32>().unwrap();
    assert!(relative_error(&got, &want) < 0.08, "7-bit: relative error {}", relative_error(&got, &want));
    let ck7 = q7.to_checkpoint(&std::collections::BTreeMap::new()).unwrap();
    assert_eq!(ck7.metadata.get("int8.activation_bits").map(String::as_str), Some("7"));
    let back7 = QuantizedSentiment::from_checkpoint(&ck7).unwrap();
    assert!(back7.fc.weights.seven_bit);
    let again = back7.run(&ids).unwrap().to_vec::<f32>().unwrap();
    assert!(got.iter().zip(&again).all(|(u, v)| u.to_bits() == v.to_bits()));
    // Padding matters: the same review with more padding after it gives the same logit.
    let q = QuantizedSentiment::quantize(&net, true, false).unwrap();
    let short = Tensor::from_vec(vec![5i64, 9, 2, 0, 0], [1, 5]).unwrap();
    let long = Tensor::from_vec(vec![5i64, 9, 2, 0, 0, 0, 0, 0, 0], [1, 9]).unwrap();
    let (a, c) = (q.run(&short).unwrap().to_vec::<f32>().unwrap(), q.run(&long).unwrap().to_vec::<f32>().unwrap());
    assert_eq!(a[0].to_bits(), c[0].to_bits());
    // Its checkpoint reproduces it bit for bit; a damaged one is a clear error.
    let ck = q.to_checkpoint(&std::collections::BTreeMap::new()).unwrap();
    assert!(is_quantized_sentiment(&ck) && is_quantized(&ck));
    let back = Checkpoint::from_bytes(&ck.to_bytes().unwrap(), Path::new("q")).unwrap();
    let back = QuantizedSentiment::from_checkpoint(&back).unwrap();
    let (a, c) = (q.run(&ids).unwrap().to_vec::<f32>().unwrap(), back.run(&ids).unwrap().to_vec::<f32>().unwrap());
    assert!(a.iter().zip(&c).all(|(u, v)| u.to_bits() == v.to_bits()));
    let mut bad = ck.clone();
    bad.tensors.remove("lstm.recurrent_reverse.weight_scale");
    let e = QuantizedSentiment::from_checkpoint(&bad).err().unwrap().to_string();
    assert!(e.contains("lstm.recurrent_reverse"), "{e}");
    assert!(QuantizedNet::from_checkpoint(&Checkpoint::new()).is_err());
    assert!(QuantizedSentiment::from_checkpoint(&Checkpoint::new()).is_err());
}

fn f32_logits_of(net: &dyn Module, ids: &Tensor) -> Vec<f32> {
    no_grad(|| net.forward(&Var::constant(ids.clone()))).unwrap().tensor().to_vec::<f32>().unwrap()
}
