//! Golden test against PyTorch for kiln's layers and optimizers: every case of
//! `tests/golden/layers.json` (written by `tests/golden/generate_layers.py`) is rebuilt in f32.
//! A layer case builds the kiln module from `module` + `config`, checks that its parameter and buffer
//! names and shapes are PyTorch's state_dict ones, overwrites them with the stored values, runs the
//! forward in the stored train/eval mode and the backward of `sum_k (outputs[k] * upstream[k]).sum()`,
//! then compares outputs, input and parameter gradients and the buffers after the forward. An optimizer
//! case feeds the stored gradient sequence to a kiln optimizer and compares the parameters and the
//! state buffers after each step. Everything must match to `|got - want| <= 1e-5 * max(1, |want|)`;
//! an unknown module or optimizer fails the test. This file only reads the golden data.

mod common;

use common::{worst_error, TOLERANCE};
use kiln::autograd::{backward, GradStore, Var};
use kiln::models::nn::{
    self, BatchNorm2d, Conv2d, Dropout, Embedding, LayerNorm, Linear, Lstm, LstmConfig, MaxPool2d, Module, ReLU,
    Sequential,
};
use kiln::models::optim::{Adam, Optimizer, Sgd};
use kiln::tensor::{Rng, Tensor};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Display;

/// Every layer and optimizer the acceptance list names must have at least one case.
const REQUIRED: [&str; 12] = [
    "linear",
    "conv2d",
    "max_pool2d",
    "embedding",
    "lstm",
    "batch_norm2d",
    "batch_norm2d_relu",
    "layer_norm",
    "dropout",
    "sgd",
    "adam",
    "adamw",
];

type Outcome<T> = std::result::Result<T, String>;

#[derive(Deserialize)]
struct File {
    torch_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Case {
    Layer(LayerCase),
    Optimizer(OptimCase),
}

#[derive(Deserialize)]
struct LayerCase {
    name: String,
    module: String,
    config: serde_json::Map<String, serde_json::Value>,
    training: bool,
    params: Vec<Named>,
    buffers: Vec<Named>,
    inputs: Vec<Input>,
    outputs: Vec<Output>,
    input_grads: Vec<Named>,
    param_grads: Vec<Named>,
    buffers_after: Vec<Named>,
}

#[derive(Deserialize)]
struct OptimCase {
    name: String,
    optimizer: String,
    hparams: serde_json::Map<String, serde_json::Value>,
    params: Vec<Named>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    grads: Vec<Named>,
    params: Vec<Named>,
    state: Vec<Named>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
    shape: Vec<usize>,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct Input {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    data: Vec<f64>,
    grad: bool,
}

#[derive(Deserialize)]
struct Output {
    name: String,
    shape: Vec<usize>,
    data: Vec<f64>,
    upstream: Vec<f64>,
}

/// Prefixes an error with what was being done.
trait Context<T> {
    fn ctx(self, what: &str) -> Outcome<T>;
}

impl<T, E: Display> Context<T> for std::result::Result<T, E> {
    fn ctx(self, what: &str) -> Outcome<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

fn f32_tensor(data: &[f64], shape: &[usize]) -> Outcome<Tensor> {
    Tensor::from_vec(data.iter().map(|&v| v as f32).collect::<Vec<_>>(), shape.to_vec()).ctx("from_vec")
}

/// Reads typed attributes out of a case's `config` / `hparams` object.
struct Attrs<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl Attrs<'_> {
    fn get(&self, key: &str) -> Outcome<&serde_json::Value> {
        self.0.get(key).ok_or_else(|| format!("attribute `{key}` missing"))
    }

    fn usize(&self, key: &str) -> Outcome<usize> {
        self.get(key)?.as_u64().map(|v| v as usize).ok_or_else(|| format!("`{key}` is not a count"))
    }

    fn opt_usize(&self, key: &str) -> Outcome<Option<usize>> {
        match self.get(key)? {
            serde_json::Value::Null => Ok(None),
            _ => self.usize(key).map(Some),
        }
    }

    fn usizes(&self, key: &str) -> Outcome<Option<Vec<usize>>> {
        match self.get(key)? {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::Array(a) => a
                .iter()
                .map(|v| v.as_u64().map(|v| v as usize).ok_or_else(|| format!("`{key}`: bad entry")))
                .collect::<Outcome<Vec<_>>>()
                .map(Some),
            _ => Err(format!("`{key}` is not a list")),
        }
    }

    fn float(&self, key: &str) -> Outcome<f64> {
        self.get(key)?.as_f64().ok_or_else(|| format!("`{key}` is not a number"))
    }

    fn floats(&self, key: &str) -> Outcome<Vec<f64>> {
        let list = self.get(key)?.as_array().ok_or_else(|| format!("`{key}` is not a list"))?;
        list.iter().map(|v| v.as_f64().ok_or_else(|| format!("`{key}`: bad entry"))).collect()
    }

    fn flag(&self, key: &str) -> Outcome<bool> {
        self.get(key)?.as_bool().ok_or_else(|| format!("`{key}` is not a bool"))
    }
}

/// Worst `|got - want| / max(1, |want|)` over a tensor, after checking the shape.
/// Overwrites a parameter's or buffer's storage with golden values (it must own a dense f32 storage).
fn overwrite(what: &str, target: &Tensor, want: &Named) -> Outcome<()> {
    if target.dims() != want.shape.as_slice() {
        return Err(format!("{what}: kiln shape {:?}, PyTorch shape {:?}", target.dims(), want.shape));
    }
    if !target.is_contiguous() || target.layout().offset() != 0 {
        return Err(format!("{what}: not a dense tensor"));
    }
    let mut guard = target.storage_mut();
    let slice = guard.cpu_mut().ctx(what)?.as_mut_slice::<f32>().ctx(what)?;
    if slice.len() != want.data.len() {
        return Err(format!("{what}: storage of {} values for {} golden values", slice.len(), want.data.len()));
    }
    for (s, &v) in slice.iter_mut().zip(&want.data) {
        *s = v as f32;
    }
    Ok(())
}

/// `(name, shape)` lists must agree in order: kiln's names are PyTorch's state_dict names.
fn check_names(what: &str, kiln: Vec<(String, Vec<usize>)>, golden: &[Named]) -> Outcome<()> {
    let golden: Vec<(String, Vec<usize>)> = golden.iter().map(|n| (n.name.clone(), n.shape.clone())).collect();
    if kiln != golden {
        return Err(format!("{what}: kiln has {kiln:?}, PyTorch has {golden:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Layers

/// A kiln layer built from a case: a plain module, or an LSTM with its optional sequence lengths.
enum Layer {
    Plain(Box<dyn Module>),
    Lstm(Lstm, Option<Vec<usize>>),
}

impl Layer {
    fn build(case: &LayerCase) -> Outcome<Layer> {
        let c = Attrs(&case.config);
        let rng = &mut Rng::new(0);
        let plain = |m: Box<dyn Module>| Ok(Layer::Plain(m));
        match case.module.as_str() {
            "linear" => {
                plain(Box::new(Linear::new(c.usize("in_features")?, c.usize("out_features")?, c.flag("bias")?, rng)))
            }
            "conv2d" => {
                let mut conv = Conv2d::new(
                    c.usize("in_channels")?,
                    c.usize("out_channels")?,
                    c.usize("kernel")?,
                    c.usize("stride")?,
                    c.usize("padding")?,
                    rng,
                );
                if !c.flag("bias")? {
                    conv.bias = None;
                }
                plain(Box::new(conv))
            }
            "max_pool2d" => plain(Box::new(MaxPool2d { kernel: c.usize("kernel")?, stride: c.usize("stride")? })),
            "embedding" => {
                let emb = Embedding::new(c.usize("num_embeddings")?, c.usize("dim")?, c.opt_usize("padding_idx")?, rng)
                    .ctx("Embedding::new")?;
                plain(Box::new(emb))
            }
            "lstm" => {
                let config = LstmConfig {
                    input_size: c.usize("input_size")?,
                    hidden_size: c.usize("hidden_size")?,
                    num_layers: c.usize("num_layers")?,
                    bidirectional: c.flag("bidirectional")?,
                };
                Ok(Layer::Lstm(Lstm::new(config, rng), c.usizes("lengths")?))
            }
            "batch_norm2d" => plain(Box::new(BatchNorm2d::new(c.usize("channels")?))),
            // Run as the fused batch_norm_relu op by Sequential.
            "batch_norm2d_relu" => {
                plain(Box::new(Sequential::new().push(BatchNorm2d::new(c.usize("channels")?)).push(ReLU)))
            }
            "layer_norm" => plain(Box::new(LayerNorm::new(c.usize("dim")?))),
            "dropout" => plain(Box::new(Dropout::new(c.float("p")?, rng))),
            other => Err(format!("unknown module `{other}` (add it to golden_layers.rs)")),
        }
    }

    fn module(&self) -> &dyn Module {
        match self {
            Layer::Plain(m) => m.as_ref(),
            Layer::Lstm(m, _) => m,
        }
    }

    /// The named outputs, in the golden file's order.
    fn forward(&self, x: &Var) -> Outcome<Vec<(&'static str, Var)>> {
        match self {
            Layer::Plain(m) => Ok(vec![("output", m.forward(x).ctx("forward")?)]),
            Layer::Lstm(m, lengths) => {
                let out = m.forward_with_state(x, lengths.as_deref()).ctx("forward_with_state")?;
                Ok(vec![("output", out.output), ("h_n", out.h_n), ("c_n", out.c_n)])
            }
        }
    }
}

/// Runs one layer case; returns the worst scaled error per compared tensor.
fn run_layer(case: &LayerCase) -> Outcome<Vec<(String, f64)>> {
    let layer = Layer::build(case)?;
    let module = layer.module();
    let params = nn::parameters(module);
    let buffers = nn::buffers(module);
    check_names("parameters", params.iter().map(|(n, v)| (n.clone(), v.dims().to_vec())).collect(), &case.params)?;
    check_names("buffers", buffers.iter().map(|(n, t)| (n.clone(), t.dims().to_vec())).collect(), &case.buffers)?;
    for ((name, var), want) in params.iter().zip(&case.params) {
        overwrite(name, var.tensor(), want)?;
    }
    for ((name, t), want) in buffers.iter().zip(&case.buffers) {
        overwrite(name, t, want)?;
    }
    module.set_training(case.training);

    let [input] = case.inputs.as_slice() else {
        return Err(format!("{} inputs; the layer cases have one", case.inputs.len()));
    };
    let x = match (input.dtype.as_str(), input.grad) {
        ("i64", false) => {
            let ids = input.data.iter().map(|&v| v as i64).collect::<Vec<_>>();
            Var::constant(Tensor::from_vec(ids, input.shape.clone()).ctx("ids")?)
        }
        ("f32", grad) => Var::new(f32_tensor(&input.data, &input.shape)?, grad),
        (dtype, grad) => return Err(format!("input `{}`: dtype {dtype} with grad {grad}", input.name)),
    };

    let outputs = layer.forward(&x)?;
    let names: Vec<&str> = outputs.iter().map(|(n, _)| *n).collect();
    let golden: Vec<&str> = case.outputs.iter().map(|o| o.name.as_str()).collect();
    if names != golden {
        return Err(format!("outputs {names:?}, golden file has {golden:?}"));
    }
    let mut errors = Vec::new();
    let mut loss: Option<Var> = None;
    for ((name, out), want) in outputs.iter().zip(&case.outputs) {
        errors.push((name.to_string(), worst_error(name, out.tensor(), &want.shape, &want.data)?));
        let term = out.mul(&Var::constant(f32_tensor(&want.upstream, &want.shape)?)).ctx(name)?.sum_all().ctx(name)?;
        loss = Some(match loss {
            None => term,
            Some(l) => l.add(&term).ctx("loss")?,
        });
    }
    let loss = loss.ok_or("no outputs")?;
    let grads = backward(&loss).ctx("backward")?;
    // Buffers after forward and backward, as PyTorch's were read (the forward updates running stats).
    for ((name, t), want) in buffers.iter().zip(&case.buffers_after) {
        let what = format!("{name} after forward");
        if *name != want.name {
            return Err(format!("{what}: golden file has {}", want.name));
        }
        errors.push((what.clone(), worst_error(&what, t, &want.shape, &want.data)?));
    }
    if case.buffers_after.len() != buffers.len() {
        return Err(format!("{} buffers, {} in buffers_after", buffers.len(), case.buffers_after.len()));
    }

    let grad_inputs: Vec<&Input> = case.inputs.iter().filter(|i| i.grad).collect();
    if grad_inputs.len() != case.input_grads.len() {
        return Err(format!("{} inputs with grad, {} input grads", grad_inputs.len(), case.input_grads.len()));
    }
    for want in &case.input_grads {
        let what = format!("grad {}", want.name);
        let got = grads.get(&x).ok_or_else(|| format!("{what}: kiln computed none"))?;
        errors.push((what.clone(), worst_error(&what, got, &want.shape, &want.data)?));
    }
    check_names(
        "parameter grads",
        case.params.iter().map(|p| (p.name.clone(), p.shape.clone())).collect(),
        &case.param_grads,
    )?;
    for ((name, var), want) in params.iter().zip(&case.param_grads) {
        let what = format!("grad {name}");
        let got = grads.get(var).ok_or_else(|| format!("{what}: kiln computed none"))?;
        errors.push((what.clone(), worst_error(&what, got, &want.shape, &want.data)?));
    }
    Ok(errors)
}

// ---------------------------------------------------------------------------------------------------------
// Optimizers

fn build_optimizer(case: &OptimCase, params: Vec<(String, Var)>) -> Outcome<Box<dyn Optimizer>> {
    let h = Attrs(&case.hparams);
    let (lr, wd) = (h.float("lr")?, h.float("weight_decay")?);
    let betas = || -> Outcome<(f64, f64)> {
        match h.floats("betas")?.as_slice() {
            &[b1, b2] => Ok((b1, b2)),
            other => Err(format!("betas {other:?}")),
        }
    };
    Ok(match case.optimizer.as_str() {
        "sgd" => Box::new(Sgd::new(params, lr, h.float("momentum")?, wd, h.flag("nesterov")?)),
        "adam" => Box::new(Adam::new(params, lr, betas()?, wd)),
        "adamw" => Box::new(Adam::adamw(params, lr, betas()?, wd)),
        other => return Err(format!("unknown optimizer `{other}` (add it to golden_layers.rs)")),
    })
}

/// Runs one optimizer case; returns the worst scaled error per compared tensor and step.
fn run_optimizer(case: &OptimCase) -> Outcome<Vec<(String, f64)>> {
    let params = case
        .params
        .iter()
        .map(|p| Ok((p.name.clone(), Var::leaf(f32_tensor(&p.data, &p.shape)?))))
        .collect::<Outcome<Vec<_>>>()?;
    let mut opt = build_optimizer(case, params.clone())?;
    let mut errors = Vec::new();
    for (k, step) in case.steps.iter().enumerate() {
        // A parameter absent from the step's grads has no gradient in that step.
        let mut store = GradStore::new();
        for g in &step.grads {
            let (_, var) = params
                .iter()
                .find(|(n, _)| *n == g.name)
                .ok_or_else(|| format!("step {}: gradient for unknown parameter {}", k + 1, g.name))?;
            store.insert(var, f32_tensor(&g.data, &g.shape)?);
        }
        opt.step(&store).ctx(&format!("step {}", k + 1))?;

        check_names("params", params.iter().map(|(n, v)| (n.clone(), v.dims().to_vec())).collect(), &step.params)?;
        for ((name, var), want) in params.iter().zip(&step.params) {
            let what = format!("step {} {name}", k + 1);
            errors.push((what.clone(), worst_error(&what, var.tensor(), &want.shape, &want.data)?));
        }
        let state = opt.state();
        for want in &step.state {
            let what = format!("step {} {}", k + 1, want.name);
            let got = state
                .iter()
                .find(|(n, _)| *n == want.name)
                .map(|(_, t)| t)
                .ok_or_else(|| format!("{what}: kiln's optimizer state has no such entry"))?;
            errors.push((what.clone(), worst_error(&what, got, &want.shape, &want.data)?));
        }
        let count = state.iter().find(|(n, _)| n == "step").map(|(_, t)| t.to_vec_f64());
        if !matches!(count, Some(Ok(ref c)) if c.as_slice() == [(k + 1) as f64]) {
            return Err(format!("after step {}: state `step` is {count:?}", k + 1));
        }
    }
    Ok(errors)
}

#[test]
fn golden_layers_match_pytorch() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/layers.json");
    let text = std::fs::read_to_string(path).expect("tests/golden/layers.json is readable");
    let file: File = serde_json::from_str(&text).expect("tests/golden/layers.json parses");

    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    for case in &file.cases {
        let (name, kind, result) = match case {
            Case::Layer(c) => (&c.name, &c.module, run_layer(c)),
            Case::Optimizer(c) => (&c.name, &c.optimizer, run_optimizer(c)),
        };
        covered.insert(kind.as_str());
        match result {
            Ok(errors) => {
                let (what, worst) =
                    errors
                        .iter()
                        .fold(("nothing", 0.0f64), |acc, (w, e)| if *e >= acc.1 { (w.as_str(), *e) } else { acc });
                let line = format!("{name:44} {kind:13} worst error {worst:.3e} in {what}");
                println!("{line}");
                if worst > TOLERANCE {
                    failures.push(line);
                }
            }
            Err(msg) => {
                let line = format!("{name:44} {kind:13} {msg}");
                println!("{line}");
                failures.push(line);
            }
        }
    }
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|k| !covered.contains(k)).collect();
    assert!(missing.is_empty(), "layers.json has no case for {missing:?}");
    assert!(
        failures.is_empty(),
        "{} of {} golden cases (torch {}) failed, tolerance {TOLERANCE:e} * max(1, |want|):\n{}",
        failures.len(),
        file.cases.len(),
        file.torch_version,
        failures.join("\n")
    );
    println!("{} golden layer and optimizer cases passed (torch {})", file.cases.len(), file.torch_version);
}
