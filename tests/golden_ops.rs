//! Golden test against PyTorch: every case of `tests/golden/ops.json` (written by
//! `tests/golden/generate.py`) is rebuilt in f32 through kiln's Var API by its `op` name and
//! `attrs`; the forward output and the gradients of `sum(output * upstream)` w.r.t. every input
//! with `"grad": true` must match to `|got - want| <= 1e-5 * max(1, |want|)`. An unknown op name
//! fails the test, so every case is exercised. This file only reads the golden data, never writes it.

mod common;

use common::{worst_error, TOLERANCE};
use kiln::autograd::{
    backward_with, bce, bce_with_logits, cat, cross_entropy, distill_kl, mse, stack, where_cond, Var,
};
use kiln::tensor::{Result, Shape, Tensor};
use serde::Deserialize;

const MIN_CASES: usize = 25;

#[derive(Deserialize)]
struct File {
    torch_version: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    op: String,
    attrs: serde_json::Map<String, serde_json::Value>,
    inputs: Vec<Input>,
    output: Data,
    upstream: Data,
    grads: Vec<Option<Data>>,
}

#[derive(Deserialize)]
struct Input {
    shape: Vec<usize>,
    dtype: String,
    data: Vec<f64>,
    grad: bool,
}

#[derive(Deserialize)]
struct Data {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// An input as the op wants it: a Var (f32, leaf or constant), a u32 mask, or i64 indices.
enum Arg {
    Var(Var),
    Mask(Tensor),
    Index(Tensor),
}

fn f32_tensor(data: &[f64], shape: &[usize]) -> Result<Tensor> {
    Tensor::from_vec(data.iter().map(|&v| v as f32).collect::<Vec<_>>(), shape.to_vec())
}

impl Case {
    /// Builds the inputs: i64 -> index tensors; f32 without gradient -> u32 masks for the ops whose
    /// input is a condition or mask, else constants; f32 with gradient -> leaves.
    fn args(&self) -> Result<Vec<Arg>> {
        let mask_op = matches!(self.op.as_str(), "where" | "masked_fill");
        self.inputs
            .iter()
            .map(|i| match (i.dtype.as_str(), i.grad) {
                ("i64", _) => Ok(Arg::Index(Tensor::from_vec(
                    i.data.iter().map(|&v| v as i64).collect::<Vec<_>>(),
                    i.shape.clone(),
                )?)),
                ("f32", false) if mask_op => Ok(Arg::Mask(Tensor::from_vec(
                    i.data.iter().map(|&v| v as u32).collect::<Vec<_>>(),
                    i.shape.clone(),
                )?)),
                ("f32", grad) => Ok(Arg::Var(Var::new(f32_tensor(&i.data, &i.shape)?, grad))),
                (other, _) => Err(kiln::tensor::Error::invalid("golden", format!("unknown dtype {other}"))),
            })
            .collect()
    }

    fn int(&self, key: &str) -> Result<i64> {
        self.attrs
            .get(key)
            .and_then(|v| v.as_i64())
            .ok_or_else(|| kiln::tensor::Error::invalid("golden", format!("{}: attr {key} missing", self.name)))
    }

    fn usizes(&self, key: &str) -> Result<Vec<usize>> {
        let list = self
            .attrs
            .get(key)
            .and_then(|v| v.as_array())
            .ok_or_else(|| kiln::tensor::Error::invalid("golden", format!("{}: attr {key} missing", self.name)))?;
        Ok(list.iter().filter_map(|v| v.as_u64()).map(|v| v as usize).collect())
    }

    fn isizes(&self, key: &str) -> Result<Vec<isize>> {
        let list = self
            .attrs
            .get(key)
            .and_then(|v| v.as_array())
            .ok_or_else(|| kiln::tensor::Error::invalid("golden", format!("{}: attr {key} missing", self.name)))?;
        Ok(list.iter().filter_map(|v| v.as_i64()).map(|v| v as isize).collect())
    }

    fn flag(&self, key: &str) -> bool {
        self.attrs.get(key).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    fn float(&self, key: &str) -> Result<f64> {
        self.attrs
            .get(key)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| kiln::tensor::Error::invalid("golden", format!("{}: attr {key} missing", self.name)))
    }

    /// Runs the case's op through the Var API.
    fn forward(&self, args: &[Arg]) -> std::result::Result<Var, String> {
        let var = |i: usize| match args.get(i) {
            Some(Arg::Var(v)) => Ok(v.clone()),
            _ => Err(format!("{}: input {i} is not a float input", self.name)),
        };
        let tensor = |i: usize| match args.get(i) {
            Some(Arg::Mask(t)) | Some(Arg::Index(t)) => Ok(t.clone()),
            _ => Err(format!("{}: input {i} is not a mask or index input", self.name)),
        };
        let vars = || args.iter().enumerate().map(|(i, _)| var(i)).collect::<std::result::Result<Vec<_>, _>>();
        let e = |err: kiln::tensor::Error| format!("{}: {err}", self.name);
        let out = match self.op.as_str() {
            "neg" => var(0)?.neg(),
            "exp" => var(0)?.exp(),
            "log" => var(0)?.log(),
            "sqrt" => var(0)?.sqrt(),
            "abs" => var(0)?.abs(),
            "relu" => var(0)?.relu(),
            "leaky_relu" => var(0)?.leaky_relu(self.float("slope").map_err(e)?),
            "sigmoid" => var(0)?.sigmoid(),
            "tanh" => var(0)?.tanh(),
            "add" => var(0)?.add(&var(1)?),
            "sub" => var(0)?.sub(&var(1)?),
            "mul" => var(0)?.mul(&var(1)?),
            "div" => var(0)?.div(&var(1)?),
            "pow" => var(0)?.pow(&var(1)?),
            "maximum" => var(0)?.maximum(&var(1)?),
            "minimum" => var(0)?.minimum(&var(1)?),
            "where" => where_cond(&tensor(0)?, &var(1)?, &var(2)?),
            "masked_fill" => var(0)?.masked_fill(&tensor(1)?, self.float("value").map_err(e)?),
            "sum" => var(0)?.sum(&self.isizes("axes").map_err(e)?, self.flag("keepdim")),
            "mean" => var(0)?.mean(&self.isizes("axes").map_err(e)?, self.flag("keepdim")),
            "max" => var(0)?.max(self.int("axis").map_err(e)? as isize, self.flag("keepdim")),
            "min" => var(0)?.min(self.int("axis").map_err(e)? as isize, self.flag("keepdim")),
            "softmax" => var(0)?.softmax(self.int("axis").map_err(e)? as isize),
            "log_softmax" => var(0)?.log_softmax(self.int("axis").map_err(e)? as isize),
            // transpose_b: b is stored [n, k]; the op sees a transposed view of it, and its gradient
            // comes back in the stored shape.
            "matmul" if self.flag("transpose_b") => {
                let (a, b) = (var(0)?, var(1)?);
                b.t().and_then(|bt| a.matmul(&bt))
            }
            "matmul" => var(0)?.matmul(&var(1)?),
            "conv2d" => {
                let (stride, padding) =
                    (self.int("stride").map_err(e)? as usize, self.int("padding").map_err(e)? as usize);
                let bias = var(2).ok();
                var(0)?.conv2d(&var(1)?, bias.as_ref(), stride, padding)
            }
            "max_pool2d" => {
                var(0)?.max_pool2d(self.int("kernel").map_err(e)? as usize, self.int("stride").map_err(e)? as usize)
            }
            "index_select" => var(0)?.index_select(self.int("axis").map_err(e)? as isize, &tensor(1)?),
            "cat" => cat(&vars()?.iter().collect::<Vec<_>>(), self.int("axis").map_err(e)? as isize),
            "stack" => stack(&vars()?.iter().collect::<Vec<_>>(), self.int("axis").map_err(e)? as isize),
            "transpose" => var(0)?.transpose(self.int("d0").map_err(e)? as isize, self.int("d1").map_err(e)? as isize),
            "permute" => var(0)?.permute(&self.usizes("perm").map_err(e)?),
            "narrow" => {
                let (axis, start, len) =
                    (self.int("axis").map_err(e)?, self.int("start").map_err(e)?, self.int("len").map_err(e)?);
                var(0)?.narrow(axis as isize, start as usize, len as usize)
            }
            "reshape" => var(0)?.reshape(Shape::new(self.usizes("shape").map_err(e)?)),
            "broadcast_to" => var(0)?.broadcast_to(Shape::new(self.usizes("shape").map_err(e)?)),
            "cross_entropy" => cross_entropy(&var(0)?, &tensor(1)?),
            "bce" => bce(&var(0)?, &var(1)?),
            "bce_with_logits" => bce_with_logits(&var(0)?, &var(1)?),
            "mse" => mse(&var(0)?, &var(1)?),
            "distill_kl" => distill_kl(&var(0)?, &var(1)?, self.float("temperature").map_err(e)?),
            "chain_mlp" => chain_mlp(&var(0)?, &var(1)?, &var(2)?, &var(3)?),
            other => return Err(format!("{}: unknown op `{other}` (add it to golden_ops.rs)", self.name)),
        };
        out.map_err(e)
    }
}

/// x @ w1 + b1 -> tanh -> @ w2 -> log_softmax(axis 1).
fn chain_mlp(x: &Var, w1: &Var, b1: &Var, w2: &Var) -> Result<Var> {
    x.matmul(w1)?.add(b1)?.tanh()?.matmul(w2)?.log_softmax(1)
}

/// Worst `|got - want| / max(1, |want|)` over a tensor, after checking the shape.
/// Runs one case; returns the worst scaled error per compared tensor (output first).
fn run(case: &Case) -> std::result::Result<Vec<(String, f64)>, String> {
    let args = case.args().map_err(|e| format!("{}: {e}", case.name))?;
    let out = case.forward(&args)?;
    let mut errors =
        vec![("output".to_string(), worst_error("output", out.tensor(), &case.output.shape, &case.output.data)?)];
    let upstream = f32_tensor(&case.upstream.data, &case.upstream.shape).map_err(|e| e.to_string())?;
    let grads = backward_with(&out, upstream).map_err(|e| format!("{}: backward: {e}", case.name))?;
    if case.grads.len() != args.len() {
        return Err(format!("{}: {} grads for {} inputs", case.name, case.grads.len(), args.len()));
    }
    for (i, (arg, want)) in args.iter().zip(&case.grads).enumerate() {
        let what = format!("grad[{i}]");
        match (arg, want) {
            (Arg::Var(v), Some(want)) => {
                let got = grads.get(v).ok_or_else(|| format!("{}: no gradient for input {i}", case.name))?;
                errors.push((what.clone(), worst_error(&what, got, &want.shape, &want.data)?));
            }
            (Arg::Var(v), None) if v.requires_grad() => {
                return Err(format!("{}: input {i} has no golden grad", case.name))
            }
            (_, Some(_)) => return Err(format!("{}: golden grad for non-float input {i}", case.name)),
            _ => {}
        }
    }
    Ok(errors)
}

#[test]
fn golden_ops_match_pytorch() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/ops.json");
    let text = std::fs::read_to_string(path).expect("tests/golden/ops.json is readable");
    let file: File = serde_json::from_str(&text).expect("tests/golden/ops.json parses");
    assert!(file.cases.len() >= MIN_CASES, "only {} cases in ops.json", file.cases.len());

    let mut failures = Vec::new();
    for case in &file.cases {
        match run(case) {
            Ok(errors) => {
                let (what, worst) =
                    errors.iter().fold(("", 0.0f64), |acc, (w, e)| if *e > acc.1 { (w, *e) } else { acc });
                println!("{:28} {:14} worst error {worst:.3e} in {what}", case.name, case.op);
                if worst > TOLERANCE {
                    failures.push(format!("{:28} {:14} worst error {worst:.3e} in {what}", case.name, case.op));
                }
            }
            Err(msg) => {
                println!("{msg}");
                failures.push(msg)
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases (torch {}) failed, tolerance {TOLERANCE:e} * max(1, |want|):\n{}",
        failures.len(),
        file.cases.len(),
        file.torch_version,
        failures.join("\n")
    );
    println!("{} golden cases passed (torch {})", file.cases.len(), file.torch_version);
}
