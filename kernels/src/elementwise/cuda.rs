//! Launch code for elementwise.cu: strided unary/binary maps (any layout, broadcast included),
//! their float4 twins for contiguous aligned operands, and the backward maps. Layouts come already
//! broadcast to the output shape, as for `reference.rs`; outputs are contiguous.

use crate::cuda::params::{to_u32, Strided};
use crate::cuda::shared_defs::{BinaryCode as B, CompareCode as C, UnaryCode as U};
use crate::cuda::source::ELEMENTWISE;
use crate::cuda::{access, need, Buf, Launch, Runner};
use crate::elementwise::{BinaryOp, CompareOp, UnaryOp};
use crate::kernel_params;
use kiln_tensor::{DType, Error, Layout, Result, Shape, Tensor};

/// A read-only operand: its buffer and the layout (shape, strides, offset) to read it through.
pub type Operand<'a> = (&'a Buf<f32>, &'a Layout);

/// Which kernel version runs: `Auto` takes float4 when every operand allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    Auto,
    /// v1: strided indexing.
    Strided,
    /// v2: float4, contiguous and 16-byte-aligned operands only.
    Vec4,
}

const BLOCK: u32 = 256;

kernel_params! {
    pub struct UnaryParams { pub x: u64, pub y: u64, pub n: u32, pub op: u32, pub a0: f32, pub a1: f32, pub s: Strided }
}
kernel_params! {
    pub struct BinaryParams { pub a: u64, pub b: u64, pub out: u64, pub n: u32, pub op: u32, pub s: Strided }
}
kernel_params! {
    pub struct WhereParams { pub cond: u64, pub a: u64, pub b: u64, pub out: u64, pub n: u32, pub s: Strided }
}
kernel_params! {
    pub struct UnaryBackwardParams {
        pub x: u64, pub y: u64, pub g: u64, pub dx: u64, pub n: u32, pub op: u32, pub a0: f32, pub a1: f32, pub s: Strided,
    }
}
kernel_params! {
    pub struct BinaryBackwardParams {
        pub a: u64, pub b: u64, pub g: u64, pub da: u64, pub db: u64, pub n: u32, pub op: u32, pub s: Strided,
    }
}

/// The op's [`UnaryCode`](U) with its two scalar arguments; no op is the plain copy.
fn unary_code(op: Option<UnaryOp>) -> (u32, f32, f32) {
    match op {
        None => (U::Copy.code(), 0.0, 0.0),
        Some(UnaryOp::Neg) => (U::Neg.code(), 0.0, 0.0),
        Some(UnaryOp::Exp) => (U::Exp.code(), 0.0, 0.0),
        Some(UnaryOp::Log) => (U::Log.code(), 0.0, 0.0),
        Some(UnaryOp::Sqrt) => (U::Sqrt.code(), 0.0, 0.0),
        Some(UnaryOp::Abs) => (U::Abs.code(), 0.0, 0.0),
        Some(UnaryOp::Relu) => (U::Relu.code(), 0.0, 0.0),
        Some(UnaryOp::LeakyRelu(s)) => (U::Leaky.code(), s as f32, 0.0),
        Some(UnaryOp::Sigmoid) => (U::Sigmoid.code(), 0.0, 0.0),
        Some(UnaryOp::Tanh) => (U::Tanh.code(), 0.0, 0.0),
        Some(UnaryOp::Affine { mul, add }) => (U::Affine.code(), mul as f32, add as f32),
        Some(UnaryOp::PowScalar(e)) => (U::Pow.code(), e as f32, 0.0),
    }
}

/// The op's [`BinaryCode`](B).
fn binary_code(op: BinaryOp) -> u32 {
    match op {
        BinaryOp::Add => B::Add.code(),
        BinaryOp::Sub => B::Sub.code(),
        BinaryOp::Mul => B::Mul.code(),
        BinaryOp::Div => B::Div.code(),
        BinaryOp::Pow => B::Pow.code(),
        BinaryOp::Maximum => B::Max.code(),
        BinaryOp::Minimum => B::Min.code(),
    }
}

/// The op's [`CompareCode`](C).
fn compare_code(op: CompareOp) -> u32 {
    match op {
        CompareOp::Eq => C::Eq.code(),
        CompareOp::Ne => C::Ne.code(),
        CompareOp::Lt => C::Lt.code(),
        CompareOp::Le => C::Le.code(),
        CompareOp::Gt => C::Gt.code(),
        CompareOp::Ge => C::Ge.code(),
    }
}

/// Checks operands share a shape and fit their buffers; returns the strides and element count.
fn prepare(op: &'static str, operands: &[Operand<'_>], outs: &[&Buf<f32>]) -> Result<(Strided, usize)> {
    let shape = operands[0].1.shape();
    for (buf, l) in operands {
        if l.shape() != shape {
            return Err(Error::ShapeMismatch { op, lhs: shape.clone(), rhs: l.shape().clone() });
        }
        need(op, "input", buf, l.storage_span())?;
    }
    let n = shape.elem_count();
    to_u32(op, "element count", n)?;
    for o in outs {
        need(op, "output", o, n)?;
    }
    let strides: Vec<&[usize]> = operands.iter().map(|(_, l)| l.strides()).collect();
    Ok((Strided::new(op, shape.dims(), &strides)?, n))
}

fn use_vec4(op: &'static str, path: Path, s: &Strided, operands: usize, addrs: &[u64]) -> Result<bool> {
    let ok = (0..operands).all(|o| s.is_contiguous(o)) && addrs.iter().all(|a| a % 16 == 0);
    match path {
        Path::Strided => Ok(false),
        Path::Auto => Ok(ok),
        Path::Vec4 if ok => Ok(true),
        Path::Vec4 => Err(Error::invalid(op, "the float4 kernel needs contiguous, 16-byte-aligned operands")),
    }
}

/// `out = op(x)`, or a plain strided -> contiguous copy when `op` is None.
pub fn unary(r: &Runner, op: Option<UnaryOp>, x: Operand<'_>, out: &mut Buf<f32>, path: Path) -> Result<()> {
    unary_at(r, op, x, out, 0, path)
}

/// [`unary`] writing its contiguous output from element `at` of `out` on (how `cat` places parts).
pub fn unary_at(
    r: &Runner,
    op: Option<UnaryOp>,
    x: Operand<'_>,
    out: &mut Buf<f32>,
    at: usize,
    path: Path,
) -> Result<()> {
    let name = op.map_or("copy", UnaryOp::name);
    r.check(&[x.0, out])?;
    let (s, n) = prepare(name, &[x], &[])?;
    need(name, "output", out, at + n)?;
    let (code, a0, a1) = unary_code(op);
    let p = UnaryParams { x: x.0.addr(x.1.offset())?, y: out.addr_mut(at)?, n: n as u32, op: code, a0, a1, s };
    let kernel = if use_vec4(name, path, &s, 1, &[p.x, p.y])? { "ew_unary_vec4_f32" } else { "ew_unary_f32" };
    let items = if kernel == "ew_unary_f32" { n } else { n.div_ceil(4) };
    // SAFETY: prepare() checked both buffers cover every element the kernel touches.
    unsafe { r.launch(&ELEMENTWISE, kernel, Launch::linear(items, BLOCK), &p) }
}

/// The parameters of a two-operand kernel (the binary maps and the comparison) from checked
/// operands, an output address and `prepare`'s result.
fn binary_params(a: Operand<'_>, b: Operand<'_>, out: u64, op: u32, (s, n): (Strided, usize)) -> Result<BinaryParams> {
    Ok(BinaryParams { a: a.0.addr(a.1.offset())?, b: b.0.addr(b.1.offset())?, out, n: n as u32, op, s })
}

/// `out = op(a, b)`; both layouts already broadcast to the output shape.
pub fn binary(r: &Runner, op: BinaryOp, a: Operand<'_>, b: Operand<'_>, out: &mut Buf<f32>, path: Path) -> Result<()> {
    let name = op.name();
    r.check(&[a.0, b.0, out])?;
    let (s, n) = prepare(name, &[a, b], &[out])?;
    let p = binary_params(a, b, out.addr_mut(0)?, binary_code(op), (s, n))?;
    let vec4 = use_vec4(name, path, &s, 2, &[p.a, p.b, p.out])?;
    let (kernel, items) = if vec4 { ("ew_binary_vec4_f32", n.div_ceil(4)) } else { ("ew_binary_f32", n) };
    // SAFETY: prepare() checked every buffer against its layout and the output size.
    unsafe { r.launch(&ELEMENTWISE, kernel, Launch::linear(items, BLOCK), &p) }
}

/// `dx = g * f'(x, y)` where `y = op(x)`; x, y and g of one shape, any strides.
pub fn unary_backward(
    r: &Runner,
    op: UnaryOp,
    x: Operand<'_>,
    y: Operand<'_>,
    g: Operand<'_>,
    dx: &mut Buf<f32>,
) -> Result<()> {
    r.check(&[x.0, y.0, g.0, dx])?;
    let (s, n) = prepare(op.name(), &[x, y, g], &[dx])?;
    let (code, a0, a1) = unary_code(Some(op));
    let p = UnaryBackwardParams {
        x: x.0.addr(x.1.offset())?,
        y: y.0.addr(y.1.offset())?,
        g: g.0.addr(g.1.offset())?,
        dx: dx.addr_mut(0)?,
        n: n as u32,
        op: code,
        a0,
        a1,
        s,
    };
    // SAFETY: prepare() checked every buffer.
    unsafe { r.launch(&ELEMENTWISE, "ew_unary_backward_f32", Launch::linear(n, BLOCK), &p) }
}

/// Gradients of `op(a, b)` w.r.t. a and b at the broadcast output shape (not yet summed back).
pub fn binary_backward(
    r: &Runner,
    op: BinaryOp,
    a: Operand<'_>,
    b: Operand<'_>,
    g: Operand<'_>,
    da: &mut Buf<f32>,
    db: &mut Buf<f32>,
) -> Result<()> {
    r.check(&[a.0, b.0, g.0, da, db])?;
    let (s, n) = prepare(op.name(), &[a, b, g], &[da, db])?;
    let p = BinaryBackwardParams {
        a: a.0.addr(a.1.offset())?,
        b: b.0.addr(b.1.offset())?,
        g: g.0.addr(g.1.offset())?,
        da: da.addr_mut(0)?,
        db: db.addr_mut(0)?,
        n: n as u32,
        op: binary_code(op),
        s,
    };
    // SAFETY: prepare() checked every buffer.
    unsafe { r.launch(&ELEMENTWISE, "ew_binary_backward_f32", Launch::linear(n, BLOCK), &p) }
}

/// `out = a op b` as a u32 0/1 mask (IEEE: NaN compares false except `Ne`); a and b of one
/// shape, any strides (broadcast included).
pub fn compare(r: &Runner, op: CompareOp, a: Operand<'_>, b: Operand<'_>, out: &mut Buf<u32>) -> Result<()> {
    const OP: &str = "compare";
    r.check(&[a.0, b.0])?;
    r.check(&[&*out])?;
    let (s, n) = prepare(OP, &[a, b], &[])?;
    need(OP, "output", out, n)?;
    let p = binary_params(a, b, out.addr_mut(0)?, compare_code(op), (s, n))?;
    // SAFETY: prepare() checked both inputs against their layouts, and the output holds n.
    unsafe { r.launch(&ELEMENTWISE, "ew_compare_f32", Launch::linear(n, BLOCK), &p) }
}

/// `out = cond != 0 ? a : b`, the three of one shape (any strides, broadcast included).
pub fn where_cond(
    r: &Runner,
    (cond, cl): (&Buf<u32>, &Layout),
    a: Operand<'_>,
    b: Operand<'_>,
    out: &mut Buf<f32>,
) -> Result<()> {
    const OP: &str = "where";
    r.check(&[a.0, b.0, out])?;
    r.check(&[cond])?;
    let (_, n) = prepare(OP, &[a, b], &[out])?;
    if cl.shape() != a.1.shape() {
        return Err(Error::ShapeMismatch { op: OP, lhs: a.1.shape().clone(), rhs: cl.shape().clone() });
    }
    need(OP, "condition", cond, cl.storage_span())?;
    let s = Strided::new(OP, cl.dims(), &[cl.strides(), a.1.strides(), b.1.strides()])?;
    let p = WhereParams {
        cond: cond.addr(cl.offset())?,
        a: a.0.addr(a.1.offset())?,
        b: b.0.addr(b.1.offset())?,
        out: out.addr_mut(0)?,
        n: n as u32,
        s,
    };
    // SAFETY: every operand was checked against its layout, and the output holds n.
    unsafe { r.launch(&ELEMENTWISE, "ew_where_f32", Launch::linear(n, BLOCK), &p) }
}

// ---- tensors on a CUDA device (the family's mod.rs dispatches here) --------------------------

/// `op(x)` for an f32 tensor on a CUDA device; the output is contiguous on the same device.
pub fn unary_tensor(op: Option<UnaryOp>, x: &Tensor) -> Result<Tensor> {
    let name = op.map_or("copy", UnaryOp::name);
    x.expect_dtype(DType::F32, name)?;
    access::read_f32(name, &[x], |r, v| {
        let mut out = r.output(x.elem_count())?;
        unary(r, op, v[0], &mut out, Path::Auto)?;
        access::f32_tensor(r, out, x.shape())
    })
}

/// `op(a, b)` on a CUDA device, `al`/`bl` being the operands' layouts broadcast to `shape`.
pub fn binary_tensor(op: BinaryOp, a: &Tensor, b: &Tensor, shape: &Shape, al: &Layout, bl: &Layout) -> Result<Tensor> {
    a.expect_dtype(DType::F32, op.name())?;
    access::read_f32(op.name(), &[a, b], |r, v| {
        let mut out = r.output(shape.elem_count())?;
        binary(r, op, (v[0].0, al), (v[1].0, bl), &mut out, Path::Auto)?;
        access::f32_tensor(r, out, shape.clone())
    })
}

/// `grad * f'(x)` on a CUDA device (x, y = op(x) and grad of one shape).
pub fn unary_backward_tensor(op: UnaryOp, x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
    x.expect_dtype(DType::F32, op.name())?;
    access::read_f32(op.name(), &[x, y, grad], |r, v| {
        let mut dx = r.output(x.elem_count())?;
        unary_backward(r, op, v[0], v[1], v[2], &mut dx)?;
        access::f32_tensor(r, dx, x.shape())
    })
}

/// Both gradients of `op(a, b)` at the broadcast shape, on a CUDA device.
pub fn binary_backward_tensor(
    op: BinaryOp,
    (a, al): (&Tensor, &Layout),
    (b, bl): (&Tensor, &Layout),
    grad: &Tensor,
) -> Result<(Tensor, Tensor)> {
    a.expect_dtype(DType::F32, op.name())?;
    access::read_f32(op.name(), &[a, b, grad], |r, v| {
        let n = grad.elem_count();
        let (mut da, mut db) = (r.output(n)?, r.output(n)?);
        binary_backward(r, op, (v[0].0, al), (v[1].0, bl), v[2], &mut da, &mut db)?;
        Ok((access::f32_tensor(r, da, grad.shape())?, access::f32_tensor(r, db, grad.shape())?))
    })
}

/// `compare(op, a, b)` on a CUDA device: a contiguous u32 mask of the broadcast `shape`.
pub fn compare_tensor(
    op: CompareOp,
    a: &Tensor,
    b: &Tensor,
    shape: &Shape,
    al: &Layout,
    bl: &Layout,
) -> Result<Tensor> {
    a.expect_dtype(DType::F32, "compare")?;
    access::read_f32("compare", &[a, b], |r, v| {
        let mut out = r.output::<u32>(shape.elem_count())?;
        compare(r, op, (v[0].0, al), (v[1].0, bl), &mut out)?;
        access::u32_tensor(r, out, shape.clone())
    })
}

/// `cond ? a : b` on a CUDA device, the layouts broadcast to `shape`.
pub fn where_tensor(
    (cond, cl): (&Tensor, &Layout),
    (a, al): (&Tensor, &Layout),
    (b, bl): (&Tensor, &Layout),
    shape: &Shape,
) -> Result<Tensor> {
    const OP: &str = "where";
    a.expect_dtype(DType::F32, OP)?;
    access::read(OP, &[cond, a, b], |r, s| {
        let mut out = r.output::<f32>(shape.elem_count())?;
        where_cond(r, (s[0].u32(OP)?, cl), (s[1].f32(OP)?, al), (s[2].f32(OP)?, bl), &mut out)?;
        access::f32_tensor(r, out, shape.clone())
    })
}
