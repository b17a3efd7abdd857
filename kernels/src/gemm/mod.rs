//! GEMM, `C = alpha A B + beta C`, on strided matrices: our own packed, cache-blocked SGEMM with
//! AVX-512 / AVX2 FMA micro-kernels, beside `matrixmultiply` (the baseline and fallback) and a naive
//! reference (the oracle). Every transpose combination is a choice of strides, as in BLAS with
//! `rs`/`cs` (the `matrixmultiply` convention): element `(i, j)` of a view is `data[i * rs + j * cs]`,
//! so `Aᵀ` is the same data with the strides swapped ([`MatRef::t`]); nothing is ever transposed in
//! memory. Strides may be 0 in A and B (broadcast); C's elements must not overlap.
//!
//! Choosing the implementation: [`GemmImpl`], process-wide from `KILN_GEMM=kiln|matrixmultiply|reference`
//! or [`set_gemm_impl`], or per call through [`GemmOptions`] (which also forces the SIMD back end and
//! the thread count, so tests running in parallel can each exercise one path).
//!
//! Inside `Kiln` (files in this folder): the call is validated (`view.rs`), oriented so C's rows are
//! contiguous (a column-major C is computed as `Cᵀ = Bᵀ Aᵀ`), degenerate shapes go to `skinny.rs`
//! (n = 1, m = 1, k = 1), and the rest is split over threads (`parallel.rs`) into the packed loop nest
//! (`driver.rs`, block sizes in `blocking.rs`, packing in `pack.rs`, kernels in `microkernel.rs`).
//!
//! The entry points are [`gemm`] / [`gemm_with`] for either float type (`generic.rs`): f64, used on
//! CPU for gradient checks where accuracy matters more than speed, runs on `matrixmultiply`'s f64
//! kernels under both `Kiln` and `MatrixMultiply`; `Reference` is the naive loop.

mod blocking;
mod driver;
mod generic;
mod microkernel;
mod pack;
mod parallel;
pub mod reference;
mod skinny;
mod view;

use crate::simd::{self, Isa};
use kiln_tensor::Float;
use std::sync::atomic::{AtomicU8, Ordering};

pub use blocking::{KC, MC, NC};
pub use generic::{gemm, gemm_with, product, view_at, Gemm};
pub(crate) use parallel::threads_for;
use view::check;
pub use view::{GemmError, MatMut, MatRef};
pub(crate) use view::{Problem, RawMat, RawMatMut};

/// Which GEMM runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GemmImpl {
    /// Ours: packed, cache-blocked, SIMD micro-kernels, rayon, skinny-shape paths.
    Kiln,
    /// The `matrixmultiply` crate (its own threads: `MATMUL_NUM_THREADS`).
    MatrixMultiply,
    /// The naive triple loop.
    Reference,
}

impl GemmImpl {
    pub const ALL: [GemmImpl; 3] = [GemmImpl::Kiln, GemmImpl::MatrixMultiply, GemmImpl::Reference];

    pub fn name(self) -> &'static str {
        match self {
            GemmImpl::Kiln => "kiln",
            GemmImpl::MatrixMultiply => "matrixmultiply",
            GemmImpl::Reference => "reference",
        }
    }

    /// Parses the `KILN_GEMM` spelling.
    pub fn parse(s: &str) -> Option<GemmImpl> {
        GemmImpl::ALL.into_iter().find(|g| g.name().eq_ignore_ascii_case(s.trim()))
    }
}

static SELECTED: AtomicU8 = AtomicU8::new(0);

/// The process-wide GEMM: set by [`set_gemm_impl`], else read once from `KILN_GEMM` (default `kiln`).
pub fn gemm_impl() -> GemmImpl {
    match SELECTED.load(Ordering::Relaxed) {
        0 => {
            let chosen = std::env::var("KILN_GEMM").ok().as_deref().and_then(GemmImpl::parse).unwrap_or(GemmImpl::Kiln);
            set_gemm_impl(chosen);
            chosen
        }
        v => GemmImpl::ALL[v as usize - 1],
    }
}

/// Selects the GEMM for the whole process.
pub fn set_gemm_impl(g: GemmImpl) {
    let v = GemmImpl::ALL.iter().position(|x| *x == g).expect("listed") as u8 + 1;
    SELECTED.store(v, Ordering::Relaxed);
}

/// Per-call choices; `GemmOptions::default()` is the process-wide setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmOptions {
    pub imp: GemmImpl,
    /// The SIMD back end for `Kiln` (one the CPU lacks falls back, see [`Isa::usable`]).
    pub isa: Isa,
    /// Upper bound on threads for `Kiln`; 0 = rayon's current pool size.
    pub threads: usize,
}

impl Default for GemmOptions {
    fn default() -> Self {
        GemmOptions { imp: gemm_impl(), isa: simd::isa(), threads: 0 }
    }
}

/// The f32 GEMM on raw pointers, for callers that have already validated their layouts
/// ([`gemm_with`] checks, then calls this).
///
/// # Safety
/// For every `i < m`, `p < k`, `j < n`: `a + i*rsa + p*csa`, `b + p*rsb + j*csb` must be readable and
/// `c + i*rsc + j*csc` writable, with distinct `(i, j)` naming distinct elements of C and C not
/// overlapping A or B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_unchecked(
    opts: GemmOptions,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: *const f32,
    rsa: usize,
    csa: usize,
    b: *const f32,
    rsb: usize,
    csb: usize,
    beta: f32,
    c: *mut f32,
    rsc: usize,
    csc: usize,
) {
    // The GEMM is also called directly (the lab, users), not only through `backend()`.
    crate::denormals::ensure_current_thread();
    let (a, b, c) = (
        RawMat { ptr: a, rs: rsa, cs: csa },
        RawMat { ptr: b, rs: rsb, cs: csb },
        RawMatMut { ptr: c, rs: rsc, cs: csc },
    );
    match opts.imp {
        GemmImpl::Kiln => kiln_sgemm(opts.isa, opts.threads, Problem { m, k, n, alpha, a, b, beta, c }),
        GemmImpl::MatrixMultiply => {
            if m > 0 && n > 0 {
                let s = |x: usize| x as isize;
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    alpha,
                    a.ptr,
                    s(rsa),
                    s(csa),
                    b.ptr,
                    s(rsb),
                    s(csb),
                    beta,
                    c.ptr,
                    s(rsc),
                    s(csc),
                )
            }
        }
        GemmImpl::Reference => {
            reference_raw(m, k, n, alpha, a.ptr, (rsa, csa), b.ptr, (rsb, csb), beta, c.ptr, (rsc, csc))
        }
    }
}

/// The reference loop on raw pointers (slices rebuilt over exactly the validated extents).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn reference_raw<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    a: *const T,
    sa: (usize, usize),
    b: *const T,
    sb: (usize, usize),
    beta: T,
    c: *mut T,
    sc: (usize, usize),
) {
    let extent = |r: usize, c: usize, (rs, cs): (usize, usize)| {
        if r == 0 || c == 0 {
            0
        } else {
            (r - 1) * rs + (c - 1) * cs + 1
        }
    };
    let a = std::slice::from_raw_parts(a, extent(m, k, sa));
    let b = std::slice::from_raw_parts(b, extent(k, n, sb));
    let c = std::slice::from_raw_parts_mut(c, extent(m, n, sc));
    reference::gemm(m, k, n, alpha, (a, sa.0, sa.1), (b, sb.0, sb.1), beta, (c, sc.0, sc.1));
}

/// Our SGEMM: trivial cases, orientation, skinny shapes, then the threaded packed path.
unsafe fn kiln_sgemm(isa: Isa, threads: usize, p: Problem) {
    let Problem { m, k, n, alpha, beta, c, .. } = p;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || alpha == 0.0 {
        for i in 0..m {
            for j in 0..n {
                let out = c.ptr.add(i * c.rs + j * c.cs);
                *out = if beta == 0.0 { 0.0 } else { beta * *out };
            }
        }
        return;
    }
    // Vectors run along C's rows: if C is column-major, compute Cᵀ = Bᵀ Aᵀ instead. A single row
    // (m == 1) is likewise turned into a single column, so both GEMV cases meet in `n == 1`.
    let col_major = c.cs != 1 && c.rs == 1;
    let p = if n > 1 && (col_major || m == 1) { p.transposed() } else { p };
    let Problem { m, n, a, b, c, .. } = p;
    if n == 1 {
        let x = skinny::RawVec { ptr: b.ptr, stride: b.rs };
        return skinny::gemv(isa, m, k, alpha, a, x, beta, c.ptr, c.rs);
    }
    if k == 1 {
        let (x, y) = (skinny::RawVec { ptr: a.ptr, stride: a.rs }, skinny::RawVec { ptr: b.ptr, stride: b.cs });
        return skinny::outer(isa, m, n, alpha, x, y, beta, c);
    }
    parallel::gemm(isa, threads, p)
}

#[cfg(test)]
mod tests;
