//! Packing: copying a strided block of A or B into the contiguous panel order the micro-kernel reads,
//! zero-padding the last panel. Any strides (transposed, sliced, broadcast with stride 0) pack the same
//! way, which is how one micro-kernel serves all four transpose combinations.
//!
//! Both operands pack with one routine, [`pack_panels`]: a `rows x cols` source becomes
//! ceil(cols / w) panels, each `rows` lines of `w` values. B (`kc x nc`) packs with `w = NR`; A packs
//! as its transpose (`kc x mc`, `w = MR`), so each line holds the MR values of A's column `p` that the
//! micro-kernel broadcasts at step `p`. Three cases:
//! - lines contiguous in the source (`cs == 1`, e.g. row-major B): a copy per line;
//! - lines strided but the other way contiguous (`rs == 1`, e.g. row-major A or a B = Wᵀ view of a
//!   row-major weight): a transpose (`crate::transpose`), 8 x 8 at a time with AVX shuffles;
//! - anything else: element by element.

use super::RawMat;
use crate::simd::Isa;

/// Packs `src` (`rows x cols`, strided) into `ceil(cols / w)` panels of `rows * w` values at `dst`.
///
/// # Safety
/// `src` must be readable at every `(r, c)` with `r < rows`, `c < cols`, and `dst` writable for
/// `cols.div_ceil(w) * rows * w` values.
pub(crate) unsafe fn pack_panels(isa: Isa, w: usize, rows: usize, cols: usize, src: RawMat, dst: *mut f32) {
    for (q, c0) in (0..cols).step_by(w).enumerate() {
        let width = w.min(cols - c0);
        let panel = dst.add(q * rows * w);
        let s = src.at(0, c0);
        if src.cs == 1 {
            copy_lines(rows, w, width, s, panel);
        } else if src.rs == 1 {
            crate::transpose::transpose_raw(isa, rows, width, s.ptr, s.cs, panel, w);
            if width < w {
                for r in 0..rows {
                    panel.add(r * w + width).write_bytes(0, w - width);
                }
            }
        } else {
            for r in 0..rows {
                let line = panel.add(r * w);
                for c in 0..width {
                    *line.add(c) = *s.ptr.add(r * s.rs + c * s.cs);
                }
                line.add(width).write_bytes(0, w - width);
            }
        }
    }
}

/// Copies `rows` lines of `width <= w` contiguous values (`src.cs == 1`) to lines of `w`, zero-padded.
/// Lines are short (4 to 32 values), so the usual widths get a fixed-size copy the compiler turns
/// into a few vector moves instead of a `memcpy` call per line.
unsafe fn copy_lines(rows: usize, w: usize, width: usize, src: RawMat, dst: *mut f32) {
    #[inline(always)]
    unsafe fn fixed<const W: usize>(rows: usize, src: RawMat, dst: *mut f32) {
        for r in 0..rows {
            let v = (src.ptr.add(r * src.rs) as *const [f32; W]).read_unaligned();
            (dst.add(r * W) as *mut [f32; W]).write_unaligned(v);
        }
    }
    match (width == w, w) {
        (true, 4) => fixed::<4>(rows, src, dst),
        (true, 6) => fixed::<6>(rows, src, dst),
        (true, 8) => fixed::<8>(rows, src, dst),
        (true, 12) => fixed::<12>(rows, src, dst),
        (true, 16) => fixed::<16>(rows, src, dst),
        (true, 32) => fixed::<32>(rows, src, dst),
        _ => {
            for r in 0..rows {
                let line = dst.add(r * w);
                for c in 0..width {
                    *line.add(c) = *src.ptr.add(r * src.rs + c);
                }
                line.add(width).write_bytes(0, w - width);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_matches_the_definition_for_every_layout_and_path() {
        let (rows, cols) = (19, 37);
        let base: Vec<f32> = (0..rows * cols * 3).map(|i| i as f32).collect();
        // Row-major, column-major, and a strided view with neither stride 1.
        let layouts = [(cols, 1), (1, rows), (3 * cols, 3)];
        for isa in Isa::ALL {
            for (rs, cs) in layouts {
                for w in [1, 4, 6, 8, 12, 16, 32] {
                    let src = RawMat { ptr: base.as_ptr(), rs, cs };
                    let mut dst = vec![f32::NAN; cols.div_ceil(w) * rows * w];
                    unsafe { pack_panels(isa, w, rows, cols, src, dst.as_mut_ptr()) };
                    for (i, got) in dst.iter().enumerate() {
                        let (q, r, j) = (i / (rows * w), i / w % rows, i % w);
                        let c = q * w + j;
                        let want = if c < cols { base[r * rs + c * cs] } else { 0.0 };
                        assert_eq!(*got, want, "{isa:?} w={w} strides=({rs},{cs}) q={q} r={r} j={j}");
                    }
                }
            }
        }
    }
}
