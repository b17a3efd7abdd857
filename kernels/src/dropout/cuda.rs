//! Launch code for dropout.cu: inverted dropout whose mask is a pure function of (seed, index)
//! (splitmix64), so the backward can recompute it. The rule, and its Rust twin the CPU runs,
//! is `crate::dropout::keep_scale`; [`mask_tensor`] makes a model's mask on the device.

use crate::cuda::params::to_u32;
use crate::cuda::source::DROPOUT;
use crate::cuda::{access, storage::runner_for};
use crate::cuda::{need, Buf, Launch, Runner};
use crate::kernel_params;
use kiln_tensor::{Device, Error, Result, Shape, Tensor};

kernel_params! {
    pub struct DropoutParams { pub x: u64, pub y: u64, pub mask: u64, pub seed: u64, pub n: u32, pub p: f32 }
}

fn check_p(op: &'static str, p: f32) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::invalid(op, format!("drop probability {p} is not in [0, 1]")));
    }
    Ok(())
}

/// `y = x * mask(seed)` over `n` contiguous elements, or the mask itself when `x` is `None`;
/// also the mask into `mask` when given.
pub fn forward(
    r: &Runner,
    x: Option<&Buf<f32>>,
    n: usize,
    seed: u64,
    p: f32,
    y: &mut Buf<f32>,
    mask: Option<&mut Buf<f32>>,
) -> Result<()> {
    const OP: &str = "dropout";
    check_p(OP, p)?;
    r.check(&[&*y])?;
    need(OP, "output", y, n)?;
    let x = match x {
        Some(x) => {
            r.check(&[x])?;
            need(OP, "input", x, n)?;
            x.addr(0)?
        }
        None => 0,
    };
    let mask = match mask {
        Some(m) => {
            r.check(&[&*m])?;
            need(OP, "mask", m, n)?;
            m.addr_mut(0)?
        }
        None => 0,
    };
    let prm = DropoutParams { x, y: y.addr_mut(0)?, mask, seed, n: to_u32(OP, "length", n)?, p };
    // SAFETY: all buffers hold n elements; a null x or mask is skipped by the kernel.
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

/// The dropout mask of `shape` under `seed` as a contiguous f32 tensor on `device`, made there:
/// the values of `crate::dropout::reference` (same hash, same index order), no host draw and no
/// upload.
pub fn mask_tensor(device: Device, shape: &Shape, seed: u64, p: f32) -> Result<Tensor> {
    let r = runner_for(device)?;
    let n = shape.elem_count();
    let mut mask = r.zeros::<f32>(n)?;
    if n > 0 {
        forward(&r, None, n, seed, p, &mut mask, None)?;
    }
    access::f32_tensor(&r, mask, shape.clone())
}
