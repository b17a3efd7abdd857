//! Typed errors for every tensor operation: each names the operation and both operands' shapes,
//! dtypes or devices. No function in kiln panics on bad user input; it returns one of these.

use crate::{DType, Device, Shape};

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("{op}: shape mismatch, lhs {lhs} vs rhs {rhs}")]
    ShapeMismatch { op: &'static str, lhs: Shape, rhs: Shape },

    #[error("{op}: shapes {lhs} and {rhs} cannot be broadcast together")]
    BroadcastIncompatible { op: &'static str, lhs: Shape, rhs: Shape },

    #[error("{op}: dtype mismatch, lhs {lhs:?} vs rhs {rhs:?}")]
    DTypeMismatch { op: &'static str, lhs: DType, rhs: DType },

    #[error("{op}: dtype {dtype:?} is not supported (expected {expected})")]
    UnsupportedDType { op: &'static str, dtype: DType, expected: &'static str },

    #[error("{op}: device mismatch, lhs {lhs} vs rhs {rhs}")]
    DeviceMismatch { op: &'static str, lhs: Device, rhs: Device },

    #[error("device {device} is unavailable: {reason}")]
    DeviceUnavailable { device: Device, reason: String },

    /// A device that exists failed at run time: a kernel fault, a module the driver refused (with
    /// its JIT log and the PTX / driver versions), a failed copy or allocation.
    #[error("device {device} failed: {reason}")]
    DeviceFault { device: Device, reason: String },

    #[error("{op}: axis {axis} is out of range for a tensor of rank {rank} (shape {shape})")]
    AxisOutOfRange { op: &'static str, axis: isize, rank: usize, shape: Shape },

    #[error("{op}: {got} elements given for shape {shape} which holds {expected}")]
    ElementCount { op: &'static str, expected: usize, got: usize, shape: Shape },

    #[error("reshape: cannot reshape {from} ({from_count} elements) into {to} ({to_count} elements)")]
    ReshapeIncompatible { from: Shape, to: Shape, from_count: usize, to_count: usize },

    #[error("{op}: {what} overflows the address space (more than usize::MAX)")]
    SizeOverflow { op: &'static str, what: String },

    #[error("{op}: cannot allocate {elements} elements of {elem_bytes} bytes each (the allocator refused)")]
    OutOfMemory { op: &'static str, elements: usize, elem_bytes: usize },

    #[error("{op}: index {index} is out of range 0..{bound}")]
    IndexOutOfRange { op: &'static str, index: i64, bound: usize },

    #[error("{op}: {what} is not supported")]
    Unsupported { op: &'static str, what: String },

    #[error("{op}: {what} must be contiguous, got layout {layout}")]
    NotContiguous { op: &'static str, what: &'static str, layout: String },

    #[error("{op}: {msg}")]
    KernelDoesNotFit { op: &'static str, msg: String },

    #[error("{op}: {name} {value} is not a valid value ({expected})")]
    BadHyperParameter { op: &'static str, name: &'static str, value: f64, expected: &'static str },

    /// Anything else wrong with an argument; the more specific variants above come first.
    #[error("{op}: {msg}")]
    InvalidArgument { op: &'static str, msg: String },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        Error::InvalidArgument { op, msg: msg.into() }
    }

    /// Shorthand for [`Error::BadHyperParameter`].
    pub fn hyper(op: &'static str, name: &'static str, value: f64, expected: &'static str) -> Self {
        Error::BadHyperParameter { op, name, value, expected }
    }

    /// Shorthand for [`Error::KernelDoesNotFit`].
    pub fn kernel_does_not_fit(op: &'static str, msg: impl Into<String>) -> Self {
        Error::KernelDoesNotFit { op, msg: msg.into() }
    }
}
