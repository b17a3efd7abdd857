//! kiln-kernels: every computation in kiln, one folder per op family.
//!
//! Each family exposes tensor-level functions (`mod.rs`: argument checks, dtype dispatch, choice of
//! implementation) over a `reference.rs` of scalar, obviously-correct loops that every faster
//! version is tested against. Kernels take any layout (strided, broadcast) and return fresh
//! contiguous tensors. Nothing here records gradients: that is kiln-autograd's job.

pub mod backend;
mod check;
pub mod conv;
mod cpu_common;
pub mod cuda;
pub mod denormals;
pub mod dropout;
pub mod elementwise;
pub mod embedding;
pub mod gemm;
pub mod join;
pub mod lab;
pub mod loss;
pub mod lstm;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod pool;
pub mod qgemm;
pub mod reduce;
pub mod simd;
pub mod softmax;
mod transpose;

pub use backend::{backend, set_backend, with_backend, Backend};
