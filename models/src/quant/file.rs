//! int8 checkpoints: a `QuantizedNet` as a safetensors file that Python's `safetensors` reads: per
//! int8 layer `stages.{i}.weight` (I8, `[out, in]`), `stages.{i}.weight_scale` (F32, one per output
//! channel or one), `stages.{i}.bias` (F32), `stages.{i}.input_scale` (F32 `[1]`) and
//! `stages.{i}.input_zero_point` (U8 `[1]`); the stage list (kinds, geometry, fused ReLUs) in the
//! `int8.stages` metadata (JSON), with `quantized = int8` beside the source checkpoint's metadata
//! (model, epoch, variant). Loading checks every stage against its tensors; the checkpoint's
//! checksum covers them all. W3 (`QuantizedSentiment`) is stored the same way per product:
//! `lstm.{input,recurrent}{,_reverse}` and `fc` (weight, weight_scale, bias), the f32
//! `embedding.weight`, and `int8.kind = sentiment`. Activations quantized on 7-bit grids
//! (`reduce_range`) are marked `int8.activation_bits = 7` (absent: 8). Must not: quantize.

use super::affine::{ActQuant, WeightQuant};
use super::layers::{GemmOrder, QConv2d, QLinear, QWeights};
use super::lstm::{QLstmDirection, QuantizedSentiment};
use super::net::{QuantizedNet, Stage};
use crate::checkpoint::{ByteTensor, Checkpoint};
use crate::data::PAD_ID;
use crate::nn::Embedding;
use crate::zoo::sentiment::model::{EMBED_DIM, HIDDEN};
use kiln_autograd::Var;
use kiln_tensor::{Error, Result, Tensor};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const OP: &str = "int8 checkpoint";
/// Metadata key marking an int8 checkpoint.
pub const QUANTIZED_KEY: &str = "quantized";
const STAGES_KEY: &str = "int8.stages";
const ACTIVATION_BITS_KEY: &str = "int8.activation_bits";

/// Marks `ck` as holding 7-bit activation grids (nothing for 8-bit ones, the default).
fn write_activation_bits(ck: &mut Checkpoint, seven_bit: bool) {
    if seven_bit {
        ck.metadata.insert(ACTIVATION_BITS_KEY.into(), "7".into());
    }
}

/// Whether `ck`'s activation grids are 7-bit.
fn seven_bit(ck: &Checkpoint) -> Result<bool> {
    match ck.metadata.get(ACTIVATION_BITS_KEY).map(String::as_str) {
        None | Some("8") => Ok(false),
        Some("7") => Ok(true),
        Some(other) => Err(invalid(format!("`{ACTIVATION_BITS_KEY}` is {other:?}, expected 7 or 8"))),
    }
}

/// Whether a checkpoint holds an int8 network.
pub fn is_quantized(ck: &Checkpoint) -> bool {
    ck.metadata.get(QUANTIZED_KEY).is_some_and(|v| v == "int8")
}

/// Metadata key naming which int8 network a checkpoint holds (absent: a `QuantizedNet`).
const KIND_KEY: &str = "int8.kind";

/// Whether an int8 checkpoint holds W3 (`QuantizedSentiment`).
pub fn is_quantized_sentiment(ck: &Checkpoint) -> bool {
    is_quantized(ck) && ck.metadata.get(KIND_KEY).is_some_and(|v| v == "sentiment")
}

impl QuantizedSentiment {
    /// The checkpoint of this network, with `metadata` (the source model's, its vocabulary named
    /// there) carried over.
    pub fn to_checkpoint(&self, metadata: &BTreeMap<String, String>) -> Result<Checkpoint> {
        let mut ck = Checkpoint::new();
        ck.metadata = metadata.clone();
        ck.insert("embedding.weight".to_string(), self.embedding.weight.tensor());
        for dir in &self.directions {
            let suffix = if dir.reverse { "_reverse" } else { "" };
            write_weights(&mut ck, &format!("lstm.input{suffix}"), &dir.input.weights)?;
            write_weights(&mut ck, &format!("lstm.recurrent{suffix}"), &dir.recurrent.weights)?;
        }
        write_weights(&mut ck, "fc", &self.fc.weights)?;
        write_activation_bits(&mut ck, self.fc.weights.seven_bit);
        ck.metadata.insert(QUANTIZED_KEY.into(), "int8".into());
        ck.metadata.insert(KIND_KEY.into(), "sentiment".into());
        Ok(ck)
    }

    /// Rebuilds W3 from its int8 checkpoint (weights packed for this CPU).
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<QuantizedSentiment> {
        if !is_quantized_sentiment(ck) {
            return Err(invalid("not an int8 sentiment checkpoint (no `int8.kind = sentiment`)".into()));
        }
        let table = ck.get("embedding.weight").map_err(|e| invalid(format!("embedding: {e}")))?;
        if table.rank() != 2 || table.dims()[1] != EMBED_DIM {
            return Err(invalid(format!("embedding.weight is {}, expected [vocab, {EMBED_DIM}]", table.shape())));
        }
        let bits7 = seven_bit(ck)?;
        let dynamic = |prefix: &str, shape| -> Result<QLinear> {
            let weights = read_weights(ck, prefix, prefix, shape, (bits7, GemmOrder::Linear))?;
            Ok(QLinear { weights, input: None, relu: false })
        };
        let direction = |reverse: bool| -> Result<QLstmDirection> {
            let suffix = if reverse { "_reverse" } else { "" };
            Ok(QLstmDirection {
                input: dynamic(&format!("lstm.input{suffix}"), [4 * HIDDEN, EMBED_DIM])?,
                recurrent: dynamic(&format!("lstm.recurrent{suffix}"), [4 * HIDDEN, HIDDEN])?,
                reverse,
            })
        };
        Ok(QuantizedSentiment {
            embedding: Embedding { weight: Var::constant(table.clone()), padding_idx: Some(PAD_ID as usize) },
            directions: [direction(false)?, direction(true)?],
            fc: dynamic("fc", [1, 2 * HIDDEN])?,
        })
    }
}

fn invalid(msg: String) -> Error {
    Error::invalid(OP, msg)
}

impl QuantizedNet {
    /// The checkpoint of this network, with `metadata` (the source model's) carried over.
    pub fn to_checkpoint(&self, metadata: &BTreeMap<String, String>) -> Result<Checkpoint> {
        let mut ck = Checkpoint::new();
        ck.metadata = metadata.clone();
        let mut stages = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let (desc, weights, input) = match stage {
                Stage::Conv(c) => (
                    json!({"kind": "conv", "weight_shape": c.weight_shape, "stride": c.stride, "padding": c.padding, "relu": c.relu}),
                    Some(&c.weights),
                    Some(c.input),
                ),
                Stage::Linear(l) => (
                    json!({"kind": "linear", "in": l.weights.in_features, "out": l.weights.out_features, "relu": l.relu, "dynamic": l.input.is_none()}),
                    Some(&l.weights),
                    l.input,
                ),
                Stage::ReLU => (json!({"kind": "relu"}), None, None),
                Stage::MaxPool { kernel, stride } => {
                    (json!({"kind": "maxpool", "kernel": kernel, "stride": stride}), None, None)
                }
                Stage::Flatten => (json!({"kind": "flatten"}), None, None),
            };
            stages.push(desc);
            if let Some(w) = weights {
                let name = |t: &str| format!("stages.{i}.{t}");
                write_weights(&mut ck, &format!("stages.{i}"), w)?;
                if let Some(a) = input {
                    ck.insert(name("input_scale"), &Tensor::from_vec(vec![a.scale], [1])?);
                    ck.bytes.insert(name("input_zero_point"), ByteTensor::u8(vec![1], &[a.zero_point]));
                }
            }
        }
        ck.metadata.insert(QUANTIZED_KEY.into(), "int8".into());
        ck.metadata.insert(STAGES_KEY.into(), Value::Array(stages).to_string());
        write_activation_bits(&mut ck, self.seven_bit());
        Ok(ck)
    }

    /// Rebuilds the network from an int8 checkpoint (weights packed for this CPU).
    pub fn from_checkpoint(ck: &Checkpoint) -> Result<QuantizedNet> {
        if !is_quantized(ck) {
            return Err(invalid("not an int8 checkpoint (no `quantized = int8` metadata)".into()));
        }
        let text = ck.metadata.get(STAGES_KEY).ok_or_else(|| invalid(format!("no `{STAGES_KEY}` metadata")))?;
        let descs: Vec<Value> =
            serde_json::from_str(text).map_err(|e| invalid(format!("`{STAGES_KEY}` is not a JSON list: {e}")))?;
        let bits7 = seven_bit(ck)?;
        let stages = descs.iter().enumerate().map(|(i, d)| stage(ck, i, d, bits7)).collect::<Result<Vec<_>>>()?;
        Ok(QuantizedNet { stages })
    }
}

/// Field `key` of a stage description as a count.
fn count(d: &Value, i: usize, key: &str) -> Result<usize> {
    d[key].as_u64().map(|v| v as usize).ok_or_else(|| invalid(format!("stage {i}: `{key}` is missing or not a count")))
}

fn stage(ck: &Checkpoint, i: usize, d: &Value, seven_bit: bool) -> Result<Stage> {
    let relu = d["relu"].as_bool().unwrap_or(false);
    match d["kind"].as_str() {
        Some("conv") => {
            let shape: Vec<usize> = d["weight_shape"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_u64().map(|v| v as usize)).collect())
                .unwrap_or_default();
            let [o, c, kh, kw] = shape[..] else {
                return Err(invalid(format!("stage {i}: conv weight_shape {shape:?} is not [O, C, KH, KW]")));
            };
            let weights = weights(ck, i, [o, c * kh * kw], (seven_bit, GemmOrder::Conv))?;
            let input = input(ck, i)?
                .ok_or_else(|| invalid(format!("stage {i}: a conv needs its input scale and zero point")))?;
            let (stride, padding) = (count(d, i, "stride")?, count(d, i, "padding")?);
            Ok(Stage::Conv(QConv2d { weights, weight_shape: [o, c, kh, kw], stride, padding, input, relu }))
        }
        Some("linear") => {
            let shape = [count(d, i, "out")?, count(d, i, "in")?];
            let weights = weights(ck, i, shape, (seven_bit, GemmOrder::Linear))?;
            let input = input(ck, i)?;
            if input.is_none() != d["dynamic"].as_bool().unwrap_or(false) {
                return Err(invalid(format!("stage {i}: the input scale tensors disagree with `dynamic`")));
            }
            Ok(Stage::Linear(QLinear { weights, input, relu }))
        }
        Some("relu") => Ok(Stage::ReLU),
        Some("maxpool") => Ok(Stage::MaxPool { kernel: count(d, i, "kernel")?, stride: count(d, i, "stride")? }),
        Some("flatten") => Ok(Stage::Flatten),
        other => Err(invalid(format!("stage {i}: unknown kind {other:?}"))),
    }
}

fn weights(ck: &Checkpoint, i: usize, shape: [usize; 2], packing: (bool, GemmOrder)) -> Result<QWeights> {
    read_weights(ck, &format!("stages.{i}"), &format!("stage {i}"), shape, packing)
}

/// `{prefix}.weight` (I8 `[out, in]`), `{prefix}.weight_scale` and `{prefix}.bias` (F32).
pub(super) fn write_weights(ck: &mut Checkpoint, prefix: &str, w: &QWeights) -> Result<()> {
    ck.bytes.insert(format!("{prefix}.weight"), ByteTensor::i8(vec![w.out_features, w.in_features], &w.quant.values));
    ck.insert(format!("{prefix}.weight_scale"), &Tensor::from_vec(w.quant.scales.clone(), [w.quant.scales.len()])?);
    ck.insert(format!("{prefix}.bias"), &Tensor::from_vec(w.bias.clone(), [w.out_features])?);
    Ok(())
}

/// What [`write_weights`] wrote, checked to be `[out, in]` (errors name `what`).
pub(super) fn read_weights(
    ck: &Checkpoint,
    prefix: &str,
    what: &str,
    [out, inputs]: [usize; 2],
    (seven_bit, order): (bool, GemmOrder),
) -> Result<QWeights> {
    let name = |t: &str| format!("{prefix}.{t}");
    let missing = |e: crate::checkpoint::CheckpointError| invalid(format!("{what}: {e}"));
    let w = ck.get_bytes(&name("weight")).map_err(missing)?;
    if !w.signed || w.shape != [out, inputs] {
        return Err(invalid(format!(
            "{what}: weight is {:?} {}, expected I8 [{out}, {inputs}]",
            w.shape,
            if w.signed { "I8" } else { "U8" }
        )));
    }
    let scales = ck.get(&name("weight_scale")).map_err(missing)?.to_vec::<f32>()?;
    let bias = ck.get(&name("bias")).map_err(missing)?.to_vec::<f32>()?;
    if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
        return Err(invalid(format!("{what}: weight scale {bad} is not positive")));
    }
    QWeights::from_quantized(WeightQuant { values: w.as_i8(), scales }, Some(bias), [out, inputs], seven_bit, order)
}

fn input(ck: &Checkpoint, i: usize) -> Result<Option<ActQuant>> {
    let (scale, zp) =
        (ck.get(&format!("stages.{i}.input_scale")), ck.get_bytes(&format!("stages.{i}.input_zero_point")));
    match (scale, zp) {
        (Err(_), Err(_)) => Ok(None),
        (Ok(s), Ok(z)) => {
            let s = s.to_vec::<f32>()?;
            match (&s[..], &z.data[..], z.signed) {
                ([scale], [zero_point], false) if scale.is_finite() && *scale > 0.0 => {
                    Ok(Some(ActQuant { scale: *scale, zero_point: *zero_point }))
                }
                _ => Err(invalid(format!(
                    "stage {i}: input scale {s:?} / zero point {:?} are not one positive scale and one u8",
                    z.data
                ))),
            }
        }
        _ => Err(invalid(format!("stage {i}: input scale and zero point must both be present or both absent"))),
    }
}
