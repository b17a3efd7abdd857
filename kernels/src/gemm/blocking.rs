//! Cache blocking for the packed f32 GEMM: how big the packed blocks of A and B are, chosen from this
//! machine's caches (AMD EPYC Zen 4, per core: L1d 32 KiB 8-way, L2 1 MiB 8-way; L3 32 MiB shared;
//! read from /sys/devices/system/cpu/cpu0/cache).
//!
//! The loops (see `driver.rs`) keep one MR x KC micro-panel of packed A in L1 while the micro-kernel
//! streams KC x NR micro-panels of packed B past it, so:
//! - KC = 256: the A micro-panel is MR x 256 x 4 B = 12 KiB for MR = 12 (8 KiB for MR = 8), well
//!   inside L1 beside the streamed B rows; one KC pass is long enough (256 FMA steps) that the C tile
//!   load/store per pass is under 2% of the work.
//! - NC = 512: the packed B block, KC x NC x 4 B = 512 KiB, fills half of L2, so it stays there while
//!   every MR-row panel of A sweeps across it.
//! - MC = 960: the packed A block, MC x KC x 4 B = 960 KiB, lives in L3 (and partly L2); B is re-packed
//!   once per MC rows, so a large MC amortises that. 960 is a multiple of every MR used (4, 6, 8, 12).
//!
//! Blocks are balanced rather than cut greedily: k = 784 gives 4 passes of 196, not 3 x 256 + 16.
//! The kernel needs about 5 bytes per cycle of B from L2 at peak (a 128-byte row of B per 24 FMA
//! cycles), far below what Zen 4 delivers, so these sizes are not knife-edge. Measured (one thread,
//! 512^2 / 1024^2 / 2048^2, GFLOP/s): MC/KC/NC = 960/256/512 gave 110/104/100; 4096/256/512
//! 106/101/100; 4096/384/256 109/103/98; 4096/512/256 106/104/101; 4096/256/1024 99/100/98;
//! 4096/192/768 103/98/95 — flat within the noise of a shared machine except NC = 1024 (B block no
//! longer fits L2 beside A) and KC = 192 (C touched more often), so the cache-derived values stay.
//! The benchmark (`cargo bench -p kiln-kernels --bench gemm`) is the judge.

pub const KC: usize = 256;
pub const NC: usize = 512;
pub const MC: usize = 960;

/// Block sizes for one problem: `kc` balanced over ceil(k / KC) passes, `mc` and `nc` balanced and
/// rounded up to whole micro-tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blocking {
    pub mc: usize,
    pub kc: usize,
    pub nc: usize,
}

/// `total` split into ceil(total / max) near-equal parts, each rounded up to a multiple of `unit`.
fn balanced(total: usize, max: usize, unit: usize) -> usize {
    let parts = total.div_ceil(max).max(1);
    total.div_ceil(parts).div_ceil(unit) * unit
}

impl Blocking {
    pub(crate) fn new(m: usize, k: usize, n: usize, mr: usize, nr: usize) -> Blocking {
        Blocking { mc: balanced(m, MC, mr), kc: balanced(k, KC, 1), nc: balanced(n, NC, nr) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_balanced_whole_tiles() {
        assert_eq!(Blocking::new(64, 784, 512, 8, 32), Blocking { mc: 64, kc: 196, nc: 512 });
        assert_eq!(Blocking::new(2048, 2048, 2048, 12, 32), Blocking { mc: 684, kc: 256, nc: 512 });
        assert_eq!(Blocking::new(7, 1, 33, 12, 32), Blocking { mc: 12, kc: 1, nc: 64 });
        assert_eq!(balanced(1000, 512, 32), 512);
    }
}
