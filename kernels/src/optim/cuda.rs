//! Launch code for optim.cu: the fused in-place Adam / AdamW update (PyTorch's formula).

use crate::cuda::params::to_u32;
use crate::cuda::source::OPTIM;
use crate::cuda::{access, need, Buf, Launch, Runner};
use crate::kernel_params;
use crate::optim::AdamParams as Hyper;
use kiln_tensor::{DType, Error, Result, Tensor};

kernel_params! {
    pub struct AdamParams {
        pub p: u64, pub g: u64, pub m: u64, pub v: u64, pub n: u32, pub decoupled: u32,
        pub step_size: f32, pub bc2_sqrt: f32, pub beta1: f32, pub beta2: f32, pub eps: f32, pub lr_wd: f32, pub wd: f32,
        pub pad: u32,
    }
}

/// One step (`step` counts from 1) over `n` contiguous elements of param, grad, m and v.
/// `vec4: None` picks float4 when all four are 16-byte aligned.
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    r: &Runner,
    param: &mut Buf<f32>,
    grad: &Buf<f32>,
    m: &mut Buf<f32>,
    v: &mut Buf<f32>,
    n: usize,
    hp: Hyper,
    step: u64,
    vec4: Option<bool>,
) -> Result<()> {
    const OP: &str = "adam_step";
    r.check(&[&*param, grad, &*m, &*v])?;
    if step == 0 {
        return Err(Error::invalid(OP, "step counts from 1"));
    }
    for (what, b) in [("param", &*param), ("grad", grad), ("m", &*m), ("v", &*v)] {
        need(OP, what, b, n)?;
    }
    let (bc1, bc2_sqrt) = hp.bias_corrections(step);
    let p = AdamParams {
        p: param.addr_mut(0)?,
        g: grad.addr(0)?,
        m: m.addr_mut(0)?,
        v: v.addr_mut(0)?,
        n: to_u32(OP, "length", n)?,
        decoupled: hp.decoupled as u32,
        step_size: (hp.lr / bc1) as f32,
        bc2_sqrt: bc2_sqrt as f32,
        beta1: hp.beta1 as f32,
        beta2: hp.beta2 as f32,
        eps: hp.eps as f32,
        lr_wd: (hp.lr * hp.weight_decay) as f32,
        wd: hp.weight_decay as f32,
        pad: 0,
    };
    let aligned = [p.p, p.g, p.m, p.v].iter().all(|a| a % 16 == 0);
    let use_vec4 = match vec4 {
        None => aligned,
        Some(true) if !aligned => return Err(Error::invalid(OP, "float4 path needs 16-byte-aligned buffers")),
        Some(w) => w,
    };
    let (kernel, items) = if use_vec4 { ("adam_step_vec4_f32", n.div_ceil(4)) } else { ("adam_step_f32", n) };
    // SAFETY: the four buffers hold n elements.
    unsafe { r.launch(&OPTIM, kernel, Launch::linear(items, 256), &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------

/// One in-place Adam/AdamW step on device tensors (the caller has checked shapes, dtypes, devices
/// and that param, m and v each own a whole storage of their own).
pub fn adam_update_tensor(param: &Tensor, grad: &Tensor, m: &Tensor, v: &Tensor, hp: Hyper, step: u64) -> Result<()> {
    const OP: &str = "adam_update";
    param.expect_dtype(DType::F32, OP)?;
    let g = access::from_start(grad)?;
    let n = param.elem_count();
    access::read_f32(OP, &[&g], |r, gv| {
        access::write_f32(OP, param, |p| {
            access::write_f32(OP, m, |mb| {
                access::write_f32(OP, v, |vb| adam_step(r, p, gv[0].0, mb, vb, n, hp, step, None))
            })
        })
    })
}
