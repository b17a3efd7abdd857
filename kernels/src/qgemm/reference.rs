//! The integer GEMM's oracle: a triple loop over the unpacked operands, one exact i32 sum per output,
//! then the shared epilogue. Must not: pack, block, vectorize or thread (it is what those are tested
//! against).

use super::epilogue::{store_tile, Epilogue, Output, TileOrder};
use super::{check_k, check_view, OP};
use crate::gemm::{MatMut, MatRef};
use kiln_tensor::{Error, Result};

/// `c[i, j] = Σ_p a[i, p] b[p, j]` in exact 32-bit integers; operands as `(data, rs, cs)`.
pub fn accumulate(m: usize, k: usize, n: usize, a: (&[u8], usize, usize), b: (&[i8], usize, usize), c: MatMut<i32>) {
    for i in 0..m {
        for j in 0..n {
            let mut sum = 0i32;
            for p in 0..k {
                sum += a.0[i * a.1 + p * a.2] as i32 * b.0[p * b.1 + j * b.2] as i32;
            }
            c.data[i * c.rs + j * c.cs] = sum;
        }
    }
}

/// `Σ_p b[p, j]` for every column: the zero-point correction's other factor.
pub fn column_sums(k: usize, n: usize, b: MatRef<i8>) -> Vec<i32> {
    (0..n).map(|j| (0..k).map(|p| b.data[p * b.rs + j * b.cs] as i32).sum()).collect()
}

/// The whole integer GEMM, `out = epilogue(A · B)` with `A: m x k`, `B: k x n` unpacked.
pub fn qgemm(
    m: usize,
    k: usize,
    n: usize,
    a: MatRef<u8>,
    b: MatRef<i8>,
    epilogue: &Epilogue,
    mut out: Output,
) -> Result<()> {
    check_k(k)?;
    check_view("a (activations)", m, k, a.rs, a.cs, a.data.len())?;
    check_view("b (weights)", k, n, b.rs, b.cs, b.data.len())?;
    epilogue.check(n)?;
    out.check(m, n)?;
    if m == 0 || n == 0 {
        return Ok(());
    }
    let len = m.checked_mul(n).ok_or_else(|| Error::SizeOverflow { op: OP, what: format!("an {m}x{n} output") })?;
    let mut acc = vec![0i32; len];
    accumulate(m, k, n, (a.data, a.rs, a.cs), (b.data, b.rs, b.cs), MatMut::row_major(&mut acc, n));
    let colsum = column_sums(k, n, b);
    // SAFETY: the output view was checked for m x n; acc holds m rows of n.
    unsafe { store_tile(epilogue, &colsum, &acc, (TileOrder::RowsAreI, n), (0, 0), (m, n), out.raw()) };
    Ok(())
}
