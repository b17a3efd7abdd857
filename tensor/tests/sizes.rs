//! Size arithmetic on public paths (from a fuzz of the API): every element count, storage span and
//! buffer size computed from user-given dims is checked, so an overflowing shape is a typed error
//! rather than a wrapped, plausible-looking result (release) or an arithmetic panic (debug), and an
//! allocation that cannot be made is an error rather than an abort.

use kiln_tensor::{DType, Error, Layout, Shape, Tensor};

#[test]
fn element_counts_that_overflow_are_typed_errors() {
    let huge = Shape::from([1 << 33, 1 << 33]);
    assert_eq!(huge.checked_elem_count(), None);
    assert_eq!(huge.elem_count(), usize::MAX, "saturated, never wrapped to 0");
    assert!(matches!(huge.elem_count_checked("t"), Err(Error::SizeOverflow { .. })));
    // Before: an empty tensor of shape [2^33, 2^33] in release.
    assert!(matches!(Tensor::try_zeros([1 << 33, 1 << 33], DType::F32), Err(Error::SizeOverflow { .. })));
    assert!(matches!(Tensor::try_full(1.0, [usize::MAX, 2], DType::I64), Err(Error::SizeOverflow { .. })));
    // A zero dim anywhere makes the count 0, even after dims whose product overflows.
    assert_eq!(Shape::from([1 << 33, 1 << 33, 0]).checked_elem_count(), Some(0));
    assert_eq!(Tensor::try_zeros([1 << 40, 0, 1 << 40], DType::F32).unwrap().elem_count(), 0);
    assert!(std::panic::catch_unwind(|| Tensor::zeros([1 << 33, 1 << 33], DType::F32)).is_err());
}

#[test]
fn an_allocation_that_cannot_be_made_is_an_error_not_an_abort() {
    // 2^60 f32 = 4 EiB: a valid size that no allocator can give.
    let got = Tensor::try_zeros([1 << 30, 1 << 30], DType::F32);
    assert!(matches!(got, Err(Error::OutOfMemory { elements, elem_bytes: 4, .. }) if elements == 1 << 60), "{got:?}");
}

#[test]
fn a_broadcast_whose_count_overflows_is_refused() {
    // Before: sum over this 2^64-element view returned 0.
    let x = Tensor::from_vec(vec![1.0f32], [1, 1]).unwrap();
    assert!(matches!(x.broadcast_to([1 << 32, 1 << 32]), Err(Error::SizeOverflow { .. })));
    assert_eq!(x.broadcast_to([1 << 20, 1 << 20]).unwrap().elem_count(), 1 << 40, "large but exact");
}

#[test]
fn layouts_are_checked_where_they_are_built() {
    // One stride per dim: an error, not an assertion.
    assert!(matches!(Layout::new([2, 3].into(), vec![1], 0), Err(Error::InvalidArgument { .. })));
    // A span past usize::MAX: before, storage_span wrapped and `with_layout` accepted it.
    let wrapping = Layout::new([3].into(), vec![usize::MAX / 2 + 1], 0);
    assert!(matches!(wrapping, Err(Error::SizeOverflow { .. })), "{wrapping:?}");
    let t = Tensor::from_vec(vec![0.0f32; 4], [4]).unwrap();
    let past = Layout::new([2].into(), vec![3], 1).unwrap();
    assert!(t.with_layout(past).is_err(), "span 5 past 4 elements");
    let inside = Layout::new([2].into(), vec![3], 0).unwrap();
    assert_eq!(t.with_layout(inside).unwrap().to_vec::<f32>().unwrap(), [0.0, 0.0]);
    // `Layout::contiguous` of an overflowing shape saturates its span: no storage can hold it.
    let big = Layout::contiguous([1 << 33, 1 << 33]);
    assert_eq!(big.checked_storage_span(), None);
    assert!(t.with_layout(big).is_err());
}

#[test]
fn narrow_reports_an_overflowing_range_without_panicking() {
    let t = Tensor::from_vec(vec![0.0f32; 6], [2, 3]).unwrap();
    // Before: `start + len` overflowed while formatting the error.
    let e = t.narrow(1, 2, usize::MAX).unwrap_err().to_string();
    assert!(e.contains("from 2") && e.contains("size 3"), "{e}");
}

#[test]
fn from_storage_refuses_an_overflowing_shape() {
    let s = kiln_tensor::CpuStorage::F32(vec![]);
    assert!(matches!(Tensor::from_cpu_storage(s, [usize::MAX, usize::MAX]), Err(Error::SizeOverflow { .. })));
}
