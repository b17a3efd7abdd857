//! Tests of `strided.rs` against the scalar reference, called directly (never through the global
//! backend switch): every unary and binary op and their backward maps, f32 and f64, on random
//! layouts of random shapes (permuted, the last two dims transposed, narrowed with offsets in every dim, broadcast on each axis
//! in turn, both operands broadcast, zero-size dims, inner runs longer than a gather piece), bit
//! for bit except the f32 SIMD approximations.

use super::cpu_tests::{assert_same, assert_within, unary_ops, unary_tol, BINARY_OPS};
use super::{broadcast_layouts, reference, strided, BinaryOp, UnaryOp};
use kiln_tensor::{DType, Float, Layout, Rng, Tensor};

/// One way to lay a tensor of a given logical shape out in storage.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Contiguous,
    /// Stored with its dims reversed, then permuted back.
    Permuted,
    /// Stored with its last two dims swapped, then transposed back (the walk's band tiles).
    Transposed,
    /// Every dim narrowed from offset 1 out of a storage 2 larger.
    Narrowed,
    /// Size 1 on axis `k`, broadcast (stride 0) to the full shape.
    Broadcast(usize),
}

fn make(shape: &[usize], kind: Kind, dtype: DType, rng: &mut Rng) -> Tensor {
    let (lo, hi) = (-0.5, 3.0);
    match kind {
        Kind::Contiguous => Tensor::rand_uniform(shape.to_vec(), lo, hi, dtype, rng),
        Kind::Permuted => {
            let rev: Vec<usize> = shape.iter().rev().copied().collect();
            let perm: Vec<usize> = (0..shape.len()).rev().collect();
            Tensor::rand_uniform(rev, lo, hi, dtype, rng).permute(&perm).unwrap()
        }
        Kind::Transposed => {
            let mut swapped = shape.to_vec();
            let r = swapped.len();
            swapped.swap(r - 2, r - 1);
            Tensor::rand_uniform(swapped, lo, hi, dtype, rng).transpose(r as isize - 2, r as isize - 1).unwrap()
        }
        Kind::Narrowed => {
            let big: Vec<usize> = shape.iter().map(|d| d + 2).collect();
            let mut t = Tensor::rand_uniform(big, lo, hi, dtype, rng);
            for (d, &n) in shape.iter().enumerate() {
                t = t.narrow(d as isize, 1, n).unwrap();
            }
            t
        }
        Kind::Broadcast(k) => {
            let mut small = shape.to_vec();
            small[k] = 1;
            let t = Tensor::rand_uniform(small, lo, hi, dtype, rng);
            let l = t.layout().broadcast_as(&shape.to_vec().into()).unwrap();
            t.with_layout(l).unwrap()
        }
    }
}

fn kinds(rank: usize) -> Vec<Kind> {
    let mut k = vec![Kind::Contiguous, Kind::Permuted, Kind::Narrowed];
    if rank >= 2 {
        k.push(Kind::Transposed);
    }
    k.extend((0..rank).map(Kind::Broadcast));
    k
}

/// Random shapes of rank 1-4 with dims 1-6, plus zero-size dims, runs longer than a piece, and
/// longer rows and columns (a 3-d one, one large enough to be split across threads mid-row, one
/// whose transposed bands are two tiles wide with a partial band under them).
fn shapes(rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = (0..12)
        .map(|_| {
            let rank = 1 + (rng.next_u64() % 4) as usize;
            (0..rank).map(|_| 1 + (rng.next_u64() % 6) as usize).collect()
        })
        .collect();
    out.extend([vec![2, 3, 4, 5], vec![3, 0, 4], vec![0], vec![3, 1100], vec![1100, 2], vec![2, 3, 1, 7]]);
    out.extend([vec![37, 150], vec![5, 40, 70], vec![300, 257], vec![21, 1100]]);
    out
}

fn check_unary<T: Float>(op: UnaryOp, x: &Tensor, g: &Tensor) {
    let what = format!("{} {:?} {:?}", op.name(), x.dtype(), x.layout());
    let tol = unary_tol(op, x.dtype());
    let y = super::unary(op, x).unwrap();
    Tensor::with_slices(&[x, &y, g], |v: &[(&[T], &Layout)]| {
        let want = reference::unary(op, v[0].0, v[0].1);
        assert_within(&strided::unary(op, v[0].0, v[0].1), &want, tol, if tol > 0.0 { 2e-38 } else { 0.0 }, &what);
        let want = reference::unary_backward(op, v[0], v[1], v[2]);
        assert_same(&strided::unary_backward(op, v[0], v[1], v[2]), &want, &format!("{what} backward"));
    })
    .unwrap();
}

#[test]
fn unary_and_backward_match_reference_on_random_layouts() {
    let mut rng = Rng::new(20);
    for dtype in [DType::F32, DType::F64] {
        for shape in shapes(&mut rng) {
            for (i, kind) in kinds(shape.len()).into_iter().enumerate() {
                let x = make(&shape, kind, dtype, &mut rng);
                // The gradient in a different layout from x's.
                let g = make(&shape, kinds(shape.len())[(i + 1) % 3], dtype, &mut rng);
                for op in unary_ops() {
                    crate::float_dispatch!(dtype, "test", T => {
                        check_unary::<T>(op, &x, &g);
                        Ok::<(), kiln_tensor::Error>(())
                    })
                    .unwrap();
                }
            }
        }
    }
}

fn check_binary<T: Float>(op: BinaryOp, a: &Tensor, b: &Tensor, g: &Tensor) {
    let (_, al, bl) = broadcast_layouts("test", a, b).unwrap();
    let what = format!("{} {:?} {:?} / {:?} / {:?}", op.name(), a.dtype(), al, bl, g.layout());
    Tensor::with_slices(&[a, b, g], |v: &[(&[T], &Layout)]| {
        let want = reference::binary(op, v[0].0, &al, v[1].0, &bl);
        assert_same(&strided::binary(op, v[0].0, &al, v[1].0, &bl), &want, &what);
        let (wa, wb) = reference::binary_backward(op, (v[0].0, &al), (v[1].0, &bl), v[2]);
        let (ga, gb) = strided::binary_backward(op, (v[0].0, &al), (v[1].0, &bl), v[2]);
        assert_same(&ga, &wa, &format!("{what} grad a"));
        assert_same(&gb, &wb, &format!("{what} grad b"));
        assert_same(&super::binary(op, a, b).unwrap().to_vec::<T>().unwrap(), &want, &what);
    })
    .unwrap();
}

#[test]
fn binary_and_backward_match_reference_on_random_layouts() {
    let mut rng = Rng::new(21);
    for dtype in [DType::F32, DType::F64] {
        for shape in shapes(&mut rng) {
            let ks = kinds(shape.len());
            for (i, &ka) in ks.iter().enumerate() {
                // Each layout of a against each of b's, rotated so every pair appears somewhere.
                let kb = ks[(i * 7 + 3) % ks.len()];
                let (a, b) = (make(&shape, ka, dtype, &mut rng), make(&shape, kb, dtype, &mut rng));
                let g = make(&shape, ks[(i + 1) % 3], dtype, &mut rng);
                for op in BINARY_OPS {
                    crate::float_dispatch!(dtype, "test", T => {
                        check_binary::<T>(op, &a, &b, &g);
                        check_binary::<T>(op, &b, &a, &g);
                        Ok::<(), kiln_tensor::Error>(())
                    })
                    .unwrap();
                }
            }
        }
    }
}

#[test]
fn batchnorm_and_outer_broadcasts_match_reference() {
    // [N, C, H, W] against [1, C, 1, 1] (the case that sent BatchNorm to the reference), an outer
    // sum of a column and a row, and a middle broadcast large enough to split over rayon.
    let mut rng = Rng::new(22);
    let cases: [(&[usize], &[usize]); 4] =
        [(&[4, 6, 5, 5], &[1, 6, 1, 1]), (&[7, 1], &[1, 9]), (&[3, 5, 7], &[5, 1]), (&[2, 8, 512, 260], &[1, 8, 1, 1])];
    for dtype in [DType::F32, DType::F64] {
        for (sa, sb) in cases {
            let a = Tensor::rand_uniform(sa.to_vec(), 0.1, 2.0, dtype, &mut rng);
            let b = Tensor::rand_uniform(sb.to_vec(), 0.1, 2.0, dtype, &mut rng);
            let shape = broadcast_layouts("test", &a, &b).unwrap().0;
            let g = Tensor::rand_uniform(shape, -1.0, 1.0, dtype, &mut rng);
            for op in [BinaryOp::Sub, BinaryOp::Div, BinaryOp::Mul] {
                crate::float_dispatch!(dtype, "test", T => {
                    check_binary::<T>(op, &a, &b, &g);
                    Ok::<(), kiln_tensor::Error>(())
                })
                .unwrap();
            }
        }
    }
}

#[test]
fn dense_copies_equal_the_logical_elements() {
    let mut rng = Rng::new(23);
    for dtype in [DType::F32, DType::F64] {
        for shape in shapes(&mut rng) {
            for kind in kinds(shape.len()) {
                let x = make(&shape, kind, dtype, &mut rng);
                let d = super::dense(&x).unwrap();
                assert!(d.is_contiguous(), "{kind:?} {shape:?}");
                assert_eq!(d.to_vec_f64().unwrap(), x.to_vec_f64().unwrap(), "{kind:?} {shape:?}");
            }
        }
    }
}

#[test]
fn ops_over_one_shared_transposed_layout_keep_it() {
    // Operands that are all the same permuted view are computed over the storage and the result
    // comes back in their layout; values equal the reference's in logical order.
    let mut rng = Rng::new(21);
    for dtype in [DType::F32, DType::F64] {
        for shape in [vec![3, 5, 7], vec![4, 1, 6], vec![40, 33]] {
            let make_permuted = |rng: &mut Rng| make(&shape, Kind::Permuted, dtype, rng);
            let (a, b, g) = (make_permuted(&mut rng), make_permuted(&mut rng), make_permuted(&mut rng));
            let keeps = |t: &Tensor, what: &str| {
                // Size-1 dims' strides mean nothing.
                let same = (0..a.rank()).all(|d| a.dims()[d] == 1 || t.strides()[d] == a.strides()[d]);
                assert!(!t.is_contiguous() && same, "{what}: layout {:?} vs {:?}", t.layout(), a.layout())
            };
            crate::float_dispatch!(dtype, "test", T => {
                for op in unary_ops() {
                    let what = format!("{} {dtype:?} {shape:?}", op.name());
                    let y = super::unary(op, &a).unwrap();
                    keeps(&y, &what);
                    let dx = super::unary_backward(op, &a, &y, &g).unwrap();
                    keeps(&dx, &what);
                    Tensor::with_slices(&[&a, &y, &g], |v: &[(&[T], &Layout)]| {
                        let tol = unary_tol(op, dtype);
                        assert_within(&y.to_vec::<T>().unwrap(), &reference::unary(op, v[0].0, v[0].1), tol, if tol > 0.0 { 2e-38 } else { 0.0 }, &what);
                        assert_same(&dx.to_vec::<T>().unwrap(), &reference::unary_backward(op, v[0], v[1], v[2]), &what);
                    })
                    .unwrap();
                }
                for op in BINARY_OPS {
                    let what = format!("{} {dtype:?} {shape:?}", op.name());
                    let y = super::binary(op, &a, &b).unwrap();
                    let (ga, gb) = super::binary_backward(op, &a, &b, &g).unwrap();
                    [&y, &ga, &gb].iter().for_each(|t| keeps(t, &what));
                    Tensor::with_slices(&[&a, &b, &g], |v: &[(&[T], &Layout)]| {
                        assert_same(&y.to_vec::<T>().unwrap(), &reference::binary(op, v[0].0, v[0].1, v[1].0, v[1].1), &what);
                        let (wa, wb) = reference::binary_backward(op, v[0], v[1], v[2]);
                        assert_same(&ga.to_vec::<T>().unwrap(), &wa, &what);
                        assert_same(&gb.to_vec::<T>().unwrap(), &wb, &what);
                    })
                    .unwrap();
                }
                Ok::<(), kiln_tensor::Error>(())
            })
            .unwrap();
        }
    }
}

#[test]
fn reshape_views_when_it_can_and_copies_through_the_walk_when_not() {
    let mut rng = Rng::new(23);
    let x = make(&[4, 6, 5], Kind::Transposed, DType::F32, &mut rng);
    let flat = super::reshape(&x, [120]).unwrap();
    assert!(flat.is_contiguous());
    assert_eq!(flat.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
    // A contiguous tensor stays a view of the same storage; integer tensors take Tensor::reshape.
    let c = make(&[4, 6, 5], Kind::Contiguous, DType::F64, &mut rng);
    assert!(super::reshape(&c, [24, 5]).unwrap().same_storage(&c));
    let ints = Tensor::from_vec((0..12i64).collect::<Vec<_>>(), [3, 4]).unwrap().t().unwrap();
    assert_eq!(super::reshape(&ints, [12]).unwrap().to_vec::<i64>().unwrap(), ints.to_vec::<i64>().unwrap());
    assert!(super::reshape(&x, [7, 7]).is_err(), "element count mismatch is an error");
}
