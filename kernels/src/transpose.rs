//! Blocked transposes of a strided block whose *rows* are contiguous in memory into a row-major
//! buffer: `dst[r * ld + c] = src[r + c * cs]`. Two users: GEMM packing (a row-major A, or B = Wᵀ
//! of a row-major weight) and the strided elementwise walk's tiles (an operand stored transposed
//! relative to the output). f32 goes 8 x 8 at a time through AVX shuffles where the CPU has them;
//! the edges and every other element type go element by element in source order, so reads stay
//! sequential. Must not: read or write outside the block it is given, or change a value (it is a
//! pure copy, bit for bit).

use crate::simd::Isa;
use kiln_tensor::{DType, Element};

/// `dst[r * ld + c] = src[at + r + c * cs]` for `r < rows`, `c < cols`.
///
/// # Panics
/// If the block does not lie inside `src` or `dst` (callers size both from the same walk).
#[inline]
pub(crate) fn transpose_block<T: Element>(
    src: &[T],
    at: usize,
    cs: usize,
    rows: usize,
    cols: usize,
    dst: &mut [T],
    ld: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last_read = at + (rows - 1) + (cols - 1) * cs;
    let last_write = (rows - 1) * ld + cols - 1;
    assert!(last_read < src.len() && last_write < dst.len() && cols <= ld, "transpose block out of bounds");
    if T::DTYPE == DType::F32 {
        // SAFETY: `T` is f32 (checked by dtype) and the asserts above bound every access.
        unsafe {
            transpose_raw(
                crate::simd::isa(),
                rows,
                cols,
                src.as_ptr().add(at) as *const f32,
                cs,
                dst.as_mut_ptr() as *mut f32,
                ld,
            )
        }
        return;
    }
    for c in 0..cols {
        let column = &src[at + c * cs..][..rows];
        for (r, &v) in column.iter().enumerate() {
            dst[r * ld + c] = v;
        }
    }
}

/// `dst[r * ld + c] = src[r + c * cs]` for `r < rows`, `c < cols`: the 8 x 8 SIMD blocks (x86 with
/// AVX2 or better), then the rest element by element.
///
/// # Safety
/// `src` must be readable at `r + c * cs` and `dst` writable at `r * ld + c` for every such `(r, c)`.
pub(crate) unsafe fn transpose_raw(
    isa: Isa,
    rows: usize,
    cols: usize,
    src: *const f32,
    cs: usize,
    dst: *mut f32,
    ld: usize,
) {
    #[cfg(target_arch = "x86_64")]
    let (r8, c8) = if isa.usable() != Isa::Scalar {
        let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
        transpose_8x8_blocks(r8, c8, src, cs, dst, ld);
        (r8, c8)
    } else {
        (0, 0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (r8, c8) = {
        let _ = isa;
        (0, 0)
    };
    // What the 8 x 8 blocks did not cover: the right columns, then the bottom rows (each read in
    // source order).
    for c in c8..cols {
        for r in 0..r8 {
            *dst.add(r * ld + c) = *src.add(r + c * cs);
        }
    }
    for c in 0..cols {
        for r in r8..rows {
            *dst.add(r * ld + c) = *src.add(r + c * cs);
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
    fn every_path_copies_the_block_exactly() {
        // Odd sizes around the 8 x 8 blocks, an offset start and a destination wider than the block.
        for (rows, cols) in [(1, 1), (3, 17), (8, 8), (16, 9), (19, 37), (24, 64)] {
            let (at, cs, ld) = (5, rows + 3, cols + 2);
            let src32: Vec<f32> = (0..at + rows + cols * cs).map(|i| i as f32 * 0.5 - 7.0).collect();
            let src64: Vec<f64> = src32.iter().map(|&v| f64::from(v)).collect();
            for isa in Isa::ALL {
                let mut dst = vec![f32::NAN; rows * ld];
                unsafe { transpose_raw(isa, rows, cols, src32.as_ptr().add(at), cs, dst.as_mut_ptr(), ld) };
                for r in 0..rows {
                    for c in 0..cols {
                        assert_eq!(dst[r * ld + c], src32[at + r + c * cs], "{isa:?} {rows}x{cols} at ({r}, {c})");
                    }
                    assert!(dst[r * ld + cols..(r + 1) * ld].iter().all(|v| v.is_nan()), "wrote past the block");
                }
            }
            let (mut d32, mut d64) = (vec![0f32; rows * ld], vec![0f64; rows * ld]);
            transpose_block(&src32, at, cs, rows, cols, &mut d32, ld);
            transpose_block(&src64, at, cs, rows, cols, &mut d64, ld);
            assert!(d32.iter().zip(&d64).all(|(&a, &b)| f64::from(a) == b));
        }
    }
}
