//! Dropout masks: a tensor of 0 and `1 / (1 - p)` (inverted dropout, so the expectation of
//! `x * mask` is `x` and evaluation needs no rescaling). Nothing here records gradients.
//!
//! One rule on every device, so a model trains the same on a GPU as on the CPU: the mask is a pure
//! function of a 64-bit seed (one draw from kiln's seeded `Rng` per mask) and the element's
//! row-major index, a counter-based hash instead of a sequential stream (see [`keep_scale`]). The
//! CPU evaluates it here; on a CUDA device `dropout.cu` evaluates the same hash, so the mask is
//! made where it is used (no host draw, no upload) and is bit-identical to the CPU's.

use crate::float_dispatch;
use kiln_tensor::{DType, Device, Error, Float, Result, Rng, Shape, Tensor};

/// splitmix64's finaliser (Steele, Lea, Flood 2014; the output function of Java's
/// `SplittableRandom`): a bijection on u64 whose output bits all depend on every input bit.
fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The mask value of element `i` under `seed`, in f32, bit for bit what `dropout.cu` computes:
/// `u = top 24 bits of splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15) / 2^24` in `[0, 1)`; the
/// element is kept, with value `1 / (1 - p)`, when `u >= p`, else 0 (and always 0 when `p == 1`).
pub fn keep_scale(seed: u64, i: u32, p: f32) -> f32 {
    let h = splitmix64(seed.wrapping_add((u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)));
    let u = (h >> 40) as u32 as f32 * (1.0 / 16_777_216.0);
    if p < 1.0 && u >= p {
        1.0 / (1.0 - p)
    } else {
        0.0
    }
}

/// The mask of `n` elements under `seed` in any float type: the keep decisions of [`keep_scale`]
/// (with `p` at f32 precision, as the kernel takes it, so identical for f32 and f64), the scale
/// `1 / (1 - p)` computed in `T` (for f32 exactly the kernel's value).
pub fn reference<T: Float>(n: usize, seed: u64, p: f64) -> Result<Vec<T>> {
    if n > 1 << 32 {
        return Err(Error::invalid("dropout_mask", format!("{n} elements: the hash indexes at most 2^32")));
    }
    let keep = if p < 1.0 { T::ONE / (T::ONE - T::from_f64(p)) } else { T::ZERO };
    Ok((0..n as u32).map(|i| if keep_scale(seed, i, p as f32) != 0.0 { keep } else { T::ZERO }).collect())
}

/// A mask of `shape` in `dtype` (f32 or f64; f32 on a CUDA device) on `device`, for drop
/// probability `p` in `[0, 1]`. Takes exactly one draw from `rng` (the seed) whatever the shape,
/// `p` or device. `p == 1` gives all zeros (as PyTorch's `Dropout(p=1)` does) rather than an error,
/// so a schedule may reach 1; `p == 0` gives all ones. Any other `p` (negative, > 1, NaN) is an
/// error.
pub fn dropout_mask(shape: &Shape, p: f64, dtype: DType, device: Device, rng: &mut Rng) -> Result<Tensor> {
    const OP: &str = "dropout_mask";
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::invalid(OP, format!("drop probability {p} is not in [0, 1] (mask shape {shape})")));
    }
    let seed = rng.next_u64();
    if !device.is_cpu() {
        if dtype != DType::F32 {
            return Err(Error::UnsupportedDType { op: OP, dtype, expected: "f32 on a CUDA device" });
        }
        return crate::cuda::dropout::mask_tensor(device, shape, seed, p as f32);
    }
    float_dispatch!(dtype, OP, T => Tensor::from_vec(reference::<T>(shape.elem_count(), seed, p)?, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_statistics_match_p() {
        let shape: Shape = [200, 500].into();
        for (p, dtype) in [(0.5, DType::F32), (0.2, DType::F64), (0.9, DType::F32)] {
            let m = dropout_mask(&shape, p, dtype, Device::Cpu, &mut Rng::new(41)).unwrap();
            let v = m.to_vec_f64().unwrap();
            let n = v.len() as f64;
            let zeros = v.iter().filter(|&&x| x == 0.0).count() as f64 / n;
            let mean = v.iter().sum::<f64>() / n;
            let scale = 1.0 / (1.0 - p);
            assert!(v.iter().all(|&x| x == 0.0 || (x - scale).abs() < 1e-6 * scale), "values are 0 or {scale}");
            // 100k Bernoulli draws: the standard error of the zero fraction is below 0.0016.
            assert!((zeros - p).abs() < 0.01, "p {p}: zero fraction {zeros}");
            assert!((mean - 1.0).abs() < 0.01 * scale, "p {p}: mean {mean}");
        }
    }

    #[test]
    fn same_seed_same_mask_and_one_draw_per_mask() {
        let shape: Shape = [7, 33].into();
        let mask = |seed: u64, p: f64, dtype: DType| dropout_mask(&shape, p, dtype, Device::Cpu, &mut Rng::new(seed));
        let a = mask(5, 0.3, DType::F32).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(a, mask(5, 0.3, DType::F32).unwrap().to_vec::<f32>().unwrap());
        assert_ne!(a, mask(6, 0.3, DType::F32).unwrap().to_vec::<f32>().unwrap());
        // The documented rule, replayed by hand: the seed is the generator's next u64.
        let seed = Rng::new(5).next_u64();
        let by_hand: Vec<f32> = (0..7 * 33).map(|i| keep_scale(seed, i, 0.3)).collect();
        assert_eq!(a, by_hand);
        // f64 masks keep the same elements, with the scale computed in f64.
        let wide = mask(5, 0.3, DType::F64).unwrap().to_vec::<f64>().unwrap();
        assert!(wide.iter().zip(&a).all(|(&w, &n)| (w == 0.0) == (n == 0.0)));
        assert!(wide.iter().all(|&w| w == 0.0 || w == 1.0 / (1.0 - 0.3)));
        // After a mask the generator has advanced by exactly one draw, whatever p and the size.
        for p in [0.0, 0.3, 1.0] {
            let (mut r1, mut r2) = (Rng::new(9), Rng::new(9));
            dropout_mask(&[100, 3].into(), p, DType::F64, Device::Cpu, &mut r1).unwrap();
            r2.next_u64();
            assert_eq!(r1.next_u64(), r2.next_u64());
        }
    }

    #[test]
    fn the_hash_is_pinned() {
        // The mask rule is part of a run's reproducibility: these values must never change.
        // splitmix64 seeded with 0: its published first output.
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0xE220_A839_7B1D_CDAF);
        // Worked out independently (Python, arbitrary-precision integers) from the rule in the docs.
        let kept: Vec<u32> = (0..16).filter(|&i| keep_scale(42, i, 0.5) != 0.0).collect();
        assert_eq!(kept, [0, 5, 7, 9, 12, 13, 14]);
        assert_eq!(keep_scale(42, 0, 0.5), 2.0);
    }

    #[test]
    fn edge_probabilities_and_errors() {
        let shape: Shape = [4, 4].into();
        let ones = dropout_mask(&shape, 0.0, DType::F64, Device::Cpu, &mut Rng::new(1)).unwrap();
        assert_eq!(ones.to_vec::<f64>().unwrap(), vec![1.0; 16]);
        let zeros = dropout_mask(&shape, 1.0, DType::F32, Device::Cpu, &mut Rng::new(1)).unwrap();
        assert_eq!(zeros.to_vec::<f32>().unwrap(), vec![0.0; 16]);
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                dropout_mask(&shape, bad, DType::F32, Device::Cpu, &mut Rng::new(1)),
                Err(Error::InvalidArgument { .. })
            ));
        }
        assert!(matches!(
            dropout_mask(&shape, 0.5, DType::I64, Device::Cpu, &mut Rng::new(1)),
            Err(Error::UnsupportedDType { .. })
        ));
        assert_eq!(
            dropout_mask(&[0, 3].into(), 0.5, DType::F32, Device::Cpu, &mut Rng::new(1)).unwrap().dims(),
            &[0, 3]
        );
    }
}
