//! The parameter-struct convention: every kiln kernel takes exactly one argument, a `const`
//! struct of plain data (device addresses as `u64`, sizes as `u32`, scalars as `f32`) declared
//! `#[repr(C)]` here and field for field with the same name in the `.cu` file. One struct serves
//! the GPU (passed by value through cuLaunchKernel) and the host shim (whose launcher checks
//! `size_of` against the C struct at every launch, so a stale mirror fails loudly).

use kiln_tensor::{Error, Result};

/// Declares a kernel parameter struct: `#[repr(C)]`, `Copy`, and passable to a CUDA launch.
#[macro_export]
macro_rules! kernel_params {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy)]
        pub struct $name { $($(#[$fm])* pub $f: $t),* }
        // SAFETY: plain #[repr(C)] data, mirrored by the CUDA struct of the same name.
        unsafe impl cudarc::driver::DeviceRepr for $name {}
    };
}

pub use super::shared_defs::MAX_DIMS;

kernel_params! {
    /// `KilnStrided` in kiln_cuda.h: a shape and up to three operands' strides (elements).
    pub struct Strided {
        pub rank: u32,
        pub dims: [u32; MAX_DIMS],
        pub strides: [[u32; MAX_DIMS]; 3],
    }
}

pub(crate) fn to_u32(op: &'static str, what: &str, v: usize) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| Error::invalid(op, format!("{what} {v} does not fit the CUDA kernels' 32-bit indices")))
}

impl Strided {
    /// The shape `dims` with each operand's strides, size-1 dims dropped and dims merged where
    /// every operand is contiguous across them (so `[a, b]` row-major becomes `[a*b]`).
    pub fn new(op: &'static str, dims: &[usize], operands: &[&[usize]]) -> Result<Strided> {
        assert!(operands.len() <= 3 && operands.iter().all(|s| s.len() == dims.len()));
        let mut merged: Vec<(usize, Vec<usize>)> = Vec::new();
        for d in 0..dims.len() {
            if dims[d] == 1 {
                continue;
            }
            let strides: Vec<usize> = operands.iter().map(|s| s[d]).collect();
            match merged.last_mut() {
                Some((pd, ps)) if ps.iter().zip(&strides).all(|(&p, &s)| p == s * dims[d]) => {
                    *pd *= dims[d];
                    *ps = strides;
                }
                _ => merged.push((dims[d], strides)),
            }
        }
        if merged.len() > MAX_DIMS {
            return Err(Error::invalid(
                op,
                format!(
                    "{} dims after merging (shape {dims:?}); the CUDA kernels take at most {MAX_DIMS}",
                    merged.len()
                ),
            ));
        }
        // `kiln_offset` sums offsets in 32 bits: an operand's largest offset must fit, or a view
        // spanning more than 2^32 elements would silently read the wrong ones. (An empty shape
        // reaches nothing.)
        let empty = merged.iter().any(|(size, _)| *size == 0);
        for o in (0..operands.len()).filter(|_| !empty) {
            let reach =
                merged.iter().fold(0usize, |acc, (size, st)| acc.saturating_add((size - 1).saturating_mul(st[o])));
            to_u32(op, "the largest element offset of an operand", reach)?;
        }
        let mut s = Strided { rank: merged.len() as u32, dims: [1; MAX_DIMS], strides: [[0; MAX_DIMS]; 3] };
        for (d, (size, strides)) in merged.iter().enumerate() {
            s.dims[d] = to_u32(op, "dim", *size)?;
            for (o, &st) in strides.iter().enumerate() {
                s.strides[o][d] = to_u32(op, "stride", st)?;
            }
        }
        Ok(s)
    }

    /// Whether operand `o` is plainly contiguous (row-major, no broadcast).
    pub fn is_contiguous(&self, o: usize) -> bool {
        let mut expected = 1u32;
        for d in (0..self.rank as usize).rev() {
            if self.strides[o][d] != expected {
                return false;
            }
            expected *= self.dims[d];
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_merges_contiguous_dims_and_drops_ones() {
        let s = Strided::new("t", &[2, 1, 3, 4], &[&[12, 12, 4, 1], &[0, 0, 1, 0]]).unwrap();
        assert_eq!(s.rank, 3);
        assert_eq!(&s.dims[..3], &[2, 3, 4]);
        let c = Strided::new("t", &[2, 3, 4], &[&[12, 4, 1]]).unwrap();
        assert_eq!((c.rank, c.dims[0]), (1, 24));
        assert!(c.is_contiguous(0));
        let t = Strided::new("t", &[3, 2], &[&[1, 3]]).unwrap();
        assert!(!t.is_contiguous(0));
        assert!(Strided::new("t", &[2; 8], &[&[1, 2, 4, 8, 16, 32, 64, 128]]).is_err());
        // Each dim and stride fits 32 bits, but the offsets they reach do not.
        let far = Strided::new("t", &[70_000, 3], &[&[70_000, 1], &[1, 70_000]]);
        assert!(far.as_ref().is_err_and(|e| e.to_string().contains("largest element offset")), "{far:?}");
        assert!(Strided::new("t", &[0, 70_000], &[&[70_000, 1]]).is_ok(), "an empty shape reaches nothing");
    }
}
