//! Layer tests that need no PyTorch: parameter names and shapes follow PyTorch's state_dict,
//! train/eval behaviour of dropout and batch norm, LSTM masking semantics, embedding padding, and
//! Sequential's ReLU-then-MaxPool2d rewrite (the pool first) giving the layers' own values.
//! The layers' values and gradients are checked against PyTorch in `tests/golden_layers.rs`.

use kiln_autograd::{backward, Var};
use kiln_models::nn::{
    self, BatchNorm2d, Conv2d, Dropout, Embedding, Flatten, LayerNorm, Linear, Lstm, LstmConfig, MaxPool2d, Module,
    ReLU, Sequential,
};
use kiln_tensor::{DType, Rng, Tensor};

fn names(m: &dyn Module) -> Vec<(String, Vec<usize>)> {
    nn::parameters(m).into_iter().map(|(n, v)| (n, v.dims().to_vec())).collect()
}

#[test]
fn parameter_names_match_pytorch() {
    let mut rng = Rng::new(0);
    let net = Sequential::new()
        .push(Conv2d::new(3, 8, 3, 1, 1, &mut rng))
        .push(ReLU)
        .push(MaxPool2d::new(2))
        .push(Flatten)
        .push(Linear::new(8 * 4 * 4, 10, true, &mut rng));
    assert_eq!(
        names(&net),
        vec![
            ("0.weight".into(), vec![8, 3, 3, 3]),
            ("0.bias".into(), vec![8]),
            ("4.weight".into(), vec![10, 128]),
            ("4.bias".into(), vec![10]),
        ]
    );
    let y = net.forward(&Var::constant(Tensor::randn([2, 3, 8, 8], 0.0, 1.0, DType::F32, &mut rng))).unwrap();
    assert_eq!(y.dims(), &[2, 10]);
    let lstm = Lstm::new(LstmConfig { input_size: 5, hidden_size: 4, num_layers: 2, bidirectional: true }, &mut rng);
    let n = names(&lstm);
    assert_eq!(n.len(), 16);
    assert_eq!(n[0], ("weight_ih_l0".into(), vec![16, 5]));
    assert_eq!(n[4], ("weight_ih_l0_reverse".into(), vec![16, 5]));
    assert_eq!(n[8], ("weight_ih_l1".into(), vec![16, 8]));
}

/// `Sequential[ReLU, MaxPool2d]` pools first and applies the ReLU to the pooled tensor; values and
/// the input gradient equal ReLU then pool (the op order the layers name). Windows include all
/// negative ones, positive ties, overlapping windows (kernel 3, stride 2), and a NaN.
#[test]
fn sequential_relu_then_max_pool_equals_the_layers_in_order() {
    let mut rng = Rng::new(9);
    for (kernel, stride, shape) in [(2, 2, [3, 4, 8, 6]), (3, 2, [2, 3, 7, 9]), (2, 1, [1, 2, 5, 5])] {
        let n: usize = shape.iter().product();
        // Values on a coarse grid (many ties), mostly negative in places.
        let mut v: Vec<f32> = (0..n).map(|_| (rng.uniform(-6.0, 3.0) as f32).round() / 2.0).collect();
        v[n / 3] = f32::NAN;
        let x = Tensor::from_vec(v, shape).unwrap();
        let up = Tensor::randn(x.dims().to_vec(), 0.0, 1.0, DType::F32, &mut rng);
        let net = Sequential::new().push(ReLU).push(MaxPool2d { kernel, stride });
        let run = |f: &dyn Fn(&Var) -> Var| {
            let xv = Var::leaf(x.clone());
            let y = f(&xv);
            let up = Var::constant(up.narrow(2, 0, y.dims()[2]).unwrap().narrow(3, 0, y.dims()[3]).unwrap());
            let grads = backward(&y.mul(&up).unwrap().sum_all().unwrap()).unwrap();
            (y.tensor().to_vec::<f32>().unwrap(), grads.get(&xv).unwrap().to_vec::<f32>().unwrap())
        };
        let (y, dx) = run(&|v| net.forward(v).unwrap());
        let (want_y, want_dx) = run(&|v| v.relu().unwrap().max_pool2d(kernel, stride).unwrap());
        let bits =
            |v: &[f32]| v.iter().map(|f| if f.is_nan() { u32::MAX } else { (f + 0.0).to_bits() }).collect::<Vec<_>>();
        assert_eq!(bits(&y), bits(&want_y), "kernel {kernel} stride {stride}: output");
        assert_eq!(bits(&dx), bits(&want_dx), "kernel {kernel} stride {stride}: input gradient");
        assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0) && y.iter().any(|v| v.is_nan()));
    }
}

#[test]
fn linear_init_is_bounded_by_one_over_sqrt_fan_in() {
    let lin = Linear::new(100, 50, true, &mut Rng::new(1));
    let w = lin.weight.tensor().to_vec::<f32>().unwrap();
    let bound = 0.1f32;
    assert!(w.iter().all(|v| v.abs() <= bound));
    assert!(w.iter().any(|v| v.abs() > 0.9 * bound));
}

#[test]
fn dropout_is_identity_in_eval_and_masks_in_training() {
    let d = Dropout::new(0.5, &mut Rng::new(2));
    let x = Var::constant(Tensor::ones([1000], DType::F32));
    let y = d.forward(&x).unwrap().tensor().to_vec::<f32>().unwrap();
    let zeros = y.iter().filter(|&&v| v == 0.0).count();
    assert!((400..600).contains(&zeros), "{zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || v == 2.0));
    d.set_training(false);
    assert!(d.forward(&x).unwrap().same(&x));
}

#[test]
fn batchnorm_normalises_in_training_and_tracks_running_stats() {
    let bn = BatchNorm2d::new(2);
    let mut rng = Rng::new(3);
    let x = Var::constant(Tensor::randn([4, 2, 3, 3], 5.0, 2.0, DType::F32, &mut rng));
    let y = bn.forward(&x).unwrap();
    let mean = y.mean(&[0, 2, 3], false).unwrap().tensor().to_vec::<f32>().unwrap();
    assert!(mean.iter().all(|m| m.abs() < 1e-5), "{mean:?}");
    let rm = bn.running_mean.to_vec::<f32>().unwrap();
    assert!(rm.iter().all(|&m| (m - 0.5).abs() < 0.2), "{rm:?}"); // 0.9 * 0 + 0.1 * ~5
    bn.set_training(false);
    let e = bn.forward(&x).unwrap().tensor().to_vec::<f32>().unwrap();
    let xv = x.tensor().to_vec::<f32>().unwrap();
    let rv = bn.running_var.to_vec::<f32>().unwrap();
    let expect0 = (xv[0] - rm[0]) / (rv[0] + 1e-5).sqrt();
    assert!((e[0] - expect0).abs() < 1e-5);
    assert_eq!(nn::buffers(&bn).len(), 2);
}

#[test]
fn layernorm_rows_have_zero_mean_unit_variance() {
    let ln = LayerNorm::new(6);
    let x = Var::constant(Tensor::randn([3, 6], 2.0, 3.0, DType::F32, &mut Rng::new(4)));
    let y = ln.forward(&x).unwrap().tensor().to_vec::<f32>().unwrap();
    for row in y.chunks(6) {
        let m: f32 = row.iter().sum::<f32>() / 6.0;
        let v: f32 = row.iter().map(|a| (a - m) * (a - m)).sum::<f32>() / 6.0;
        assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-3, "{m} {v}");
    }
}

#[test]
fn embedding_padding_row_is_zero_and_gets_no_gradient() {
    let emb = Embedding::new(10, 3, Some(0), &mut Rng::new(5)).unwrap();
    let ids = Tensor::from_vec(vec![0i64, 4, 0, 7], [2, 2]).unwrap();
    let out = emb.lookup(&ids).unwrap();
    assert_eq!(out.dims(), &[2, 2, 3]);
    assert_eq!(&out.tensor().to_vec::<f32>().unwrap()[..3], &[0.0; 3]);
    let grads = backward(&out.sum_all().unwrap()).unwrap();
    let g = grads.get(&emb.weight).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(&g[..3], &[0.0; 3]);
    assert_eq!(&g[12..15], &[1.0; 3]);
    assert!(Embedding::new(10, 3, Some(10), &mut Rng::new(5)).is_err());
}

#[test]
fn lstm_full_lengths_equal_no_mask_and_padding_freezes_state() {
    let mut rng = Rng::new(6);
    let lstm = Lstm::new(LstmConfig { input_size: 3, hidden_size: 4, num_layers: 1, bidirectional: true }, &mut rng);
    let x = Var::constant(Tensor::randn([2, 5, 3], 0.0, 1.0, DType::F32, &mut rng));
    let plain = lstm.forward_with_state(&x, None).unwrap();
    let full = lstm.forward_with_state(&x, Some(&[5, 5])).unwrap();
    assert_eq!(plain.output.dims(), &[2, 5, 8]);
    assert_eq!(plain.h_n.dims(), &[2, 2, 4]);
    let (po, fo) = (plain.output.tensor().to_vec::<f32>().unwrap(), full.output.tensor().to_vec::<f32>().unwrap());
    // `prev + 1 * (new - prev)` rounds differently from `new` in the last bit.
    assert!(po.iter().zip(&fo).all(|(a, b)| (a - b).abs() < 1e-6));
    // A sequence of length 3 padded to 5 must give the same final states as the same 3 steps alone.
    let short = Var::constant(x.tensor().narrow(1, 0, 3).unwrap().narrow(0, 0, 1).unwrap());
    let alone = lstm.forward_with_state(&short, None).unwrap();
    let padded = lstm.forward_with_state(&Var::constant(x.tensor().narrow(0, 0, 1).unwrap()), Some(&[3])).unwrap();
    let (a, p) = (alone.h_n.tensor().to_vec::<f32>().unwrap(), padded.h_n.tensor().to_vec::<f32>().unwrap());
    assert!(a.iter().zip(&p).all(|(x, y)| (x - y).abs() < 1e-6), "{a:?} vs {p:?}");
    assert!(lstm.forward_with_state(&x, Some(&[6, 1])).is_err());
}
