//! LSTM, batch-first, uni- or bidirectional, multi-layer, with PyTorch's parameter names and gate
//! order (i, f, g, o): `weight_ih_l{k}[_reverse]` [4H, in], `weight_hh_l{k}[_reverse]` [4H, H] and
//! the two biases. The input projection of all time steps is one matmul; the recurrence (each step
//! adds `h W_hh^T` and updates the cell) is one fused op per direction (`lstm_sequence`). Optional
//! per-sequence lengths give packed-sequence behaviour: steps past a sequence's end leave its state
//! unchanged and output zeros, so the reverse direction starts at the last real token rather than
//! reading the padding first.

use super::{init, join_name, Module};
use kiln_autograd::{lstm_sequence, LstmSteps, Var};
use kiln_tensor::{Device, Error, Result, Rng, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LstmConfig {
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
}

struct Direction {
    w_ih: Var,
    w_hh: Var,
    b_ih: Var,
    b_hh: Var,
}

pub struct Lstm {
    pub config: LstmConfig,
    layers: Vec<Vec<Direction>>,
}

/// All outputs [B, T, H * directions] and the final states [layers * directions, B, H].
pub struct LstmOutput {
    pub output: Var,
    pub h_n: Var,
    pub c_n: Var,
}

impl Lstm {
    pub fn new(config: LstmConfig, rng: &mut Rng) -> Lstm {
        let h = config.hidden_size;
        let dirs = if config.bidirectional { 2 } else { 1 };
        let bound = 1.0 / (h.max(1) as f64).sqrt();
        let layers = (0..config.num_layers)
            .map(|layer| {
                let input = if layer == 0 { config.input_size } else { h * dirs };
                (0..dirs)
                    .map(|_| Direction {
                        w_ih: init::uniform([4 * h, input], bound, rng),
                        w_hh: init::uniform([4 * h, h], bound, rng),
                        b_ih: init::uniform([4 * h], bound, rng),
                        b_hh: init::uniform([4 * h], bound, rng),
                    })
                    .collect()
            })
            .collect();
        Lstm { config, layers }
    }

    /// Runs every layer over `x` [B, T, input]; `lengths` (one per batch row, 1..=T) masks padding.
    pub fn forward_with_state(&self, x: &Var, lengths: Option<&[usize]>) -> Result<LstmOutput> {
        let dims = x.dims().to_vec();
        if dims.len() != 3 || dims[2] != self.config.input_size {
            return Err(Error::invalid(
                "Lstm",
                format!("input of shape {:?} is not [batch, time, {}]", dims, self.config.input_size),
            ));
        }
        let (b, t) = (dims[0], dims[1]);
        if t == 0 {
            // PyTorch's message too: there is no last state of an empty sequence.
            return Err(Error::invalid("Lstm", format!("expected a sequence length above 0, got input {dims:?}")));
        }
        let mask = match lengths {
            Some(l) => Some(padding_mask(l, b, t, x.device())?),
            None => None,
        };
        let padding = lengths.zip(mask.as_ref());
        let mut input = x.clone();
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for layer in &self.layers {
            let mut outs = Vec::new();
            for (d, dir) in layer.iter().enumerate() {
                let (out, h, c) = run_direction(dir, &input, d == 1, padding)?;
                outs.push(out);
                hs.push(h);
                cs.push(c);
            }
            input =
                if outs.len() == 1 { outs.remove(0) } else { kiln_autograd::cat(&outs.iter().collect::<Vec<_>>(), 2)? };
        }
        let h_n = kiln_autograd::stack(&hs.iter().collect::<Vec<_>>(), 0)?;
        let c_n = kiln_autograd::stack(&cs.iter().collect::<Vec<_>>(), 0)?;
        Ok(LstmOutput { output: input, h_n, c_n })
    }
}

/// A [B, T, 1] f32 mask: 1 where a step is inside its sequence (zeroes the outputs at padding).
fn padding_mask(lengths: &[usize], b: usize, t: usize, device: Device) -> Result<Var> {
    if lengths.len() != b || lengths.iter().any(|&l| l == 0 || l > t) {
        return Err(Error::invalid(
            "Lstm",
            format!("lengths {lengths:?} do not fit a batch of {b} sequences of {t} steps"),
        ));
    }
    let m: Vec<f32> = lengths.iter().flat_map(|&l| (0..t).map(move |s| if s < l { 1.0 } else { 0.0 })).collect();
    Ok(Var::constant(Tensor::from_vec(m, [b, t, 1])?.to_device(device)?))
}

/// One direction over the whole sequence: (outputs [B, T, H], final h [B, H], final c [B, H]).
/// The input projection of every step is one matmul; the recurrence is one fused op.
fn run_direction(
    dir: &Direction,
    x: &Var,
    reverse: bool,
    lengths: Option<(&[usize], &Var)>,
) -> Result<(Var, Var, Var)> {
    let (b, t, input) = (x.dims()[0], x.dims()[1], x.dims()[2]);
    let hidden = dir.w_hh.dims()[1];
    let proj = x.reshape([b * t, input])?.matmul(&dir.w_ih.t()?)?.add(&dir.b_ih.add(&dir.b_hh)?)?.reshape([
        b,
        t,
        4 * hidden,
    ])?;
    let steps = LstmSteps { lengths: lengths.map(|(l, _)| l.to_vec()), reverse };
    let states = lstm_sequence(&proj, &dir.w_hh, steps)?;
    // The state after the last processed step; padding froze it at each row's last real token.
    let last = states.narrow(1, if reverse { 0 } else { t - 1 }, 1)?.reshape([b, 2 * hidden])?;
    let (h, c) = (last.narrow(1, 0, hidden)?, last.narrow(1, hidden, hidden)?);
    // Masking the dense states (a column broadcast) before narrowing to `h` keeps the multiply on
    // the contiguous fast path; masking the strided `h` view would take the reference loop.
    let out = match lengths {
        Some((_, mask)) => states.mul(mask)?.narrow(2, 0, hidden)?,
        None => states.narrow(2, 0, hidden)?,
    };
    Ok((out, h, c))
}

impl Module for Lstm {
    /// All outputs; use [`Lstm::forward_with_state`] for the final states or padding masks.
    fn forward(&self, x: &Var) -> Result<Var> {
        Ok(self.forward_with_state(x, None)?.output)
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        for (k, layer) in self.layers.iter().enumerate() {
            for (d, dir) in layer.iter().enumerate() {
                let suffix = if d == 1 { "_reverse" } else { "" };
                f(join_name(prefix, &format!("weight_ih_l{k}{suffix}")), &dir.w_ih);
                f(join_name(prefix, &format!("weight_hh_l{k}{suffix}")), &dir.w_hh);
                f(join_name(prefix, &format!("bias_ih_l{k}{suffix}")), &dir.b_ih);
                f(join_name(prefix, &format!("bias_hh_l{k}{suffix}")), &dir.b_hh);
            }
        }
    }
}
