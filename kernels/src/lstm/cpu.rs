//! The LSTM recurrence, fast, f32: batch rows split over rayon tasks (rows never interact, so
//! each task runs every step of its rows with no synchronisation), per step one small register-
//! tiled `h · W_hhᵀ` and a vectorised cell update (sigmoid / tanh from the SIMD layer). Backward
//! walks the steps in reverse the same way and finishes with one large GEMM for `dW_hh`.
//! Same formulas as `reference.rs`; results differ by rounding and the SIMD exp/tanh error only.
//! Must not: touch the autograd, or allocate per step.

use super::{BackwardArgs, Dims, Steps};
use crate::gemm::{gemm, MatMut, MatRef};
use crate::simd::{axpy_with, Isa, Simd};
use rayon::prelude::*;

/// Below this many multiply-adds in the recurrence (`B T 4H H`) one task runs every row: a rayon
/// split costs a few microseconds, which a tiny LSTM (tests, a batch of one) would not repay.
pub const PAR_MIN_LSTM: usize = 1 << 20;

/// Vectors per column tile and rows per register tile of [`gemm_acc`]: 4 x 4 accumulators plus 4
/// vectors of `B` fit the 16 registers of AVX2 and leave half of AVX-512's free. Each step of `k`
/// does 4 loads, 4 broadcasts and 16 FMAs, and the column tile of `B` (k x 64 floats for
/// AVX-512, 16 KiB at k = 64) stays in L1 while every row group of the task passes over it.
const VECS: usize = 4;
const ROWS: usize = 4;

/// Loads `lanes <= LANES` values (a full vector or a masked tail).
#[inline(always)]
unsafe fn ld<S: Simd>(p: *const f32, lanes: usize) -> S::V {
    if lanes == S::LANES {
        S::loadu(p)
    } else {
        S::load_tail(p, lanes)
    }
}

#[inline(always)]
unsafe fn st<S: Simd>(p: *mut f32, v: S::V, lanes: usize) {
    if lanes == S::LANES {
        S::storeu(p, v)
    } else {
        S::store_tail(p, v, lanes)
    }
}

/// One tile's operands: `k` and the tile's corners of A, B and C with their leading dimensions.
#[derive(Clone, Copy)]
struct TileOperands {
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
}

/// One full `MR x (VECS * LANES)` tile of `C += A B`.
#[inline(always)]
unsafe fn tile<S: Simd, const MR: usize>(t: TileOperands) {
    let TileOperands { k, a, lda, b, ldb, c, ldc } = t;
    let l = S::LANES;
    let mut acc = [[S::zero(); VECS]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        for (v, x) in row.iter_mut().enumerate() {
            *x = S::loadu(c.add(r * ldc + v * l));
        }
    }
    for p in 0..k {
        let bp = b.add(p * ldb);
        let bv = [S::loadu(bp), S::loadu(bp.add(l)), S::loadu(bp.add(2 * l)), S::loadu(bp.add(3 * l))];
        for (r, row) in acc.iter_mut().enumerate() {
            let av = S::splat(*a.add(r * lda + p));
            for (x, bv) in row.iter_mut().zip(bv) {
                *x = S::fma(av, bv, *x);
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, x) in row.iter().enumerate() {
            S::storeu(c.add(r * ldc + v * l), *x);
        }
    }
}

/// The right edge: `rows` rows of fewer than `VECS * LANES` columns, one (possibly masked) vector at
/// a time.
#[inline(always)]
unsafe fn tile_edge<S: Simd>(t: TileOperands, rows: usize, width: usize) {
    let TileOperands { k, a, lda, b, ldb, c, ldc } = t;
    let mut j = 0;
    while j < width {
        let lanes = (width - j).min(S::LANES);
        for r in 0..rows {
            let mut acc = ld::<S>(c.add(r * ldc + j), lanes);
            for p in 0..k {
                acc = S::fma(S::splat(*a.add(r * lda + p)), ld::<S>(b.add(p * ldb + j), lanes), acc);
            }
            st::<S>(c.add(r * ldc + j), acc, lanes);
        }
        j += S::LANES;
    }
}

/// The extent a row-major `rows x cols` view with leading dimension `ld` needs.
fn extent(rows: usize, cols: usize, ld: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * ld + cols
    }
}

crate::simd_dispatch! {
    /// `C[m, n] += A[m, k] B[k, n]` (`dims = [m, k, n]`), each operand a row-major slice with its
    /// leading dimension: the small GEMM of one step, sized for m <= a few dozen rows and n, k <= a
    /// few hundred (no packing: `B` is reused from L1 across row groups, `A` is read once per column
    /// tile).
    ///
    /// # Panics
    /// If a view does not fit its slice.
    pub(crate) fn gemm_acc<S>(dims: [usize; 3], a: (&[f32], usize), b: (&[f32], usize), c: (&mut [f32], usize)) {
        let ([m, k, n], (a, lda), (b, ldb), (c, ldc)) = (dims, a, b, c);
        assert!(extent(m, k, lda) <= a.len() && extent(k, n, ldb) <= b.len() && extent(m, n, ldc) <= c.len(),
            "gemm_acc: a view exceeds its slice");
        assert!(m <= 1 || ldc >= n, "gemm_acc: rows of C overlap");
        let tile_w = VECS * S::LANES;
        let mut j0 = 0;
        while j0 < n {
            let width = (n - j0).min(tile_w);
            let mut i0 = 0;
            while i0 < m {
                let rows = (m - i0).min(ROWS);
                let t = TileOperands {
                    k,
                    a: a.as_ptr().add(i0 * lda),
                    lda,
                    b: b.as_ptr().add(j0),
                    ldb,
                    c: c.as_mut_ptr().add(i0 * ldc + j0),
                    ldc,
                };
                match (width == tile_w, rows) {
                    (true, 4) => tile::<S, 4>(t),
                    (true, 3) => tile::<S, 3>(t),
                    (true, 2) => tile::<S, 2>(t),
                    (true, _) => tile::<S, 1>(t),
                    (false, _) => tile_edge::<S>(t, rows, width),
                }
                i0 += rows;
            }
            j0 += width;
        }
    }
}

crate::simd_dispatch! {
    /// One row's cell step: `act` [4H] holds the pre-activations and becomes the activated gates;
    /// `c` and `h` [H] are the state, updated in place.
    pub fn cell_forward<S>(act: &mut [f32], h: &mut [f32], c: &mut [f32]) {
        let hn = h.len();
        assert!(act.len() == 4 * hn && c.len() == hn, "cell_forward: lengths differ");
        let (ap, hp, cp) = (act.as_mut_ptr(), h.as_mut_ptr(), c.as_mut_ptr());
        let mut j = 0;
        while j < hn {
            let lanes = (hn - j).min(S::LANES);
            let ig = S::sigmoid(ld::<S>(ap.add(j), lanes));
            let fg = S::sigmoid(ld::<S>(ap.add(hn + j), lanes));
            let gg = S::tanh(ld::<S>(ap.add(2 * hn + j), lanes));
            let og = S::sigmoid(ld::<S>(ap.add(3 * hn + j), lanes));
            let cn = S::fma(fg, ld::<S>(cp.add(j), lanes), S::mul(ig, gg));
            st::<S>(ap.add(j), ig, lanes);
            st::<S>(ap.add(hn + j), fg, lanes);
            st::<S>(ap.add(2 * hn + j), gg, lanes);
            st::<S>(ap.add(3 * hn + j), og, lanes);
            st::<S>(cp.add(j), cn, lanes);
            st::<S>(hp.add(j), S::mul(og, S::tanh(cn)), lanes);
            j += S::LANES;
        }
    }
}

crate::simd_dispatch! {
    /// One row's backward step. In: the activated gates `act` [4H], the cell after the step `c`, the
    /// cell before it `c_prev`, and the gradients `dh`, `dc` [H] reaching the state after the step.
    /// Out: the pre-activation gradients `da` [4H]; `dc` becomes the gradient reaching `c_prev`.
    pub(crate) fn cell_backward<S>(act: &[f32], c: &[f32], c_prev: &[f32], dh: &[f32], dc: &mut [f32], da: &mut [f32]) {
        let hn = c.len();
        assert!(act.len() == 4 * hn && da.len() == 4 * hn && c_prev.len() == hn && dh.len() == hn && dc.len() == hn,
            "cell_backward: lengths differ");
        let (ap, dap, dcp) = (act.as_ptr(), da.as_mut_ptr(), dc.as_mut_ptr());
        let one = S::splat(1.0);
        let mut j = 0;
        while j < hn {
            let lanes = (hn - j).min(S::LANES);
            let ig = ld::<S>(ap.add(j), lanes);
            let fg = ld::<S>(ap.add(hn + j), lanes);
            let gg = ld::<S>(ap.add(2 * hn + j), lanes);
            let og = ld::<S>(ap.add(3 * hn + j), lanes);
            let tc = S::tanh(ld::<S>(c.as_ptr().add(j), lanes));
            let dhv = ld::<S>(dh.as_ptr().add(j), lanes);
            let dcell = S::fma(S::mul(dhv, og), S::sub(one, S::mul(tc, tc)), ld::<S>(dcp.add(j), lanes));
            let cp = ld::<S>(c_prev.as_ptr().add(j), lanes);
            st::<S>(dap.add(j), S::mul(S::mul(dcell, gg), S::mul(ig, S::sub(one, ig))), lanes);
            st::<S>(dap.add(hn + j), S::mul(S::mul(dcell, cp), S::mul(fg, S::sub(one, fg))), lanes);
            st::<S>(dap.add(2 * hn + j), S::mul(S::mul(dcell, ig), S::sub(one, S::mul(gg, gg))), lanes);
            st::<S>(dap.add(3 * hn + j), S::mul(S::mul(dhv, tc), S::mul(og, S::sub(one, og))), lanes);
            st::<S>(dcp.add(j), S::mul(dcell, fg), lanes);
            j += S::LANES;
        }
    }
}

/// Rows per rayon task: all of them for a small problem, else an even share per thread.
fn rows_per_task(d: Dims) -> usize {
    let work = d.batch * d.steps * 4 * d.hidden * d.hidden;
    let threads = rayon::current_num_threads();
    if work < PAR_MIN_LSTM || threads == 1 {
        d.batch
    } else {
        d.batch.div_ceil(threads)
    }
}

/// `(states, gates)` as [`super::reference::forward`].
pub fn forward(isa: Isa, proj: &[f32], w_hh: &[f32], d: Dims, steps: &Steps) -> (Vec<f32>, Vec<f32>) {
    let Dims { batch, steps: t_len, hidden: h } = d;
    let mut states = vec![0.0; batch * t_len * 2 * h];
    let mut gates = vec![0.0; batch * t_len * 4 * h];
    if states.is_empty() {
        return (states, gates);
    }
    // W_hhᵀ as [H, 4H] row-major, so each step's GEMM reads rows of B contiguously.
    let mut w_t = vec![0.0; 4 * h * h];
    for r in 0..4 * h {
        for k in 0..h {
            w_t[k * 4 * h + r] = w_hh[r * h + k];
        }
    }
    let rows = rows_per_task(d);
    states.par_chunks_mut(rows * t_len * 2 * h).zip(gates.par_chunks_mut(rows * t_len * 4 * h)).enumerate().for_each(
        |(task, (st, ga))| {
            let b0 = task * rows;
            let proj = &proj[b0 * t_len * 4 * h..][..ga.len()];
            forward_rows(isa, proj, &w_t, d, steps, b0, st, ga);
        },
    );
    (states, gates)
}

/// Every step of rows `b0..` (as many as `states` holds).
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    isa: Isa,
    proj: &[f32],
    w_t: &[f32],
    d: Dims,
    steps: &Steps,
    b0: usize,
    states: &mut [f32],
    gates: &mut [f32],
) {
    let (t_len, h) = (d.steps, d.hidden);
    let rows = states.len() / (t_len * 2 * h);
    let mut hs = vec![0.0; rows * h];
    let mut cs = vec![0.0; rows * h];
    for i in 0..t_len {
        let s = steps.step(i, t_len);
        for r in 0..rows {
            let at = (r * t_len + s) * 4 * h;
            gates[at..at + 4 * h].copy_from_slice(&proj[at..at + 4 * h]);
        }
        if i > 0 {
            // The state is zero before the first step, so that step has no recurrent term.
            gemm_acc(isa, [rows, h, 4 * h], (&hs, h), (w_t, 4 * h), (&mut gates[s * 4 * h..], t_len * 4 * h));
        }
        for r in 0..rows {
            let (hr, cr) = (&mut hs[r * h..(r + 1) * h], &mut cs[r * h..(r + 1) * h]);
            let act = &mut gates[(r * t_len + s) * 4 * h..][..4 * h];
            if steps.active(b0 + r, s) {
                cell_forward(isa, act, hr, cr);
            } else {
                act.fill(0.0);
            }
            let state = &mut states[(r * t_len + s) * 2 * h..][..2 * h];
            state[..h].copy_from_slice(hr);
            state[h..].copy_from_slice(cr);
        }
    }
}

/// `(d proj, d w_hh)` as [`super::reference::backward`].
pub fn backward(isa: Isa, a: &BackwardArgs<f32>, d: Dims, steps: &Steps) -> (Vec<f32>, Vec<f32>) {
    let Dims { batch, steps: t_len, hidden: h } = d;
    let mut dproj = vec![0.0; batch * t_len * 4 * h];
    let mut dw = vec![0.0; 4 * h * h];
    if dproj.is_empty() {
        return (dproj, dw);
    }
    let rows = rows_per_task(d);
    dproj.par_chunks_mut(rows * t_len * 4 * h).enumerate().for_each(|(task, dp)| {
        let b0 = task * rows;
        let n = dp.len() / (t_len * 4 * h);
        let part = |x, width| rows_of(x, b0, n, t_len * width);
        let args = BackwardArgs {
            grad: part(a.grad, 2 * h),
            states: part(a.states, 2 * h),
            gates: part(a.gates, 4 * h),
            w_hh: a.w_hh,
        };
        backward_rows(isa, &args, d, steps, b0, dp);
    });
    // dW_hh = sum over steps of da_tᵀ h_{t-1}: one GEMM over every (row, step) at once, with the
    // previous hidden states gathered beside their steps (zero before each row's first step).
    let mut h_prev = vec![0.0; batch * t_len * h];
    for b in 0..batch {
        for i in 1..t_len {
            let (s, prev) = (steps.step(i, t_len), steps.step(i - 1, t_len));
            h_prev[(b * t_len + s) * h..][..h].copy_from_slice(&a.states[(b * t_len + prev) * 2 * h..][..h]);
        }
    }
    let da = MatRef::row_major(&dproj, 4 * h).t();
    gemm(4 * h, batch * t_len, h, 1.0, da, MatRef::row_major(&h_prev, h), 0.0, MatMut::row_major(&mut dw, h))
        .expect("dense operands of matching sizes");
    (dproj, dw)
}

/// Rows `b0..b0 + n` of a `[B, row]` slice.
fn rows_of(x: &[f32], b0: usize, n: usize, row: usize) -> &[f32] {
    &x[b0 * row..(b0 + n) * row]
}

/// The backward walk of rows `b0..` (as many as `dproj` holds); `a` holds only those rows.
fn backward_rows(isa: Isa, a: &BackwardArgs<f32>, d: Dims, steps: &Steps, b0: usize, dproj: &mut [f32]) {
    let (t_len, h) = (d.steps, d.hidden);
    let rows = dproj.len() / (t_len * 4 * h);
    let mut dh = vec![0.0; rows * h];
    let mut dc = vec![0.0; rows * h];
    let zeros = vec![0.0; h];
    for i in (0..t_len).rev() {
        let s = steps.step(i, t_len);
        for r in 0..rows {
            let row = r * t_len + s;
            let (dhr, dcr) = (&mut dh[r * h..(r + 1) * h], &mut dc[r * h..(r + 1) * h]);
            axpy_with(isa, 1.0, &a.grad[row * 2 * h..][..h], dhr);
            axpy_with(isa, 1.0, &a.grad[row * 2 * h + h..][..h], dcr);
            if !steps.active(b0 + r, s) {
                continue; // the state passed through unchanged, and so does its gradient
            }
            let c_prev = match i {
                0 => &zeros[..],
                _ => &a.states[(r * t_len + steps.step(i - 1, t_len)) * 2 * h + h..][..h],
            };
            let c = &a.states[row * 2 * h + h..][..h];
            cell_backward(
                isa,
                &a.gates[row * 4 * h..][..4 * h],
                c,
                c_prev,
                dhr,
                dcr,
                &mut dproj[row * 4 * h..][..4 * h],
            );
            // Replaced below by da W_hh; padding rows keep theirs (their da is zero).
            dhr.fill(0.0);
        }
        gemm_acc(isa, [rows, 4 * h, h], (&dproj[s * 4 * h..], t_len * 4 * h), (a.w_hh, h), (&mut dh, h));
    }
}
