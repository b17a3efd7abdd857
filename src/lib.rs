//! kiln: a from-scratch deep-learning engine. This library re-exports the workspace crates so that
//! `kiln::tensor`, `kiln::kernels`, `kiln::autograd` and `kiln::models` are one import away.

pub use kiln_autograd as autograd;
pub use kiln_kernels as kernels;
pub use kiln_models as models;
pub use kiln_tensor as tensor;
