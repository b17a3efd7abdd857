//! The packed, cache-blocked GEMM on one thread (the GotoBLAS / BLIS loop nest, with A and B in the
//! roles that suit vectors along N):
//!
//! ```text
//! for ic in 0..m step MC            packed A block (MC x KC) -> L3/L2
//!   for pc in 0..k step KC
//!     pack A[ic.., pc..]
//!     for jc in 0..n step NC        packed B block (KC x NC) -> L2
//!       pack B[pc.., jc..]          (or read it in place, see below)
//!       for ir in 0..MC step MR     A micro-panel (MR x KC) -> L1
//!         for jr in 0..NC step NR   B micro-panel streamed from L2
//!           micro-kernel: C[ir.., jr..] (MR x NR) += A_panel B_panel
//! ```
//!
//! B is read in place, unpacked, when its rows are contiguous and the problem is short (m <= 128):
//! each element of B is then used only 2m times, so copying it would cost a large share of the run
//! (W1's m = 64 input-gradient GEMMs run 9% faster unpacked: 105 -> 114 GFLOP/s), while for tall
//! problems packing pays for itself in cache and TLB locality.
//! The last, partial NR panel is always packed (zero padding keeps the kernel branch-free).
//!
//! Packing buffers are per thread and grow-only, so steady-state calls allocate nothing (fresh pages
//! cost ~3 s/GiB to fault in on these machines).

use super::blocking::Blocking;
use super::microkernel::{self, Block};
use super::pack::pack_panels;
use super::Problem;
use crate::simd::Isa;
use std::cell::RefCell;

/// Tallest problem for which a row-contiguous B is read in place instead of packed.
pub(crate) const DIRECT_B_MAX_M: usize = 128;

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; 16]);

/// A grow-only, 64-byte aligned f32 buffer.
#[derive(Default)]
struct Buf(Vec<Line>);

impl Buf {
    fn get(&mut self, len: usize) -> *mut f32 {
        let lines = len.div_ceil(16);
        if self.0.len() < lines {
            self.0.resize(lines, Line([0.0; 16]));
        }
        self.0.as_mut_ptr() as *mut f32
    }
}

thread_local! {
    static BUFFERS: RefCell<(Buf, Buf)> = RefCell::new((Buf::default(), Buf::default()));
}

/// Runs `f` with this thread's packing buffers, or fresh ones if they are in use (re-entry).
fn with_buffers<R>(f: impl FnOnce(&mut Buf, &mut Buf) -> R) -> R {
    BUFFERS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let (a, b) = &mut *bufs;
            f(a, b)
        }
        Err(_) => f(&mut Buf::default(), &mut Buf::default()),
    })
}

/// `C = alpha A B + beta C` on this thread, `m, k, n >= 1`.
///
/// # Safety
/// The views must be valid for the extents (`a`: m x k, `b`: k x n, `c`: m x n, C not overlapping
/// itself nor A or B).
pub(crate) unsafe fn gemm(isa: Isa, p: Problem) {
    let Problem { m, k, n, alpha, a, b, beta, c } = p;
    let kern = microkernel::select(isa, m);
    let (mr, nr) = (kern.mr, kern.nr);
    let bl = Blocking::new(m, k, n, mr, nr);
    let direct_b = b.cs == 1 && m <= DIRECT_B_MAX_M;
    with_buffers(|abuf, bbuf| {
        let ap = abuf.get(bl.mc * bl.kc);
        let bp = bbuf.get(bl.kc * bl.nc);
        for ic in (0..m).step_by(bl.mc) {
            let mc = bl.mc.min(m - ic);
            for pc in (0..k).step_by(bl.kc) {
                let kc = bl.kc.min(k - pc);
                pack_panels(isa, mr, kc, mc, a.at(ic, pc).t(), ap);
                let beta = if pc == 0 { beta } else { 1.0 };
                for jc in (0..n).step_by(bl.nc) {
                    let nc = bl.nc.min(n - jc);
                    let blk = Block {
                        mc,
                        nc,
                        kc,
                        a: ap,
                        b: bp,
                        b_rs: nr,
                        b_ps: kc * nr,
                        alpha,
                        beta,
                        c: c.at(ic, jc).ptr,
                        c_rs: c.rs,
                        c_cs: c.cs,
                    };
                    if direct_b {
                        let full = nc / nr * nr;
                        let bsrc = b.at(pc, jc);
                        if full > 0 {
                            (kern.run)(&Block { nc: full, b: bsrc.ptr, b_rs: b.rs, b_ps: nr, ..blk });
                        }
                        if full < nc {
                            pack_panels(isa, nr, kc, nc - full, b.at(pc, jc + full), bp);
                            (kern.run)(&Block { nc: nc - full, c: c.at(ic, jc + full).ptr, ..blk });
                        }
                    } else {
                        pack_panels(isa, nr, kc, nc, b.at(pc, jc), bp);
                        (kern.run)(&blk);
                    }
                }
            }
        }
    })
}
