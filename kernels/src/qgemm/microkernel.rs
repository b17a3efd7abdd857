//! The integer GEMM's micro-kernels: the [`MicroKernel`] contract, the scalar kernel, each version's
//! tile shape, and the per-version entry points, compiled for their instruction sets, that the
//! driver's threads call. The SIMD kernels are in `x86.rs`. Must not: pack, or touch the output (the
//! kernels only fill an accumulator tile; the epilogue writes).

use super::driver::{self, Ctx};
use super::pack::Layout;
use super::QIsa;

/// The most accumulators a tile has (8 x 32 for AVX-512): the driver's stack tile size.
pub(crate) const MAX_TILE: usize = 256;

/// A version's register tile and packed layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub mr: usize,
    pub nr: usize,
    pub layout: Layout,
}

/// One register-blocked kernel: `acc[r][c] = Σ_g dot(a[g][r], b[g][c])` over `groups` packed words.
pub(crate) trait MicroKernel {
    const MR: usize;
    const NR: usize;
    const LAYOUT: Layout;

    /// Fills `acc` (`MR x NR`, row-major) from an A micro-panel and a B panel.
    ///
    /// # Safety
    /// `a` must hold `groups * MR` words, `b` `groups * NR`, `acc` `MR * NR`; the CPU must support
    /// the kernel's instructions.
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32);

    /// Whether `tile` is exact only for A bytes below 128 (`Avx2U7`): the driver then checks each
    /// packed A micro-panel and runs [`MicroKernel::tile_wide`] on one with a byte >= 128.
    const SEVEN_BIT: bool = false;

    /// [`MicroKernel::tile`] for any A bytes (the same contract); only `SEVEN_BIT` kernels differ.
    ///
    /// # Safety
    /// As for `tile`.
    #[inline(always)]
    unsafe fn tile_wide(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        Self::tile(groups, a, b, acc)
    }
}

/// The portable kernel on [`Layout::Quad`] words: four u8 x s8 products per word pair.
pub(crate) struct ScalarKernel;

impl MicroKernel for ScalarKernel {
    const MR: usize = 4;
    const NR: usize = 16;
    const LAYOUT: Layout = Layout::Quad;

    #[inline(always)]
    unsafe fn tile(groups: usize, a: *const u32, b: *const u32, acc: *mut i32) {
        let mut sums = [[0i32; Self::NR]; Self::MR];
        for g in 0..groups {
            let brow = std::slice::from_raw_parts(b.add(g * Self::NR), Self::NR);
            for (r, row) in sums.iter_mut().enumerate() {
                let aw = (*a.add(g * Self::MR + r)).to_le_bytes();
                for (s, bw) in row.iter_mut().zip(brow) {
                    let bw = bw.to_le_bytes();
                    *s += (0..4).map(|q| aw[q] as i32 * bw[q] as i8 as i32).sum::<i32>();
                }
            }
        }
        std::ptr::copy_nonoverlapping(sums.as_ptr() as *const i32, acc, Self::MR * Self::NR);
    }
}

/// The tile shape and layout `isa`'s kernel packs for (`isa` must be usable).
pub(crate) fn shape(isa: QIsa) -> Shape {
    fn of<K: MicroKernel>() -> Shape {
        Shape { mr: K::MR, nr: K::NR, layout: K::LAYOUT }
    }
    match isa {
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx512Vnni => of::<super::x86::Avx512Vnni>(),
        #[cfg(target_arch = "x86_64")]
        QIsa::AvxVnni => of::<super::x86::AvxVnni>(),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx2 => of::<super::x86::Avx2>(),
        #[cfg(target_arch = "x86_64")]
        QIsa::Avx2U7 => of::<super::x86::Avx2U7>(),
        _ => of::<ScalarKernel>(),
    }
}

/// A thread's share of the work: tasks `range` of `ctx`.
pub(crate) type TaskFn = unsafe fn(&Ctx, std::ops::Range<usize>);

/// The entry point for `isa`, its driver loop compiled with the version's target features so the
/// kernel and the epilogue inline into code for that instruction set.
pub(crate) fn task_fn(isa: QIsa) -> TaskFn {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
        unsafe fn avx512_vnni(ctx: &Ctx, range: std::ops::Range<usize>) {
            driver::run_tasks::<super::x86::Avx512Vnni>(ctx, range)
        }
        #[target_feature(enable = "avx2,avxvnni")]
        unsafe fn avx_vnni(ctx: &Ctx, range: std::ops::Range<usize>) {
            driver::run_tasks::<super::x86::AvxVnni>(ctx, range)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(ctx: &Ctx, range: std::ops::Range<usize>) {
            driver::run_tasks::<super::x86::Avx2>(ctx, range)
        }
        #[target_feature(enable = "avx2")]
        unsafe fn avx2_u7(ctx: &Ctx, range: std::ops::Range<usize>) {
            driver::run_tasks::<super::x86::Avx2U7>(ctx, range)
        }
        match isa {
            QIsa::Avx512Vnni => return avx512_vnni,
            QIsa::AvxVnni => return avx_vnni,
            QIsa::Avx2 => return avx2,
            QIsa::Avx2U7 => return avx2_u7,
            QIsa::Scalar => {}
        }
    }
    unsafe fn scalar(ctx: &Ctx, range: std::ops::Range<usize>) {
        driver::run_tasks::<ScalarKernel>(ctx, range)
    }
    let _ = isa;
    scalar
}
