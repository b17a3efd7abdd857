//! Every CUDA kernel, executed on the CPU through the host shim (the same .cu source compiled by
//! build.rs against kernels/cuda/kiln_shim.h) and compared with kiln's scalar references or a plain
//! scalar loop, on small random shapes: sizes 1, 7 and 33, odd 2-D/3-D shapes, and non-contiguous
//! operands (transposed, narrowed with an offset, broadcast). The launch code under test is the
//! same `<family>/cuda.rs` a GPU uses.

#[path = "cuda_shim/common.rs"]
mod common;
#[path = "cuda_shim/conv_pool.rs"]
mod conv_pool;
#[path = "cuda_shim/dropout_optim.rs"]
mod dropout_optim;
#[path = "cuda_shim/elementwise.rs"]
mod elementwise;
#[path = "cuda_shim/embedding_lstm.rs"]
mod embedding_lstm;
#[path = "cuda_shim/loss.rs"]
mod loss;
#[path = "cuda_shim/matmul.rs"]
mod matmul;
#[path = "cuda_shim/rows.rs"]
mod rows;
#[path = "cuda_shim/shim.rs"]
mod shim;
