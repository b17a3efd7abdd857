//! elementwise.cu: strided and float4 unary/binary maps and their backward maps against
//! kiln_kernels::elementwise::reference.

use crate::common::*;
use kiln_kernels::cuda::elementwise::{self as ew, Path};
use kiln_kernels::elementwise::{reference, BinaryOp, UnaryOp};
use kiln_tensor::{Layout, Rng};

const SHAPES: &[&[usize]] = &[&[1], &[7], &[33], &[3, 5], &[2, 7, 33], &[4, 1, 9]];

fn unary_ops() -> Vec<UnaryOp> {
    UnaryOp::EXAMPLES.to_vec()
}

const BINARY_OPS: &[BinaryOp] =
    &[BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum, BinaryOp::Minimum];

/// Positive inputs for log/sqrt/pow, signed otherwise.
fn domain(op: UnaryOp) -> (f64, f64) {
    match op {
        UnaryOp::Log | UnaryOp::Sqrt | UnaryOp::PowScalar(_) => (0.1, 3.0),
        _ => (-3.0, 3.0),
    }
}

#[test]
fn ew_unary_strided_and_vec4_match_reference() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(1);
    for &shape in SHAPES {
        for op in unary_ops() {
            let (lo, hi) = domain(op);
            for (name, len, layout) in layouts(shape) {
                let data = rand_vec(&mut rng, len, lo, hi);
                let want = reference::unary(op, &data, &layout);
                let x = upload(&r, &data);
                for path in [Path::Auto, Path::Strided] {
                    let mut out = r.zeros::<f32>(want.len()).unwrap();
                    ew::unary(&r, Some(op), (&x, &layout), &mut out, path).unwrap();
                    let got = r.download(&out).unwrap();
                    assert_close(&format!("{} {shape:?} {name} {path:?}", op.name()), &got, &want, 1e-5);
                }
                if layout.is_contiguous() && layout.offset() % 4 == 0 {
                    let mut out = r.zeros::<f32>(want.len()).unwrap();
                    ew::unary(&r, Some(op), (&x, &layout), &mut out, Path::Vec4).unwrap();
                    assert_close(&format!("{} {shape:?} vec4", op.name()), &r.download(&out).unwrap(), &want, 1e-5);
                } else {
                    let mut out = r.zeros::<f32>(want.len()).unwrap();
                    assert!(ew::unary(&r, Some(op), (&x, &layout), &mut out, Path::Vec4).is_err());
                }
            }
        }
    }
}

#[test]
fn ew_copy_makes_strided_views_contiguous() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(2);
    for &shape in SHAPES {
        for (name, len, layout) in layouts(shape) {
            let data = rand_vec(&mut rng, len, -1.0, 1.0);
            let want: Vec<f32> = layout.strided_index().map(|i| data[i]).collect();
            let x = upload(&r, &data);
            let mut out = r.zeros::<f32>(want.len()).unwrap();
            ew::unary(&r, None, (&x, &layout), &mut out, Path::Auto).unwrap();
            assert_eq!(r.download(&out).unwrap(), want, "copy {shape:?} {name}");
        }
    }
}

#[test]
fn ew_binary_broadcast_strided_and_vec4_match_reference() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(3);
    for &shape in SHAPES {
        let rank = shape.len();
        // b broadcast along dim 0 (a row vector), and b of the full shape.
        let mut row = shape.to_vec();
        row[0] = 1;
        for op in BINARY_OPS {
            let (lo, hi) = if *op == BinaryOp::Pow { (0.2, 2.0) } else { (-2.0, 2.0) };
            for (name, len, al) in layouts(shape) {
                let ad = rand_vec(&mut rng, len, lo, hi);
                let a = upload(&r, &ad);
                for (bname, bshape) in [("full", shape.to_vec()), ("row-broadcast", row.clone())] {
                    let bn: usize = bshape.iter().product();
                    let mut bd = rand_vec(&mut rng, bn, lo, hi);
                    if *op == BinaryOp::Maximum && bn > 2 {
                        bd[1] = ad[al.strided_index().nth(1).unwrap_or(0)]; // a tie somewhere
                    }
                    let bl = Layout::contiguous(bshape.clone()).broadcast_as(&shape.to_vec().into()).unwrap();
                    assert_eq!(bl.rank(), rank);
                    let want = reference::binary(*op, &ad, &al, &bd, &bl);
                    let b = upload(&r, &bd);
                    let mut out = r.zeros::<f32>(want.len()).unwrap();
                    ew::binary(&r, *op, (&a, &al), (&b, &bl), &mut out, Path::Auto).unwrap();
                    let what = format!("{} {shape:?} a {name} b {bname}", op.name());
                    assert_close(&what, &r.download(&out).unwrap(), &want, 1e-5);
                    if name == "contiguous" && bname == "full" {
                        let mut out = r.zeros::<f32>(want.len()).unwrap();
                        ew::binary(&r, *op, (&a, &al), (&b, &bl), &mut out, Path::Vec4).unwrap();
                        assert_close(&format!("{what} vec4"), &r.download(&out).unwrap(), &want, 1e-5);
                    }
                }
            }
        }
    }
}

#[test]
fn ew_backward_maps_match_reference() {
    let Some(r) = runner() else { return };
    let mut rng = Rng::new(4);
    for &shape in &SHAPES[2..] {
        for op in unary_ops() {
            let (lo, hi) = domain(op);
            for (name, len, xl) in layouts(shape) {
                let xd = rand_vec(&mut rng, len, lo, hi);
                // y = op(x) stored contiguous, g transposed-or-not like x.
                let yd = reference::unary(op, &xd, &xl);
                let yl = Layout::contiguous(shape.to_vec());
                let gd = rand_vec(&mut rng, len, -1.0, 1.0);
                let want = reference::unary_backward(op, (&xd, &xl), (&yd, &yl), (&gd, &xl));
                let (x, y, g) = (upload(&r, &xd), upload(&r, &yd), upload(&r, &gd));
                let mut dx = r.zeros::<f32>(want.len()).unwrap();
                ew::unary_backward(&r, op, (&x, &xl), (&y, &yl), (&g, &xl), &mut dx).unwrap();
                assert_close(&format!("d{} {shape:?} {name}", op.name()), &r.download(&dx).unwrap(), &want, 1e-5);
            }
        }
        let mut row = shape.to_vec();
        row[0] = 1;
        for op in BINARY_OPS {
            let (lo, hi) = if *op == BinaryOp::Pow { (0.2, 2.0) } else { (-2.0, 2.0) };
            for (name, len, al) in layouts(shape) {
                let ad = rand_vec(&mut rng, len, lo, hi);
                let bn: usize = row.iter().product();
                let bd = rand_vec(&mut rng, bn, lo, hi);
                let bl = Layout::contiguous(row.clone()).broadcast_as(&shape.to_vec().into()).unwrap();
                let gl = Layout::contiguous(shape.to_vec());
                let gd = rand_vec(&mut rng, gl.elem_count(), -1.0, 1.0);
                let (wa, wb) = reference::binary_backward(*op, (&ad, &al), (&bd, &bl), (&gd, &gl));
                let (a, b, g) = (upload(&r, &ad), upload(&r, &bd), upload(&r, &gd));
                let mut da = r.zeros::<f32>(wa.len()).unwrap();
                let mut db = r.zeros::<f32>(wb.len()).unwrap();
                ew::binary_backward(&r, *op, (&a, &al), (&b, &bl), (&g, &gl), &mut da, &mut db).unwrap();
                let what = format!("d{} {shape:?} {name}", op.name());
                assert_close(&format!("{what} da"), &r.download(&da).unwrap(), &wa, 1e-5);
                assert_close(&format!("{what} db"), &r.download(&db).unwrap(), &wb, 1e-5);
            }
        }
    }
}

#[test]
fn ew_rejects_short_buffers_and_mismatched_shapes() {
    let Some(r) = runner() else { return };
    let x = upload(&r, &[1.0; 6]);
    let mut out = r.zeros::<f32>(5).unwrap();
    let l = Layout::contiguous(vec![2, 3]);
    assert!(ew::unary(&r, Some(UnaryOp::Neg), (&x, &l), &mut out, Path::Auto).is_err());
    let mut out = r.zeros::<f32>(6).unwrap();
    let l7 = Layout::contiguous(vec![7]);
    assert!(ew::unary(&r, Some(UnaryOp::Neg), (&x, &l7), &mut out, Path::Auto).is_err());
    let l32 = Layout::contiguous(vec![3, 2]);
    assert!(ew::binary(&r, BinaryOp::Add, (&x, &l), (&x, &l32), &mut out, Path::Auto).is_err());
}
