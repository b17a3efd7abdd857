//! The operand views GEMM takes and how a call is validated: strided matrix views over slices
//! (`MatRef`, `MatMut`), their raw-pointer twins the kernels work on, and the checks that turn a bad
//! call into a [`GemmError`] instead of an out-of-bounds access.

use std::fmt;

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    pub fn new(data: &'a [T], rs: usize, cs: usize) -> Self {
        MatRef { data, rs, cs }
    }
    /// A row-major matrix with `cols` columns (row stride `cols`).
    pub fn row_major(data: &'a [T], cols: usize) -> Self {
        MatRef { data, rs: cols, cs: 1 }
    }
    /// A column-major matrix with `rows` rows.
    pub fn col_major(data: &'a [T], rows: usize) -> Self {
        MatRef { data, rs: 1, cs: rows }
    }
    /// The transpose: the same data with the strides swapped.
    pub fn t(self) -> Self {
        MatRef { data: self.data, rs: self.cs, cs: self.rs }
    }
}

/// A mutable strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    pub data: &'a mut [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatMut<'a, T> {
    pub fn new(data: &'a mut [T], rs: usize, cs: usize) -> Self {
        MatMut { data, rs, cs }
    }
    pub fn row_major(data: &'a mut [T], cols: usize) -> Self {
        MatMut { data, rs: cols, cs: 1 }
    }
    pub fn col_major(data: &'a mut [T], rows: usize) -> Self {
        MatMut { data, rs: 1, cs: rows }
    }
    pub fn t(self) -> Self {
        MatMut { data: self.data, rs: self.cs, cs: self.rs }
    }
}

/// A GEMM call whose views do not fit their slices or whose output overlaps itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GemmError {
    /// `operand` ("a", "b" or "c") as a `rows x cols` view with strides `(rs, cs)` reaches past the
    /// `len` elements it was given (or its extent overflows usize).
    OutOfBounds { operand: &'static str, rows: usize, cols: usize, rs: usize, cs: usize, len: usize },
    /// C's strides would make two of its elements share memory.
    OverlappingOutput { rows: usize, cols: usize, rs: usize, cs: usize },
}

impl fmt::Display for GemmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GemmError::OutOfBounds { operand, rows, cols, rs, cs, len } => write!(
                f,
                "gemm: operand {operand} ({rows}x{cols}, strides ({rs}, {cs})) does not fit its {len} elements"
            ),
            GemmError::OverlappingOutput { rows, cols, rs, cs } => {
                write!(f, "gemm: output ({rows}x{cols}, strides ({rs}, {cs})) would overlap itself")
            }
        }
    }
}

impl std::error::Error for GemmError {}

impl From<GemmError> for kiln_tensor::Error {
    fn from(e: GemmError) -> Self {
        kiln_tensor::Error::invalid("gemm", e.to_string())
    }
}

/// Checks that a `rows x cols` view with strides `(rs, cs)` fits `len` elements.
fn check_extent(
    operand: &'static str,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
    len: usize,
) -> Result<(), GemmError> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let err = GemmError::OutOfBounds { operand, rows, cols, rs, cs, len };
    let last = (rows - 1).checked_mul(rs).and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    match last {
        Some(last) if last < len => Ok(()),
        _ => Err(err),
    }
}

/// Checks that no two elements of a `rows x cols` output share memory. Sufficient, not necessary:
/// one dimension must nest inside the other (`rs >= cols * cs` or `cs >= rows * rs`), which every
/// real layout (row-major, column-major, sub-matrix, transposed) satisfies.
fn check_output(rows: usize, cols: usize, rs: usize, cs: usize) -> Result<(), GemmError> {
    let ok = match (rows > 1, cols > 1) {
        _ if rows == 0 || cols == 0 => true,
        (false, false) => true,
        (true, false) => rs > 0,
        (false, true) => cs > 0,
        (true, true) => rs > 0 && cs > 0 && (rs >= cols.saturating_mul(cs) || cs >= rows.saturating_mul(rs)),
    };
    if ok {
        Ok(())
    } else {
        Err(GemmError::OverlappingOutput { rows, cols, rs, cs })
    }
}

pub(crate) fn check<T>(
    m: usize,
    k: usize,
    n: usize,
    a: &MatRef<T>,
    b: &MatRef<T>,
    c: &MatMut<T>,
) -> Result<(), GemmError> {
    check_extent("a", m, k, a.rs, a.cs, a.data.len())?;
    check_extent("b", k, n, b.rs, b.cs, b.data.len())?;
    check_extent("c", m, n, c.rs, c.cs, c.data.len())?;
    check_output(m, n, c.rs, c.cs)
}

/// A strided read-only matrix on raw pointers (the validated form the kernels work on).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawMat {
    pub ptr: *const f32,
    pub rs: usize,
    pub cs: usize,
}

/// A strided output matrix on raw pointers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawMatMut {
    pub ptr: *mut f32,
    pub rs: usize,
    pub cs: usize,
}

// SAFETY: the views are plain addresses; the GEMM hands disjoint parts of C to different threads and
// only reads A and B.
unsafe impl Send for RawMat {}
unsafe impl Sync for RawMat {}
unsafe impl Send for RawMatMut {}
unsafe impl Sync for RawMatMut {}

impl RawMat {
    /// The view starting at `(i, j)` (pointer arithmetic only).
    pub(crate) fn at(self, i: usize, j: usize) -> RawMat {
        RawMat { ptr: self.ptr.wrapping_add(i * self.rs + j * self.cs), ..self }
    }
    pub(crate) fn t(self) -> RawMat {
        RawMat { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }
}

impl RawMatMut {
    pub(crate) fn at(self, i: usize, j: usize) -> RawMatMut {
        RawMatMut { ptr: self.ptr.wrapping_add(i * self.rs + j * self.cs), ..self }
    }
    pub(crate) fn t(self) -> RawMatMut {
        RawMatMut { ptr: self.ptr, rs: self.cs, cs: self.rs }
    }
}

/// One SGEMM on raw views, `C = alpha A B + beta C` with A `m x k`, B `k x n`, C `m x n`: what the
/// internal layers (`kiln_sgemm` in mod.rs, `parallel.rs`, `driver.rs`) hand down to each other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Problem {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub alpha: f32,
    pub a: RawMat,
    pub b: RawMat,
    pub beta: f32,
    pub c: RawMatMut,
}

impl Problem {
    /// Columns `lo..lo + len` of C (and of B).
    pub(crate) fn cols(self, lo: usize, len: usize) -> Problem {
        Problem { n: len, b: self.b.at(0, lo), c: self.c.at(0, lo), ..self }
    }

    /// Rows `lo..lo + len` of C (and of A).
    pub(crate) fn rows(self, lo: usize, len: usize) -> Problem {
        Problem { m: len, a: self.a.at(lo, 0), c: self.c.at(lo, 0), ..self }
    }

    /// `Cᵀ = Bᵀ Aᵀ`: the same product with rows and columns swapped (views only).
    pub(crate) fn transposed(self) -> Problem {
        Problem { m: self.n, n: self.m, a: self.b.t(), b: self.a.t(), c: self.c.t(), ..self }
    }
}
