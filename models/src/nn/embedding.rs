//! Embedding: a [num_embeddings, dim] table looked up by integer ids. With a padding index the
//! padding row starts at zero and receives no gradient, but is returned as stored (as PyTorch does:
//! a loaded table may hold a non-zero pad row). The lookup is the autograd's `embedding` op, whose
//! backward skips the padding row.

use super::{join_name, Module};
use kiln_autograd::Var;
use kiln_tensor::{DType, Error, Result, Rng, Tensor};

pub struct Embedding {
    pub weight: Var,
    pub padding_idx: Option<usize>,
}

impl Embedding {
    pub fn new(num_embeddings: usize, dim: usize, padding_idx: Option<usize>, rng: &mut Rng) -> Result<Embedding> {
        let mut table = Tensor::randn([num_embeddings, dim], 0.0, 1.0, DType::F32, rng).to_vec::<f32>()?;
        if let Some(p) = padding_idx {
            if p >= num_embeddings {
                return Err(Error::invalid("Embedding", format!("padding index {p} >= {num_embeddings} embeddings")));
            }
            table[p * dim..(p + 1) * dim].fill(0.0);
        }
        let weight = Var::leaf(Tensor::from_vec(table, [num_embeddings, dim])?);
        Ok(Embedding { weight, padding_idx })
    }

    /// Rows of the table for `ids` (i64 or u32, any shape): output shape `ids.shape + [dim]`.
    pub fn lookup(&self, ids: &Tensor) -> Result<Var> {
        self.weight.embedding(ids, self.padding_idx)
    }
}

impl Module for Embedding {
    fn forward(&self, ids: &Var) -> Result<Var> {
        self.lookup(ids.tensor())
    }

    fn visit_parameters(&self, prefix: &str, f: &mut dyn FnMut(String, &Var)) {
        f(join_name(prefix, "weight"), &self.weight);
    }
}
