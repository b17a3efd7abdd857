//! Launch code for dropout.cu: inverted dropout whose mask is a pure function of (seed, index)
//! (splitmix64), so the backward recomputes it. [`keep_scale`] is the same function in Rust.

use crate::cuda::params::to_u32;
use crate::cuda::source::DROPOUT;
use crate::cuda::{need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::{Error, Result};

kernel_params! {
    pub struct DropoutParams { pub x: u64, pub y: u64, pub mask: u64, pub seed: u64, pub n: u32, pub p: f32 }
}

fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The mask value of element `i`: 0 (dropped) or `1 / (1 - p)`, bit-for-bit what the kernel computes.
pub fn keep_scale(seed: u64, i: u32, p: f32) -> f32 {
    let h = splitmix64(seed.wrapping_add((u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let u = (h >> 40) as u32 as f32 * (1.0 / 16_777_216.0);
    if p < 1.0 && u >= p {
        1.0 / (1.0 - p)
    } else {
        0.0
    }
}

fn check_p(op: &'static str, p: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::invalid(op, format!("drop probability {p} is not in [0, 1]")));
    }
    Ok(())
}

/// `y = x * mask(seed)` over `n` contiguous elements; the mask itself into `mask` when given.
pub fn forward(
    r: &Runner,
    x: &Buf<f32>,
    n: usize,
    seed: u64,
    p: f32,
    y: &mut Buf<f32>,
    mask: Option<&mut Buf<f32>>,
) -> Result<()> {
    const OP: &str = "dropout";
    check_p(OP, p)?;
    r.check(&[x, y])?;
    need(OP, "input", x, n)?;
    need(OP, "output", y, n)?;
    let mask = match mask {
        Some(m) => {
            r.check(&[&*m])?;
            need(OP, "mask", m, n)?;
            m.addr_mut(0)?
        }
        None => 0,
    };
    let prm = DropoutParams { x: x.addr(0)?, y: y.addr_mut(0)?, mask, seed, n: to_u32(OP, "length", n)?, p };
    // SAFETY: all buffers hold n elements; a null mask is skipped by the kernel.
    unsafe { r.launch(&DROPOUT, "dropout_forward_f32", Launch::linear(n, 256), &prm) }
}

/// `dx = g * mask(seed)`, the mask recomputed.
pub fn backward(r: &Runner, g: &Buf<f32>, n: usize, seed: u64, p: f32, dx: &mut Buf<f32>) -> Result<()> {
    const OP: &str = "dropout_backward";
    check_p(OP, p)?;
    r.check(&[g, dx])?;
    need(OP, "gradient", g, n)?;
    need(OP, "output", dx, n)?;
    let prm = DropoutParams { x: g.addr(0)?, y: dx.addr_mut(0)?, mask: 0, seed, n: to_u32(OP, "length", n)?, p };
    // SAFETY: as above.
    unsafe { r.launch(&DROPOUT, "dropout_backward_f32", Launch::linear(n, 256), &prm) }
}
