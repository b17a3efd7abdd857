//! The SIMD layer: a handful of vector primitives (the [`Simd`] trait) with AVX-512, AVX2+FMA and
//! scalar back ends, the instruction set chosen once at run time, and a few slice-level helpers
//! built on them (`axpy`, `dot`, `scale`, `map`).
//!
//! How the pieces fit (after ggml's `simd-mappings.h`): each back end is a zero-sized type
//! implementing [`Simd`] with `#[inline(always)]` methods over `std::arch` intrinsics. A kernel is
//! written once as a generic `#[inline(always)]` function over `S: Simd` and instantiated per back end
//! inside a `#[target_feature]` entry point (the `simd_dispatch!` macro writes those), so after
//! inlining every intrinsic sits in a function compiled for its instruction set. Rust does not allow
//! `#[inline(always)]` together with `#[target_feature]` (issue #145574), hence this split.
//!
//! Choosing the back end: [`isa()`] is detected once (`is_x86_feature_detected!`) and can be lowered
//! with `KILN_SIMD=avx512|avx2|scalar`. Kernels that tests call take an explicit [`Isa`] (so tests
//! running in parallel threads can each force a path); an `Isa` the CPU lacks falls back to the best
//! one it has ([`Isa::usable`]), so the safe functions here never execute an unsupported instruction.

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod machine;
pub mod peak;
pub mod scalar;
mod slice;
mod vector;
mod vectorized;

#[cfg(target_arch = "x86_64")]
pub use avx2::Avx2Fma;
#[cfg(target_arch = "x86_64")]
pub use avx512::Avx512;
pub use scalar::Scalar;
pub use slice::{
    axpby, axpby_with, axpy, axpy_with, dot, dot_with, map, map_uninit, map_with, scale, scale_with, MapFn,
};
pub use vector::{Simd, EXP_MAX_REL_ERR, SIGMOID_MAX_ABS_ERR, TANH_MAX_ABS_ERR};
pub(crate) use vectorized::vectorized;

use std::sync::OnceLock;

/// An instruction set a CPU kernel can run on, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F: 16 f32 lanes, 32 vector registers, masked tails.
    Avx512,
    /// AVX2 with FMA3: 8 f32 lanes, 16 vector registers.
    Avx2Fma,
    /// Plain Rust on one lane; builds on every target.
    Scalar,
}

impl Isa {
    /// All back ends, best first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2Fma, Isa::Scalar];

    /// Whether this CPU can run `self` (cached after the first call).
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            _ => detected() <= self.rank(),
        }
    }

    /// `self` if supported, else the best supported back end below it.
    pub fn usable(self) -> Isa {
        if self.is_supported() {
            self
        } else {
            Isa::from_rank(detected().max(self.rank()))
        }
    }

    /// f32 lanes per vector register.
    pub fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2Fma => 8,
            Isa::Scalar => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2Fma => "avx2",
            Isa::Scalar => "scalar",
        }
    }

    /// Parses the `KILN_SIMD` spelling (`avx512`, `avx2`, `scalar`).
    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "avx512" | "avx512f" => Some(Isa::Avx512),
            "avx2" | "avx2fma" | "fma" => Some(Isa::Avx2Fma),
            "scalar" | "none" => Some(Isa::Scalar),
            _ => None,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Isa::Avx512 => 0,
            Isa::Avx2Fma => 1,
            Isa::Scalar => 2,
        }
    }

    fn from_rank(r: u8) -> Isa {
        match r {
            0 => Isa::Avx512,
            1 => Isa::Avx2Fma,
            _ => Isa::Scalar,
        }
    }
}

/// The rank of the best instruction set this CPU has (0 = AVX-512).
fn detected() -> u8 {
    static BEST: OnceLock<u8> = OnceLock::new();
    *BEST.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return Isa::Avx512.rank();
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Isa::Avx2Fma.rank();
            }
        }
        Isa::Scalar.rank()
    })
}

/// The best instruction set this CPU supports, ignoring `KILN_SIMD`.
pub fn detect() -> Isa {
    Isa::from_rank(detected())
}

/// The instruction set kernels use by default: [`detect`]ed once, lowered by `KILN_SIMD` if set
/// (asking for more than the CPU has falls back to what it has; an unknown value is ignored).
pub fn isa() -> Isa {
    static CHOSEN: OnceLock<Isa> = OnceLock::new();
    *CHOSEN.get_or_init(|| match std::env::var("KILN_SIMD").ok().as_deref().and_then(Isa::parse) {
        Some(wanted) => wanted.usable(),
        None => detect(),
    })
}

/// Defines a safe function `$name(isa: Isa, args..) -> ret` from a body generic over `$S: Simd`:
/// the body is compiled once per back end inside a `#[target_feature]` function and the match on
/// `isa.usable()` picks one, so an unsupported `isa` falls back instead of faulting.
#[macro_export]
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident<$S:ident>($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name(isa: $crate::simd::Isa, $($arg: $ty),*) $(-> $ret)? {
            // Edition 2021: the body of an `unsafe fn` is an unsafe context.
            #[inline(always)]
            unsafe fn generic<$S: $crate::simd::Simd>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? { generic::<$crate::simd::Avx512>($($arg),*) }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? { generic::<$crate::simd::Avx2Fma>($($arg),*) }
            // SAFETY: `usable()` only returns an Isa this CPU supports, so the target features the
            // chosen instantiation was compiled for are present.
            match isa.usable() {
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Isa::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Isa::Avx2Fma => unsafe { avx2($($arg),*) },
                _ => unsafe { generic::<$crate::simd::Scalar>($($arg),*) },
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_never_exceeds_the_cpu() {
        for isa in Isa::ALL {
            assert!(isa.usable().is_supported());
            if isa.is_supported() {
                assert_eq!(isa.usable(), isa);
            }
        }
        assert!(Isa::Scalar.is_supported());
        assert!(isa().is_supported());
        assert_eq!(Isa::parse("AVX2"), Some(Isa::Avx2Fma));
        assert_eq!(Isa::parse("sse9"), None);
    }

    #[test]
    fn detection_matches_the_cpu_flags() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Isa::Avx512.is_supported(), is_x86_feature_detected!("avx512f"));
        println!("detected {:?}, default {:?}", detect(), isa());
    }
}
