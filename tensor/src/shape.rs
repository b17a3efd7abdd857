//! Shape: the dimensions of a tensor, axis resolution (negative axes count from the end) and the
//! NumPy broadcasting rule. Pure bookkeeping, no data.

use crate::{Error, Result};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    pub fn new(dims: Vec<usize>) -> Self {
        Shape(dims)
    }

    pub fn scalar() -> Self {
        Shape(vec![])
    }

    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements, saturated at `usize::MAX` when the product does not fit (no
    /// storage can hold that many, so every length check against it fails). Layouts and tensors
    /// only ever hold shapes whose count fits; see [`Shape::checked_elem_count`].
    pub fn elem_count(&self) -> usize {
        self.checked_elem_count().unwrap_or(usize::MAX)
    }

    /// The number of elements, or `None` when it does not fit in `usize`. A shape with a zero dim
    /// has 0 elements whatever its other dims are.
    pub fn checked_elem_count(&self) -> Option<usize> {
        if self.0.contains(&0) {
            return Some(0);
        }
        self.0.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// The element count as a typed error when it does not fit: what every constructor that sizes
    /// a buffer from a shape calls first.
    pub fn elem_count_checked(&self, op: &'static str) -> Result<usize> {
        self.checked_elem_count()
            .ok_or_else(|| Error::SizeOverflow { op, what: format!("the element count of shape {self}") })
    }

    /// Row-major strides (in elements) of a contiguous tensor of this shape. The partial products
    /// never exceed the element count, so they cannot overflow when it fits; they saturate for
    /// an empty shape with huge dims (whose strides are never used).
    pub fn contiguous_strides(&self) -> Vec<usize> {
        let mut strides = vec![0; self.rank()];
        let mut acc = 1usize;
        for (s, &d) in strides.iter_mut().zip(&self.0).rev() {
            *s = acc;
            acc = acc.saturating_mul(d);
        }
        strides
    }

    /// Turns a possibly negative axis into an index, or names the op, axis and shape in the error.
    pub fn resolve_axis(&self, axis: isize, op: &'static str) -> Result<usize> {
        let rank = self.rank() as isize;
        let resolved = if axis < 0 { axis + rank } else { axis };
        if resolved < 0 || resolved >= rank {
            return Err(Error::AxisOutOfRange { op, axis, rank: self.rank(), shape: self.clone() });
        }
        Ok(resolved as usize)
    }

    /// Resolves a set of axes; an empty set means "all axes". Duplicates are an error.
    pub fn resolve_axes(&self, axes: &[isize], op: &'static str) -> Result<Vec<usize>> {
        if axes.is_empty() {
            return Ok((0..self.rank()).collect());
        }
        let mut out = Vec::with_capacity(axes.len());
        for &a in axes {
            let r = self.resolve_axis(a, op)?;
            if out.contains(&r) {
                return Err(Error::invalid(op, format!("axis {a} given twice for shape {self}")));
            }
            out.push(r);
        }
        out.sort_unstable();
        Ok(out)
    }
}

/// The NumPy broadcast of two shapes: align from the right; each pair of dims must be equal or one.
pub fn broadcast_shapes(lhs: &Shape, rhs: &Shape, op: &'static str) -> Result<Shape> {
    let rank = lhs.rank().max(rhs.rank());
    let mut dims = vec![0; rank];
    for (i, d) in dims.iter_mut().enumerate() {
        let l = dim_from_right(lhs, rank - 1 - i);
        let r = dim_from_right(rhs, rank - 1 - i);
        *d = match (l, r) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => return Err(Error::BroadcastIncompatible { op, lhs: lhs.clone(), rhs: rhs.clone() }),
        };
    }
    Ok(Shape(dims))
}

fn dim_from_right(s: &Shape, from_right: usize) -> usize {
    if from_right < s.rank() {
        s.0[s.rank() - 1 - from_right]
    } else {
        1
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<Vec<usize>> for Shape {
    fn from(v: Vec<usize>) -> Self {
        Shape(v)
    }
}

impl From<&[usize]> for Shape {
    fn from(v: &[usize]) -> Self {
        Shape(v.to_vec())
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(v: [usize; N]) -> Self {
        Shape(v.to_vec())
    }
}

impl From<&Shape> for Shape {
    fn from(s: &Shape) -> Self {
        s.clone()
    }
}

impl From<()> for Shape {
    fn from(_: ()) -> Self {
        Shape(vec![])
    }
}

impl From<usize> for Shape {
    fn from(n: usize) -> Self {
        Shape(vec![n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        let b = broadcast_shapes(&[3, 1, 5].into(), &[4, 1].into(), "t").unwrap();
        assert_eq!(b.dims(), &[3, 4, 5]);
        assert!(broadcast_shapes(&[3, 2].into(), &[4, 2].into(), "t").is_err());
    }

    #[test]
    fn negative_axes_resolve_from_the_end() {
        let s: Shape = [2, 3, 4].into();
        assert_eq!(s.resolve_axis(-1, "t").unwrap(), 2);
        assert!(matches!(s.resolve_axis(3, "t"), Err(Error::AxisOutOfRange { .. })));
        assert!(s.resolve_axes(&[1, -2], "t").is_err());
        assert_eq!(s.contiguous_strides(), vec![12, 4, 1]);
    }
}
