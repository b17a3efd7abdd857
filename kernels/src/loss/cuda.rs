//! Launch code for loss.cu: fused cross-entropy (log-softmax + NLL per row, saving the log-sum-exp
//! for the backward) and BCE with logits, each mean-reduced by reduce.cu's kernel, as
//! loss/reference.rs defines them (PyTorch's mean reduction).

use crate::cuda::reduce::{reduce_rows, row_launch, Version, BLOCK};
use crate::cuda::source::LOSS;
use crate::cuda::{access, need, Buf, Launch, Rows, Runner};
use crate::elementwise::BinaryOp;
use crate::kernel_params;
use crate::reduce::reference::ReduceOp;
use kiln_tensor::{DType, Result, Tensor};

kernel_params! {
    pub struct CrossEntropyParams {
        pub logits: u64, pub targets: u64, pub loss: u64, pub lse: u64, pub rows: u32, pub classes: u32, pub ld: u32, pub pad: u32,
    }
}
kernel_params! {
    pub struct CrossEntropyBackwardParams {
        pub logits: u64, pub targets: u64, pub lse: u64, pub dx: u64, pub rows: u32, pub classes: u32, pub ld: u32, pub scale: f32,
    }
}
kernel_params! {
    pub struct BceLogitsParams { pub x: u64, pub y: u64, pub out: u64, pub n: u32, pub scale: f32 }
}

/// Per-row losses `lse - x[target]` into `loss` and the log-sum-exp of each row into `lse`.
/// A target outside `0..classes` gives that row a NaN loss.
pub fn cross_entropy_rows(
    r: &Runner,
    logits: (&Buf<f32>, Rows),
    targets: &Buf<i64>,
    loss: &mut Buf<f32>,
    lse: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "cross_entropy";
    r.check(&[logits.0, loss, lse])?;
    r.check(&[targets])?;
    let x = logits.1;
    x.check(OP, logits.0)?;
    need(OP, "targets", targets, x.rows)?;
    need(OP, "loss", loss, x.rows)?;
    need(OP, "lse", lse, x.rows)?;
    if x.rows == 0 {
        return Ok(());
    }
    let p = CrossEntropyParams {
        logits: logits.0.addr(x.offset)?,
        targets: targets.addr(0)?,
        loss: loss.addr_mut(0)?,
        lse: lse.addr_mut(0)?,
        rows: x.rows as u32,
        classes: x.n as u32,
        ld: x.ld as u32,
        pad: 0,
    };
    // SAFETY: every buffer was checked against the rows it is read or written at.
    unsafe { r.launch(&LOSS, "ce_forward_f32", row_launch(x.rows, BLOCK), &p) }
}

/// The mean cross-entropy as a 1-element buffer; `lse` receives what the backward needs.
pub fn cross_entropy_mean(
    r: &Runner,
    logits: (&Buf<f32>, Rows),
    targets: &Buf<i64>,
    lse: &mut Buf<f32>,
) -> Result<Buf<f32>> {
    let rows = logits.1.rows;
    let mut per_row = r.output::<f32>(rows)?;
    cross_entropy_rows(r, logits, targets, &mut per_row, lse)?;
    let mut mean = r.output::<f32>(1)?;
    reduce_rows(r, ReduceOp::Mean, (&per_row, Rows::contiguous(1, rows)), &mut mean, Version::WarpShuffle)?;
    Ok(mean)
}

/// `dx = (softmax(x) - onehot(target)) * grad / rows`, contiguous `[rows, classes]`.
pub fn cross_entropy_backward(
    r: &Runner,
    logits: (&Buf<f32>, Rows),
    targets: &Buf<i64>,
    lse: &Buf<f32>,
    grad: f32,
    dx: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "cross_entropy_backward";
    r.check(&[logits.0, lse, dx])?;
    r.check(&[targets])?;
    let x = logits.1;
    x.check(OP, logits.0)?;
    need(OP, "targets", targets, x.rows)?;
    need(OP, "lse", lse, x.rows)?;
    need(OP, "dx", dx, x.rows * x.n)?;
    let p = CrossEntropyBackwardParams {
        logits: logits.0.addr(x.offset)?,
        targets: targets.addr(0)?,
        lse: lse.addr(0)?,
        dx: dx.addr_mut(0)?,
        rows: x.rows as u32,
        classes: x.n as u32,
        ld: x.ld as u32,
        scale: grad / x.rows as f32,
    };
    // SAFETY: as above.
    unsafe { r.launch(&LOSS, "ce_backward_f32", Launch::linear(x.rows * x.n, 256), &p) }
}

fn bce_params(
    op: &'static str,
    x: &Buf<f32>,
    y: &Buf<f32>,
    n: usize,
    out: &mut Buf<f32>,
    scale: f32,
) -> Result<BceLogitsParams> {
    need(op, "logits", x, n)?;
    need(op, "targets", y, n)?;
    need(op, "output", out, n)?;
    let n32 = crate::cuda::params::to_u32(op, "element count", n)?;
    Ok(BceLogitsParams { x: x.addr(0)?, y: y.addr(0)?, out: out.addr_mut(0)?, n: n32, scale })
}

/// The mean of `max(x, 0) - x*y + log1p(exp(-|x|))` over `n` contiguous elements, as a 1-element buffer.
pub fn bce_with_logits_mean(r: &Runner, x: &Buf<f32>, y: &Buf<f32>, n: usize) -> Result<Buf<f32>> {
    r.check(&[x, y])?;
    let mut per = r.output::<f32>(n)?;
    let p = bce_params("bce_with_logits", x, y, n, &mut per, 0.0)?;
    // SAFETY: bce_params checked all three buffers hold n elements.
    unsafe { r.launch(&LOSS, "bce_logits_forward_f32", Launch::linear(n, 256), &p)? };
    let mut mean = r.output::<f32>(1)?;
    reduce_rows(r, ReduceOp::Mean, (&per, Rows::contiguous(1, n)), &mut mean, Version::WarpShuffle)?;
    Ok(mean)
}

/// `dx = (sigmoid(x) - y) * grad / n`.
pub fn bce_with_logits_backward(
    r: &Runner,
    x: &Buf<f32>,
    y: &Buf<f32>,
    n: usize,
    grad: f32,
    dx: &mut Buf<f32>,
) -> Result<()> {
    r.check(&[x, y, dx])?;
    let p = bce_params("bce_with_logits_backward", x, y, n, dx, grad / n as f32)?;
    // SAFETY: as above.
    unsafe { r.launch(&LOSS, "bce_logits_backward_f32", Launch::linear(n, 256), &p) }
}

// ---- tensors on a CUDA device ----------------------------------------------------------------
// The backward functions compute with an upstream gradient of 1 and then multiply by the (device,
// one-element) gradient tensor: one extra small elementwise pass instead of a device -> host sync.

fn ce_inputs(logits: &Tensor, targets: &Tensor) -> Result<(Tensor, Tensor, Rows)> {
    const OP: &str = "cross_entropy";
    logits.expect_dtype(DType::F32, OP)?;
    targets.expect_dtype(DType::I64, "cross_entropy (targets on a CUDA device)")?;
    let logits = match Rows::from_layout(OP, logits.layout()) {
        Ok(_) => logits.clone(),
        Err(_) => logits.contiguous()?,
    };
    let rows = Rows::from_layout(OP, logits.layout())?;
    Ok((logits, access::from_start(targets)?, rows))
}

/// Mean cross-entropy of `[N, C]` logits against i64 targets, on a CUDA device. A target outside
/// `0..C` makes the loss NaN (the kernel never reads out of bounds).
pub fn cross_entropy_tensor(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let (lg, tg, rows) = ce_inputs(logits, targets)?;
    access::read("cross_entropy", &[&lg, &tg], |r, s| {
        let mut lse = r.output(rows.rows)?;
        let mean = cross_entropy_mean(r, (s[0].f32("cross_entropy")?, rows), s[1].i64("cross_entropy")?, &mut lse)?;
        access::f32_tensor(r, mean, ())
    })
}

/// Gradient of [`cross_entropy_tensor`] w.r.t. the logits.
pub fn cross_entropy_backward_tensor(logits: &Tensor, targets: &Tensor, grad: &Tensor) -> Result<Tensor> {
    const OP: &str = "cross_entropy_backward";
    let (lg, tg, rows) = ce_inputs(logits, targets)?;
    let dx = access::read(OP, &[&lg, &tg], |r, s| {
        let (x, t) = ((s[0].f32(OP)?, rows), s[1].i64(OP)?);
        let (mut per_row, mut lse) = (r.output(rows.rows)?, r.output(rows.rows)?);
        cross_entropy_rows(r, x, t, &mut per_row, &mut lse)?;
        let mut dx = r.output(rows.rows * rows.n)?;
        cross_entropy_backward(r, x, t, &lse, 1.0, &mut dx)?;
        access::f32_tensor(r, dx, logits.shape())
    })?;
    crate::elementwise::binary(BinaryOp::Mul, &dx, grad)
}

/// Mean BCE-with-logits of same-shaped `x` and `y` on a CUDA device.
pub fn bce_with_logits_tensor(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    const OP: &str = "bce_with_logits";
    x.expect_dtype(DType::F32, OP)?;
    let (xd, yd) = (access::from_start(x)?, access::from_start(y)?);
    access::read_f32(OP, &[&xd, &yd], |r, v| {
        let mean = bce_with_logits_mean(r, v[0].0, v[1].0, x.elem_count())?;
        access::f32_tensor(r, mean, ())
    })
}

/// Gradient of [`bce_with_logits_tensor`] w.r.t. `x`.
pub fn bce_with_logits_backward_tensor(x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
    const OP: &str = "bce_with_logits_backward";
    x.expect_dtype(DType::F32, OP)?;
    let (xd, yd) = (access::from_start(x)?, access::from_start(y)?);
    let dx = access::read_f32(OP, &[&xd, &yd], |r, v| {
        let mut dx = r.output(x.elem_count())?;
        bce_with_logits_backward(r, v[0].0, v[1].0, x.elem_count(), 1.0, &mut dx)?;
        access::f32_tensor(r, dx, x.shape())
    })?;
    crate::elementwise::binary(BinaryOp::Mul, &dx, grad)
}
