//! Dropout masks: a tensor of 0 and `1 / (1 - p)` (inverted dropout, so the expectation of
//! `x * mask` is `x` and evaluation needs no rescaling). Drawn from kiln's seeded `Rng`, one
//! `rng.next_f64()` per element in row-major order, so the same seed gives the same mask on every
//! machine. Applying the mask is an elementwise multiply; nothing here records gradients.

pub mod cuda;

use crate::float_dispatch;
use kiln_tensor::{DType, Error, Float, Result, Rng, Shape, Tensor};

/// The scalar rule: element `k` is dropped (0) when the `k`-th draw `u` in `[0, 1)` is `< p`,
/// else kept with value `1 / (1 - p)`.
pub fn reference<T: Float>(n: usize, p: f64, rng: &mut Rng) -> Vec<T> {
    // p == 1 drops everything: every draw is < 1, and the scale (infinite) is never used.
    let keep = if p < 1.0 { 1.0 / (1.0 - p) } else { 0.0 };
    // Branch-free: with p = 0.5 a branch on the draw is mispredicted every other element (W1's
    // discriminator draws ~200k a step). `keep * 1` and `keep * 0` are exact, so the mask is the
    // same as `if u < p { 0 } else { keep }`.
    (0..n).map(|_| T::from_f64(keep * (rng.next_f64() >= p) as u8 as f64)).collect()
}

/// A mask of `shape` in `dtype` (f32 or f64) for drop probability `p` in `[0, 1]`.
/// `p == 1` gives all zeros (as PyTorch's `Dropout(p=1)` does) rather than an error, so a
/// schedule may reach 1; `p == 0` gives all ones. Any other `p` (negative, > 1, NaN) is an error.
/// Exactly `shape.elem_count()` draws are taken from `rng` whatever `p` is.
pub fn dropout_mask(shape: &Shape, p: f64, dtype: DType, rng: &mut Rng) -> Result<Tensor> {
    const OP: &str = "dropout_mask";
    if !(0.0..=1.0).contains(&p) {
        return Err(Error::hyper(OP, "drop probability", p, "in [0, 1]"));
    }
    float_dispatch!(dtype, OP, T => Tensor::from_vec(reference::<T>(shape.elem_count(), p, rng), shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_statistics_match_p() {
        let shape: Shape = [200, 500].into();
        for (p, dtype) in [(0.5, DType::F32), (0.2, DType::F64), (0.9, DType::F32)] {
            let m = dropout_mask(&shape, p, dtype, &mut Rng::new(41)).unwrap();
            let v = m.to_vec_f64().unwrap();
            let n = v.len() as f64;
            let zeros = v.iter().filter(|&&x| x == 0.0).count() as f64 / n;
            let mean = v.iter().sum::<f64>() / n;
            let scale = 1.0 / (1.0 - p);
            assert!(v.iter().all(|&x| x == 0.0 || (x - scale).abs() < 1e-6), "values are 0 or {scale}");
            // 100k Bernoulli draws: the standard error of the zero fraction is below 0.0016.
            assert!((zeros - p).abs() < 0.01, "p {p}: zero fraction {zeros}");
            assert!((mean - 1.0).abs() < 0.01 * scale, "p {p}: mean {mean}");
        }
    }

    #[test]
    fn same_seed_same_mask_and_one_draw_per_element() {
        let shape: Shape = [7, 33].into();
        let a = dropout_mask(&shape, 0.3, DType::F32, &mut Rng::new(5)).unwrap().to_vec::<f32>().unwrap();
        let b = dropout_mask(&shape, 0.3, DType::F32, &mut Rng::new(5)).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(a, b);
        let c = dropout_mask(&shape, 0.3, DType::F32, &mut Rng::new(6)).unwrap().to_vec::<f32>().unwrap();
        assert_ne!(a, c);
        // The documented rule, replayed by hand: draw k decides element k.
        let mut rng = Rng::new(5);
        let by_hand: Vec<f32> = (0..7 * 33).map(|_| if rng.next_f64() < 0.3 { 0.0 } else { 1.0 / 0.7 }).collect();
        assert_eq!(a, by_hand);
        // After the mask the generator has advanced by exactly one draw per element, even for p = 1.
        let (mut r1, mut r2) = (Rng::new(9), Rng::new(9));
        dropout_mask(&shape, 1.0, DType::F64, &mut r1).unwrap();
        (0..7 * 33).for_each(|_| {
            r2.next_f64();
        });
        assert_eq!(r1.next_u64(), r2.next_u64());
    }

    #[test]
    fn edge_probabilities_and_errors() {
        let shape: Shape = [4, 4].into();
        let ones = dropout_mask(&shape, 0.0, DType::F64, &mut Rng::new(1)).unwrap();
        assert_eq!(ones.to_vec::<f64>().unwrap(), vec![1.0; 16]);
        let zeros = dropout_mask(&shape, 1.0, DType::F32, &mut Rng::new(1)).unwrap();
        assert_eq!(zeros.to_vec::<f32>().unwrap(), vec![0.0; 16]);
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                dropout_mask(&shape, bad, DType::F32, &mut Rng::new(1)),
                Err(Error::BadHyperParameter { .. })
            ));
        }
        assert!(matches!(dropout_mask(&shape, 0.5, DType::I64, &mut Rng::new(1)), Err(Error::UnsupportedDType { .. })));
        assert_eq!(dropout_mask(&[0, 3].into(), 0.5, DType::F32, &mut Rng::new(1)).unwrap().dims(), &[0, 3]);
    }
}
