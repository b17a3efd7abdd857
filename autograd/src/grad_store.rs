//! GradStore: the gradients one backward pass produced, keyed by Var id. Gradients are plain
//! tensors (detached: no graph behind them). Storage and lookup only; no math.

use crate::var::{Var, VarId};
use kiln_tensor::Tensor;
use std::collections::HashMap;

#[derive(Default, Clone)]
pub struct GradStore {
    grads: HashMap<VarId, Tensor>,
}

impl GradStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The gradient of `var`, if the backward pass reached it and it requires a gradient.
    pub fn get(&self, var: &Var) -> Option<&Tensor> {
        self.grads.get(&var.id())
    }

    pub fn get_id(&self, id: VarId) -> Option<&Tensor> {
        self.grads.get(&id)
    }

    /// Takes the gradient out (an optimizer consuming the store, or freeing it early).
    pub fn remove(&mut self, var: &Var) -> Option<Tensor> {
        self.grads.remove(&var.id())
    }

    pub fn insert(&mut self, var: &Var, grad: Tensor) -> Option<Tensor> {
        self.grads.insert(var.id(), grad)
    }

    pub(crate) fn insert_id(&mut self, id: VarId, grad: Tensor) {
        self.grads.insert(id, grad);
    }

    pub fn contains(&self, var: &Var) -> bool {
        self.grads.contains_key(&var.id())
    }

    pub fn len(&self) -> usize {
        self.grads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// Every (id, gradient) pair, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (VarId, &Tensor)> {
        self.grads.iter().map(|(&id, t)| (id, t))
    }
}

impl IntoIterator for GradStore {
    type Item = (VarId, Tensor);
    type IntoIter = std::collections::hash_map::IntoIter<VarId, Tensor>;

    fn into_iter(self) -> Self::IntoIter {
        self.grads.into_iter()
    }
}

impl std::fmt::Debug for GradStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.grads.iter().map(|(id, t)| (id.as_u64(), t.shape().clone())).collect();
        ids.sort_by_key(|(id, _)| *id);
        f.debug_map().entries(ids.iter().map(|(id, s)| (id, s))).finish()
    }
}
