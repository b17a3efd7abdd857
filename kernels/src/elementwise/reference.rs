//! Scalar reference loops for elementwise ops over any layout (strided and broadcast), in
//! logical row-major order. The oracle for every faster elementwise kernel: keep it obvious.

use super::{BinaryOp, CompareOp, UnaryOp};
use kiln_tensor::{Float, Layout};

pub fn unary<T: Float>(op: UnaryOp, x: &[T], xl: &Layout) -> Vec<T> {
    xl.strided_index().map(|i| op.apply(x[i])).collect()
}

/// `grad_in = grad * f'(x)` with all three operands of one shape.
pub fn unary_backward<T: Float>(op: UnaryOp, x: (&[T], &Layout), y: (&[T], &Layout), g: (&[T], &Layout)) -> Vec<T> {
    let xs = x.1.strided_index();
    let ys = y.1.strided_index();
    let gs = g.1.strided_index();
    xs.zip(ys).zip(gs).map(|((i, j), k)| g.0[k] * op.derivative(x.0[i], y.0[j])).collect()
}

/// Both layouts already broadcast to the output shape.
pub fn binary<T: Float>(op: BinaryOp, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Vec<T> {
    al.strided_index().zip(bl.strided_index()).map(|(i, j)| op.apply(a[i], b[j])).collect()
}

/// Gradients w.r.t. both inputs at the broadcast output shape (the caller sums them back to each
/// input's shape). All three layouts have the output shape.
pub fn binary_backward<T: Float>(
    op: BinaryOp,
    a: (&[T], &Layout),
    b: (&[T], &Layout),
    g: (&[T], &Layout),
) -> (Vec<T>, Vec<T>) {
    let n = g.1.elem_count();
    let (mut ga, mut gb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for ((i, j), k) in a.1.strided_index().zip(b.1.strided_index()).zip(g.1.strided_index()) {
        let (da, db) = op.partials(a.0[i], b.0[j]);
        ga.push(g.0[k] * da);
        gb.push(g.0[k] * db);
    }
    (ga, gb)
}

pub fn compare<T: Float>(op: CompareOp, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Vec<u32> {
    al.strided_index().zip(bl.strided_index()).map(|(i, j)| op.apply(a[i], b[j]) as u32).collect()
}

/// `cond != 0 ? a : b`, all layouts broadcast to the output shape.
pub fn where_cond<T: Float>(c: &[u32], cl: &Layout, a: &[T], al: &Layout, b: &[T], bl: &Layout) -> Vec<T> {
    cl.strided_index()
        .zip(al.strided_index())
        .zip(bl.strided_index())
        .map(|((k, i), j)| if c[k] != 0 { a[i] } else { b[j] })
        .collect()
}
