//! Argument checks shared by every op family: same dtype, same device, float compute dtype, and
//! the dtype dispatch macro. Checks return typed errors naming both operands; they never panic.

use kiln_tensor::{DType, Error, Result, Tensor};

pub(crate) fn same_dtype(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.dtype() != b.dtype() {
        return Err(Error::DTypeMismatch { op, lhs: a.dtype(), rhs: b.dtype() });
    }
    Ok(())
}

pub(crate) fn same_device(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    if a.device() != b.device() {
        return Err(Error::DeviceMismatch { op, lhs: a.device(), rhs: b.device() });
    }
    Ok(())
}

pub(crate) fn float_dtype(op: &'static str, a: &Tensor) -> Result<()> {
    if !a.dtype().is_compute_float() {
        return Err(Error::UnsupportedDType { op, dtype: a.dtype(), expected: "f32 or f64" });
    }
    Ok(())
}

/// Same dtype, same device, and a float compute dtype.
pub(crate) fn float_pair(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    same_device(op, a, b)?;
    same_dtype(op, a, b)?;
    float_dtype(op, a)
}

/// An integer index tensor (i64 or u32).
pub(crate) fn index_dtype(op: &'static str, a: &Tensor) -> Result<()> {
    if !a.dtype().is_int() {
        return Err(Error::UnsupportedDType { op, dtype: a.dtype(), expected: "i64 or u32 indices" });
    }
    Ok(())
}

pub(crate) fn unsupported(op: &'static str, dtype: DType) -> Error {
    Error::UnsupportedDType { op, dtype, expected: "f32 or f64" }
}

/// The one dtype dispatch: runs `$body` with `$T` bound to the Rust type of `$dtype` for each
/// listed `DType variant => type`; any other dtype evaluates `$otherwise` (with `$other` bound to
/// it). [`float_dispatch!`] and `element_dispatch!` are its two lists.
#[doc(hidden)]
#[macro_export]
macro_rules! dtype_dispatch {
    ($dtype:expr, $T:ident => $body:expr, [$($variant:ident => $ty:ty),+ $(,)?] $(, $other:ident => $otherwise:expr)?) => {
        match $dtype {
            $(kiln_tensor::DType::$variant => {
                type $T = $ty;
                $body
            })+
            $($other => $otherwise,)?
        }
    };
}

/// Runs `$body` with `$T` bound to the Rust float type of `$dtype` (f32 or f64); any other dtype
/// is an `UnsupportedDType` error naming `$op`.
#[macro_export]
macro_rules! float_dispatch {
    ($dtype:expr, $op:expr, $T:ident => $body:expr) => {
        $crate::dtype_dispatch!($dtype, $T => $body, [F32 => f32, F64 => f64], other => Err($crate::check::unsupported($op, other)))
    };
}

/// Runs `$body` with `$T` bound to the Rust element type of `$dtype`, for every dtype kiln stores.
/// For ops that only move elements (copies, gathers), where f32/f64-only `float_dispatch!` is too narrow.
macro_rules! element_dispatch {
    ($dtype:expr, $T:ident => $body:expr) => {
        $crate::dtype_dispatch!($dtype, $T => $body, [
            F32 => f32, F64 => f64, F16 => kiln_tensor::f16, BF16 => kiln_tensor::bf16, I64 => i64, U32 => u32,
        ])
    };
}
pub(crate) use element_dispatch;

/// Reads an index tensor (i64 or u32) as usize values in logical order, checking each is `< bound`.
/// A contiguous i64 tensor (every index a forward op made, e.g. max-pool's) is checked and
/// converted in two plain loops over its storage, with no intermediate copy (session 15: the
/// general path was 1% of a W2 step).
pub(crate) fn read_indices(op: &'static str, idx: &Tensor, bound: usize) -> Result<Vec<usize>> {
    index_dtype(op, idx)?;
    let out_of_range = |i: i64| Error::IndexOutOfRange { op, index: i, bound };
    if idx.dtype() == DType::I64 && idx.device().is_cpu() {
        let fast = idx.with_slice(|v: &[i64], l| {
            let v = &v[l.contiguous_range()?];
            // `as u64` sends negatives past any bound.
            Some(match v.iter().position(|&i| i as u64 >= bound as u64) {
                Some(bad) => Err(out_of_range(v[bad])),
                None => Ok(v.iter().map(|&i| i as usize).collect()),
            })
        })?;
        if let Some(read) = fast {
            return read;
        }
    }
    let raw: Vec<i64> = match idx.dtype() {
        DType::I64 => idx.to_vec::<i64>()?,
        _ => idx.to_vec::<u32>()?.into_iter().map(i64::from).collect(),
    };
    raw.into_iter().map(|i| if i < 0 || i as usize >= bound { Err(out_of_range(i)) } else { Ok(i as usize) }).collect()
}

#[cfg(test)]
mod tests {
    use super::read_indices;
    use kiln_tensor::{Error, Tensor};

    /// Both read paths (contiguous i64 in place; strided or u32 through a copy) give the logical
    /// order and name the first bad index, negative or too large.
    #[test]
    fn indices_read_in_logical_order_and_bad_ones_are_named() {
        let t = Tensor::from_vec(vec![0i64, 1, 2, 3, 4, 5], [2, 3]).unwrap();
        assert_eq!(read_indices("t", &t, 6).unwrap(), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(read_indices("t", &t.t().unwrap(), 6).unwrap(), vec![0, 3, 1, 4, 2, 5]);
        let u = Tensor::from_vec(vec![2u32, 0, 1], [3]).unwrap();
        assert_eq!(read_indices("t", &u, 3).unwrap(), vec![2, 0, 1]);
        for (v, bad) in [(vec![0i64, -1, 7], -1), (vec![0i64, 6, -1], 6)] {
            let bad_of = |t: &Tensor| match read_indices("t", t, 6) {
                Err(Error::IndexOutOfRange { index, bound: 6, .. }) => index,
                other => panic!("{other:?}"),
            };
            let t = Tensor::from_vec(v.clone(), [3]).unwrap();
            assert_eq!(bad_of(&t), bad, "contiguous {v:?}");
            let strided = Tensor::from_vec([v.clone(), v.clone()].concat(), [2, 3]).unwrap().t().unwrap();
            assert_eq!(bad_of(&strided), bad, "strided {v:?}");
        }
    }
}
