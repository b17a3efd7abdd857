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
//!   row-major weight): a transpose, done 8 x 8 at a time with AVX shuffles where the CPU has them;
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
            transpose_into(isa, rows, width, s, panel, w);
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

/// `dst[r * ld + c] = src[r, c]` for a source whose columns are contiguous (`src.rs == 1`).
unsafe fn transpose_into(isa: Isa, rows: usize, cols: usize, src: RawMat, dst: *mut f32, ld: usize) {
    // The 8 x 8 SIMD blocks (x86 with AVX2 or better), then the rest element by element.
    #[cfg(target_arch = "x86_64")]
    let (r8, c8) = if isa.usable() != Isa::Scalar {
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        transpose_8x8_blocks(r8, c8, src.ptr, src.cs, dst, ld);
        (r8, c8)
    } else {
        (0, 0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (r8, c8) = {
        let _ = isa;
        (0, 0)
    };
    // What the 8 x 8 blocks did not cover: the bottom rows, then the right columns.
    for r in r8..rows {
        for c in 0..cols {
            *dst.add(r * ld + c) = *src.ptr.add(r + c * src.cs);
        }
    }
    for c in c8..cols {
        for r in 0..r8 {
            *dst.add(r * ld + c) = *src.ptr.add(r + c * src.cs);
        }
    }
}

/// For `r < rows`, `c < cols` (both multiples of 8): `dst[r * ld + c] = src[r + c * cs]`, i.e. each
/// source column `c` (contiguous over `r`) becomes a destination column.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_8x8_blocks(rows: usize, cols: usize, src: *const f32, cs: usize, dst: *mut f32, ld: usize) {
    use std::arch::x86_64::*;
    for c0 in (0..cols).step_by(8) {
        for r0 in (0..rows).step_by(8) {
            // Eight source columns, eight rows each: v[i] = src[r0.., c0 + i].
            let p = src.add(r0 + c0 * cs);
            let v: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(p.add(i * cs)));
            let t0 = _mm256_unpacklo_ps(v[0], v[1]);
            let t1 = _mm256_unpackhi_ps(v[0], v[1]);
            let t2 = _mm256_unpacklo_ps(v[2], v[3]);
            let t3 = _mm256_unpackhi_ps(v[2], v[3]);
            let t4 = _mm256_unpacklo_ps(v[4], v[5]);
            let t5 = _mm256_unpackhi_ps(v[4], v[5]);
            let t6 = _mm256_unpacklo_ps(v[6], v[7]);
            let t7 = _mm256_unpackhi_ps(v[6], v[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let out = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            let d = dst.add(r0 * ld + c0);
            for (i, o) in out.into_iter().enumerate() {
                _mm256_storeu_ps(d.add(i * ld), o);
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
