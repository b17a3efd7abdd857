//! The LSTM recurrence as plain loops: one row, one step, one gate at a time, in any float type.
//! The oracle `cpu.rs` is tested against and the path f64 gradient checks take. Must not be
//! clever: every formula is written out exactly as the module docs state it.

use super::{BackwardArgs, Dims, Steps};
use kiln_tensor::Float;

fn sigmoid<T: Float>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

/// `(states [B, T, 2H], gates [B, T, 4H])`, see [`super::forward`].
pub fn forward<T: Float>(proj: &[T], w_hh: &[T], d: Dims, steps: &Steps) -> (Vec<T>, Vec<T>) {
    let Dims { batch, steps: t_len, hidden: h } = d;
    let mut states = vec![T::ZERO; batch * t_len * 2 * h];
    let mut gates = vec![T::ZERO; batch * t_len * 4 * h];
    for b in 0..batch {
        let mut hs = vec![T::ZERO; h];
        let mut cs = vec![T::ZERO; h];
        for i in 0..t_len {
            let s = steps.step(i, t_len);
            let row = b * t_len + s;
            if steps.active(b, s) {
                let pre: Vec<T> = (0..4 * h)
                    .map(|r| {
                        let mut a = proj[row * 4 * h + r];
                        for k in 0..h {
                            a += hs[k] * w_hh[r * h + k];
                        }
                        a
                    })
                    .collect();
                let act = &mut gates[row * 4 * h..][..4 * h];
                for j in 0..h {
                    let (ig, fg, gg, og) =
                        (sigmoid(pre[j]), sigmoid(pre[h + j]), pre[2 * h + j].tanh(), sigmoid(pre[3 * h + j]));
                    cs[j] = fg * cs[j] + ig * gg;
                    hs[j] = og * cs[j].tanh();
                    (act[j], act[h + j], act[2 * h + j], act[3 * h + j]) = (ig, fg, gg, og);
                }
            }
            states[row * 2 * h..][..h].copy_from_slice(&hs);
            states[row * 2 * h + h..][..h].copy_from_slice(&cs);
        }
    }
    (states, gates)
}

/// `(d proj [B, T, 4H], d w_hh [4H, H])`, see [`super::backward`]. Walks each row's steps in
/// reverse processing order carrying `dh`, `dc` (the gradient reaching the state after the step).
pub fn backward<T: Float>(a: &BackwardArgs<T>, d: Dims, steps: &Steps) -> (Vec<T>, Vec<T>) {
    let Dims { batch, steps: t_len, hidden: h } = d;
    let mut dproj = vec![T::ZERO; batch * t_len * 4 * h];
    let mut dw = vec![T::ZERO; 4 * h * h];
    let zeros = vec![T::ZERO; 2 * h];
    for b in 0..batch {
        let mut dh = vec![T::ZERO; h];
        let mut dc = vec![T::ZERO; h];
        for i in (0..t_len).rev() {
            let s = steps.step(i, t_len);
            let row = b * t_len + s;
            for j in 0..h {
                dh[j] += a.grad[row * 2 * h + j];
                dc[j] += a.grad[row * 2 * h + h + j];
            }
            if !steps.active(b, s) {
                continue; // the state passed through unchanged, and so does its gradient
            }
            let prev =
                if i == 0 { &zeros[..] } else { &a.states[(b * t_len + steps.step(i - 1, t_len)) * 2 * h..][..2 * h] };
            let act = &a.gates[row * 4 * h..][..4 * h];
            let da = &mut dproj[row * 4 * h..][..4 * h];
            for j in 0..h {
                let (ig, fg, gg, og) = (act[j], act[h + j], act[2 * h + j], act[3 * h + j]);
                let tc = a.states[row * 2 * h + h + j].tanh();
                let dcell = dc[j] + dh[j] * og * (T::ONE - tc * tc);
                da[j] = dcell * gg * ig * (T::ONE - ig);
                da[h + j] = dcell * prev[h + j] * fg * (T::ONE - fg);
                da[2 * h + j] = dcell * ig * (T::ONE - gg * gg);
                da[3 * h + j] = dh[j] * tc * og * (T::ONE - og);
                dc[j] = dcell * fg;
            }
            for (k, dhk) in dh.iter_mut().enumerate() {
                let mut acc = T::ZERO;
                for r in 0..4 * h {
                    acc += da[r] * a.w_hh[r * h + k];
                    dw[r * h + k] += da[r] * prev[k];
                }
                *dhk = acc;
            }
        }
    }
    (dproj, dw)
}
