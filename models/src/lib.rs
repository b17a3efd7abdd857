//! kiln-models: what turns kiln's tensors and autograd into training runs: datasets and loaders
//! (`data`), and, as they arrive, layers, optimizers, the training loop and the model zoo. Kernels
//! and the autograd engine live in their own crates; nothing here reaches below their APIs.

pub mod checkpoint;
pub mod data;
pub mod explain;
pub mod nn;
pub mod optim;
pub mod quant;
pub mod report;
pub mod robust;
pub mod train;
pub mod zoo;
