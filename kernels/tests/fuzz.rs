//! A small seeded fuzz of the public tensor and kernel API: random ranks 0-5 with dims 0-7 (zero
//! sizes included), f32/f64 and wrong dtypes, transposed / narrowed / broadcast views, NaN, ±inf
//! and extreme values, and arguments that are sometimes invalid. Every case runs under
//! `catch_unwind`: none may panic; an error is fine where the arguments are bad, and where a call
//! succeeds its result is checked against a plain f64 computation on the logical values. A few
//! thousand cases, seconds in a debug build. Trade-off: the references here are deliberately
//! naive and local (not the kernels' own `reference.rs`), so a shared bug cannot hide.

use kiln_kernels::elementwise::{binary, unary, BinaryOp, UnaryOp};
use kiln_kernels::embedding::index_select;
use kiln_kernels::join::cat;
use kiln_kernels::loss::cross_entropy;
use kiln_kernels::matmul::matmul;
use kiln_kernels::reduce::{reduce, ReduceOp};
use kiln_kernels::softmax::softmax;
use kiln_tensor::testing::{is_close, Tol};
use kiln_tensor::{DType, Rng, Shape, Tensor};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Results compared with a reference (so the fuzz cannot pass by erroring on everything).
static COMPARED: AtomicUsize = AtomicUsize::new(0);

const SPECIALS: [f64; 9] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, 1e30, -1e30, 1e-30, 3.0e38];

fn value(rng: &mut Rng) -> f64 {
    if rng.below(8) == 0 {
        SPECIALS[rng.below(SPECIALS.len())]
    } else {
        3.0 * rng.normal()
    }
}

fn shape(rng: &mut Rng, max_rank: usize) -> Vec<usize> {
    (0..rng.below(max_rank + 1)).map(|_| if rng.below(6) == 0 { 0 } else { 1 + rng.below(7) }).collect()
}

fn dtype(rng: &mut Rng) -> DType {
    match rng.below(12) {
        0 => DType::I64,
        1 => DType::U32,
        2 => DType::F16,
        3..=6 => DType::F64,
        _ => DType::F32,
    }
}

/// A tensor of `dims`: dense, or the same logical values reached through a view (a transpose of
/// a permuted base, a narrow of a larger base, or a broadcast of a size-1 dim).
fn tensor(rng: &mut Rng, dims: &[usize], dtype: DType) -> Tensor {
    let n: usize = dims.iter().product();
    let values: Vec<f64> = (0..n).map(|_| value(rng)).collect();
    let dense = Tensor::from_vec(values, dims.to_vec()).unwrap().to_dtype(dtype).unwrap();
    let r = dims.len();
    match rng.below(4) {
        1 if r >= 2 => dense.transpose(0, -1).unwrap().contiguous().unwrap().transpose(0, -1).unwrap(),
        2 if r >= 1 => {
            let mut big = dims.to_vec();
            big[r - 1] += 3;
            let base = Tensor::from_vec((0..big.iter().product()).map(|_| value(rng)).collect::<Vec<f64>>(), big)
                .unwrap()
                .to_dtype(dtype)
                .unwrap();
            base.narrow(-1, 2, dims[r - 1]).unwrap()
        }
        3 if r >= 1 && dims[0] > 0 => dense.narrow(0, 0, 1).unwrap().broadcast_to(dims.to_vec()).unwrap(),
        _ => dense,
    }
}

/// Equal within `tol` times `scale` (at least 1): the error a sum of terms of that size may carry.
fn close(got: f64, want: f64, tol: f64, scale: f64) -> bool {
    is_close(got, want, Tol::rel(0.0).abs(tol * scale.max(1.0)))
}

fn tol(d: DType) -> f64 {
    if d == DType::F64 {
        1e-9
    } else {
        2e-4
    }
}

/// Rounds an f64 reference to what `dtype` can hold (f32 overflow to inf included).
fn as_dtype(v: f64, d: DType) -> f64 {
    if d == DType::F32 {
        v as f32 as f64
    } else {
        v
    }
}

fn check_all(what: &str, got: &[f64], want: &[f64], d: DType, scale: impl Fn(usize) -> f64) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, expected {}", got.len(), want.len()));
    }
    COMPARED.fetch_add(1, Ordering::Relaxed);
    for i in 0..got.len() {
        // Terms whose magnitudes sum past the dtype's range may overflow in any order of
        // accumulation though the exact result fits: not compared.
        if as_dtype(scale(i), d).is_infinite() && as_dtype(want[i], d).is_finite() {
            continue;
        }
        if !close(got[i], as_dtype(want[i], d), tol(d), scale(i)) {
            return Err(format!("{what}: element {i} is {}, expected {}", got[i], want[i]));
        }
    }
    Ok(())
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F64)
}

/// Every unary op, plus a fractional power (NaN below zero).
fn unary_op(rng: &mut Rng) -> UnaryOp {
    let i = rng.below(UnaryOp::EXAMPLES.len() + 1);
    UnaryOp::EXAMPLES.get(i).copied().unwrap_or(UnaryOp::PowScalar(0.5))
}

fn fuzz_unary(rng: &mut Rng) -> Result<(), String> {
    let (dims, d) = (shape(rng, 5), dtype(rng));
    let x = tensor(rng, &dims, d);
    let op = unary_op(rng);
    match unary(op, &x) {
        Ok(y) if is_float(d) => {
            let xs = x.to_vec_f64().unwrap();
            let want: Vec<f64> = xs.iter().map(|&v| op.apply(v)).collect();
            check_all(&format!("{op:?} of {dims:?} {d:?}"), &y.to_vec_f64().unwrap(), &want, d, |i| want[i].abs())
        }
        Ok(_) => Ok(()),
        Err(_) if !is_float(d) => Ok(()),
        Err(e) => Err(format!("{op:?} of float {dims:?} failed: {e}")),
    }
}

/// A shape that broadcasts against `dims`: some dims set to 1, some leading dims dropped.
fn broadcastable(rng: &mut Rng, dims: &[usize]) -> Vec<usize> {
    let drop = rng.below(dims.len() + 1);
    dims[drop..].iter().map(|&v| if rng.below(3) == 0 { 1 } else { v }).collect()
}

fn fuzz_binary(rng: &mut Rng) -> Result<(), String> {
    let dims = shape(rng, 5);
    let other = if rng.below(6) == 0 { shape(rng, 5) } else { broadcastable(rng, &dims) };
    let (da, db) = if rng.below(8) == 0 { (dtype(rng), dtype(rng)) } else { (dtype(rng), DType::F32) };
    let db = if rng.below(2) == 0 { da } else { db };
    let (a, b) = (tensor(rng, &dims, da), tensor(rng, &other, db));
    let op = BinaryOp::ALL[rng.below(BinaryOp::ALL.len())];
    let out = kiln_tensor::broadcast_shapes(&dims.clone().into(), &other.clone().into(), "fuzz");
    match (binary(op, &a, &b), out) {
        (Ok(y), Ok(out)) if is_float(da) && da == db => {
            let av = a.broadcast_to(out.clone()).unwrap().to_vec_f64().unwrap();
            let bv = b.broadcast_to(out.clone()).unwrap().to_vec_f64().unwrap();
            let want: Vec<f64> = av.iter().zip(&bv).map(|(&x, &y)| op.apply(x, y)).collect();
            if y.dims() != out.dims() {
                return Err(format!("{op:?}: shape {:?}, expected {out}", y.dims()));
            }
            check_all(&format!("{op:?} {dims:?} {other:?} {da:?}"), &y.to_vec_f64().unwrap(), &want, da, |i| {
                want[i].abs()
            })
        }
        (Ok(y), Err(_)) => Err(format!("{op:?} of {dims:?} and {other:?} gave {:?}, not an error", y.dims())),
        _ => Ok(()),
    }
}

fn fuzz_reduce(rng: &mut Rng) -> Result<(), String> {
    let (dims, d) = (shape(rng, 4), if rng.below(6) == 0 { dtype(rng) } else { DType::F64 });
    let x = tensor(rng, &dims, d);
    let rank = dims.len() as isize;
    let axes: Vec<isize> = (0..rng.below(3)).map(|_| rng.below(2 * rank as usize + 2) as isize - rank - 1).collect();
    let op = [ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min][rng.below(4)];
    let keepdim = rng.below(2) == 0;
    let Ok(y) = reduce(op, &x, &axes, keepdim) else { return Ok(()) };
    let resolved: Vec<usize> = if axes.is_empty() {
        (0..dims.len()).collect()
    } else {
        let r: Vec<usize> = axes.iter().map(|&a| if a < 0 { (a + rank) as usize } else { a as usize }).collect();
        if r.iter().any(|&a| a >= dims.len()) || (1..r.len()).any(|i| r[..i].contains(&r[i])) {
            return Err(format!("{op:?} over bad axes {axes:?} of {dims:?} succeeded"));
        }
        r
    };
    if !is_float(d) {
        return Ok(());
    }
    // Reference: group the logical values by their coordinates outside the reduced axes.
    let xs = x.to_vec_f64().unwrap();
    let kept: Vec<usize> = (0..dims.len()).filter(|a| !resolved.contains(a)).collect();
    let outputs: usize = kept.iter().map(|&a| dims[a]).product();
    let mut groups = vec![Vec::new(); outputs];
    for (flat, &v) in xs.iter().enumerate() {
        let (mut rem, mut coords) = (flat, vec![0; dims.len()]);
        for a in (0..dims.len()).rev() {
            coords[a] = rem % dims[a];
            rem /= dims[a];
        }
        let out = kept.iter().fold(0, |acc, &a| acc * dims[a] + coords[a]);
        groups[out].push(v);
    }
    let want: Vec<f64> = groups
        .iter()
        .map(|g| match op {
            ReduceOp::Sum => g.iter().sum(),
            ReduceOp::Mean => g.iter().sum::<f64>() / g.len() as f64,
            ReduceOp::Max => {
                g.iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.max(v) })
            }
            ReduceOp::Min => {
                g.iter().copied().fold(f64::INFINITY, |m, v| if v.is_nan() || m.is_nan() { f64::NAN } else { m.min(v) })
            }
        })
        .collect();
    let scale: Vec<f64> = groups.iter().map(|g| g.iter().map(|v| v.abs()).sum()).collect();
    if groups.iter().any(|g| g.is_empty()) && matches!(op, ReduceOp::Max | ReduceOp::Min) {
        return Ok(()); // PyTorch refuses an empty max; kiln's answer for it is not compared.
    }
    check_all(&format!("{op:?} over {axes:?} of {dims:?}"), &y.to_vec_f64().unwrap(), &want, d, |i| scale[i])
}

fn fuzz_matmul(rng: &mut Rng) -> Result<(), String> {
    let (m, k, n) = (rng.below(6), rng.below(6), rng.below(6));
    let batch = shape(rng, 2);
    let mut ad = batch.clone();
    ad.extend([m, k]);
    let mut bd = broadcastable(rng, &batch);
    let k2 = if rng.below(10) == 0 { k + 1 } else { k };
    bd.extend([k2, n]);
    let d = if rng.below(8) == 0 { dtype(rng) } else { DType::F64 };
    let (a, b) = (tensor(rng, &ad, d), tensor(rng, &bd, d));
    let Ok(y) = matmul(&a, &b) else { return Ok(()) };
    if k2 != k {
        return Err(format!("matmul {ad:?} @ {bd:?} succeeded"));
    }
    if !is_float(d) {
        return Ok(());
    }
    let out_batch =
        kiln_tensor::broadcast_shapes(&batch.clone().into(), &bd[..bd.len() - 2].to_vec().into(), "t").unwrap();
    let mut full_a = out_batch.dims().to_vec();
    full_a.extend([m, k]);
    let mut full_b = out_batch.dims().to_vec();
    full_b.extend([k, n]);
    let av = a.broadcast_to(full_a).unwrap().to_vec_f64().unwrap();
    let bv = b.broadcast_to(full_b).unwrap().to_vec_f64().unwrap();
    let (mut want, mut scale) = (Vec::new(), Vec::new());
    for p in 0..out_batch.elem_count() {
        for i in 0..m {
            for j in 0..n {
                let terms = (0..k).map(|t| av[p * m * k + i * k + t] * bv[p * k * n + t * n + j]);
                want.push(terms.clone().sum::<f64>());
                scale.push(terms.map(f64::abs).sum::<f64>());
            }
        }
    }
    // An inf*0 or inf-inf among the terms is NaN in any order, but which NaN-free order the
    // kernel sums in is its own: compare only sums of finite terms.
    let finite: Vec<usize> = (0..want.len()).filter(|&i| scale[i].is_finite()).collect();
    let got = y.to_vec_f64().unwrap();
    let pick = |v: &[f64]| finite.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    check_all(&format!("matmul {ad:?} @ {bd:?}"), &pick(&got), &pick(&want), d, |i| scale[finite[i]])
}

fn fuzz_softmax(rng: &mut Rng) -> Result<(), String> {
    let (dims, d) = (shape(rng, 4), if rng.below(6) == 0 { dtype(rng) } else { DType::F64 });
    let x = tensor(rng, &dims, d);
    let axis = rng.below(dims.len() + 2) as isize - 1;
    let Ok(y) = softmax(&x, axis) else { return Ok(()) };
    if dims.is_empty() || !is_float(d) {
        return Ok(());
    }
    let a = if axis < 0 { dims.len() - 1 } else { axis as usize };
    let (inner, len): (usize, usize) = (dims[a + 1..].iter().product(), dims[a]);
    let (xs, got) = (x.to_vec_f64().unwrap(), y.to_vec_f64().unwrap());
    COMPARED.fetch_add(1, Ordering::Relaxed);
    for (flat, &g) in got.iter().enumerate() {
        let (outer, pos, i) = (flat / (len * inner), (flat / inner) % len, flat % inner);
        let row: Vec<f64> = (0..len).map(|p| xs[outer * len * inner + p * inner + i]).collect();
        if row.iter().all(|v| v.is_finite()) {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let want = (row[pos] - max).exp() / row.iter().map(|v| (v - max).exp()).sum::<f64>();
            if !close(g, want, tol(d), 1.0) {
                return Err(format!("softmax axis {axis} of {dims:?}: element {flat} is {g}, expected {want}"));
            }
        }
    }
    Ok(())
}

fn fuzz_index_and_join(rng: &mut Rng) -> Result<(), String> {
    let dims = shape(rng, 4);
    let d = dtype(rng);
    let x = tensor(rng, &dims, d);
    let rank = dims.len();
    let axis = rng.below(rank + 1) as isize - (rng.below(2) as isize) * (rank as isize);
    let bound = if rank == 0 { 1 } else { dims[axis.rem_euclid(rank.max(1) as isize) as usize] };
    let ids: Vec<i64> = (0..rng.below(5)).map(|_| rng.below(bound + 2) as i64 - (rng.below(8) == 0) as i64).collect();
    let idx = Tensor::from_vec(ids.clone(), [ids.len()]).unwrap();
    if let Ok(y) = index_select(&x, axis, &idx) {
        let a = axis.rem_euclid(rank.max(1) as isize) as usize;
        if rank == 0 || ids.iter().any(|&i| i < 0 || i as usize >= dims[a]) || axis >= rank as isize {
            return Err(format!("index_select {ids:?} along {axis} of {dims:?} succeeded"));
        }
        let (xs, got) = (x.to_vec_f64().unwrap(), y.to_vec_f64().unwrap());
        COMPARED.fetch_add(1, Ordering::Relaxed);
        let (inner, len): (usize, usize) = (dims[a + 1..].iter().product(), dims[a]);
        for (flat, &g) in got.iter().enumerate() {
            let (outer, j, i) = (flat / (ids.len() * inner), (flat / inner) % ids.len(), flat % inner);
            let want = xs[outer * len * inner + ids[j] as usize * inner + i];
            if g.to_bits() != want.to_bits() && !(g.is_nan() && want.is_nan()) {
                return Err(format!("index_select {ids:?} of {dims:?}: element {flat} is {g}, expected {want}"));
            }
        }
    }
    let d2 = if rng.below(5) == 0 { dtype(rng) } else { d };
    let other = tensor(rng, &dims, d2);
    if let Ok(y) = cat(&[&x, &other], axis) {
        let want = [x.elem_count(), other.elem_count()].iter().sum::<usize>();
        if y.elem_count() != want || x.dtype() != other.dtype() {
            return Err(format!("cat of {dims:?} {d:?} and {:?}: {:?}", other.dtype(), y.dims()));
        }
    }
    Ok(())
}

fn fuzz_cross_entropy(rng: &mut Rng) -> Result<(), String> {
    let (n, c) = (rng.below(5), rng.below(5));
    let d = if rng.below(6) == 0 { dtype(rng) } else { DType::F64 };
    let logits = tensor(rng, &[n, c], d);
    let ts: Vec<i64> = (0..n).map(|_| rng.below(c + 1) as i64 - (rng.below(10) == 0) as i64).collect();
    let targets = Tensor::from_vec(ts.clone(), [n]).unwrap();
    let Ok(loss) = cross_entropy(&logits, &targets) else { return Ok(()) };
    if ts.iter().any(|&t| t < 0 || t as usize >= c) {
        return Err(format!("cross_entropy accepted targets {ts:?} for {c} classes"));
    }
    let xs = logits.to_vec_f64().unwrap();
    if !is_float(d) || n == 0 || xs.iter().any(|v| !v.is_finite()) {
        return Ok(());
    }
    let mut sum = 0.0;
    for (r, &t) in ts.iter().enumerate() {
        let row = &xs[r * c..(r + 1) * c];
        let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        sum += max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln() - row[t as usize];
    }
    let (got, want) = (loss.to_vec_f64().unwrap()[0], sum / n as f64);
    COMPARED.fetch_add(1, Ordering::Relaxed);
    if !close(got, want, tol(d), want.abs()) {
        return Err(format!("cross_entropy of {n}x{c}: {got}, expected {want}"));
    }
    Ok(())
}

/// Views and constructors with random, sometimes absurd, arguments: only "no panic" is checked,
/// plus that a successful view keeps its element count consistent with its dims.
fn fuzz_views(rng: &mut Rng) -> Result<(), String> {
    let dims = shape(rng, 5);
    let d = dtype(rng);
    let x = tensor(rng, &dims, d);
    let extreme = [0, 1, 7, usize::MAX, usize::MAX / 2 + 1, 1 << 32, 1 << 63];
    let mut rng2 = rng.fork();
    let mut big = || extreme[rng.below(extreme.len())];
    let axis = |r: &mut Rng| r.below(12) as isize - 6;
    let views = [
        x.narrow(axis(&mut rng2), big(), big()),
        x.transpose(axis(&mut rng2), axis(&mut rng2)),
        x.squeeze(axis(&mut rng2)),
        x.unsqueeze(axis(&mut rng2)),
        x.reshape(shape(&mut rng2, 5)),
        x.broadcast_to(vec![big(), big()]),
        // Only counts that overflow or are small: a valid huge one would really be allocated.
        {
            let d = vec![big(), big(), big()];
            match Shape::from(d.clone()).checked_elem_count() {
                Some(n) if n > 4096 => Tensor::try_zeros([0], DType::F32),
                _ => Tensor::try_zeros(d, DType::F32),
            }
        },
        Tensor::arange(0.0, big() as f64, 1e-300, DType::F32).and_then(|_| Tensor::try_zeros([0], DType::F32)),
        x.to_dtype(dtype(&mut rng2)),
    ];
    for v in views.into_iter().flatten() {
        if Shape::from(v.dims()).checked_elem_count() != Some(v.elem_count()) {
            return Err(format!("a view of {dims:?} has dims {:?} but {} elements", v.dims(), v.elem_count()));
        }
    }
    Ok(())
}

/// Seeds per case kind: 8,000 cases in all.
const SEEDS: u64 = 1000;

#[test]
fn the_public_api_never_panics_and_agrees_with_plain_f64() {
    type Case = fn(&mut Rng) -> Result<(), String>;
    let cases: [(&str, Case); 8] = [
        ("unary", fuzz_unary),
        ("binary", fuzz_binary),
        ("reduce", fuzz_reduce),
        ("matmul", fuzz_matmul),
        ("softmax", fuzz_softmax),
        ("index/join", fuzz_index_and_join),
        ("cross_entropy", fuzz_cross_entropy),
        ("views", fuzz_views),
    ];
    let mut failures = Vec::new();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for seed in 0..SEEDS {
        for (name, case) in cases {
            let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ name.len() as u64);
            match catch_unwind(AssertUnwindSafe(|| case(&mut rng))) {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => failures.push(format!("{name} seed {seed}: {msg}")),
                Err(p) => {
                    let msg =
                        p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    failures.push(format!("{name} seed {seed}: PANIC {}", msg.unwrap_or_default()));
                }
            }
        }
    }
    std::panic::set_hook(quiet);
    let compared = COMPARED.load(Ordering::Relaxed);
    let total = SEEDS as usize * cases.len();
    eprintln!("fuzz: {compared} of {total} results compared with a reference");
    assert!(compared > total / 3, "only {compared} results were compared: the generators test too little");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}
