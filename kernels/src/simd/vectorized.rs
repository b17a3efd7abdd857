//! The SIMD layer's second mechanism, beside the hand-written [`crate::simd::Simd`] kernels:
//! plain loops compiled for the best instruction set the CPU has and left to the compiler's
//! auto-vectoriser. Used where the loop is simple enough that the compiler does as well as
//! intrinsics would (elementwise maps, embedding rows, optimizer updates); the `Simd` trait is for
//! kernels that need control over the instructions (GEMM, approximated exp/tanh, reductions).
//! Must not: change a result with the ISA (Rust never contracts `a * b + c` into an FMA).

use super::Isa;

/// Runs `f` (pass an `#[inline(always)]` closure) inlined into a function compiled for the best
/// instruction set [`simd::isa`] allows, so plain loops in it are auto-vectorised with AVX-512 or
/// AVX2. Rust never contracts `a * b + c` into an FMA, so results do not depend on the ISA.
#[inline]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
    match super::isa() {
        // SAFETY: `isa()` only returns an instruction set this CPU supports.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512(f) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => unsafe { avx2(f) },
        _ => f(),
    }
}
