//! Embedding: a [num_embeddings, dim] table looked up by integer ids. With a padding index the
//! padding row starts at zero and receives no gradient, but is returned as stored (as PyTorch does:
//! a loaded table may hold a non-zero pad row): rows at padding positions come from a detached copy
//! through `where`, which keeps the rule in the autograd's hands.

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
        let dim = self.weight.dims()[1];
        let flat = ids.flatten_all()?;
        let rows = self.weight.index_select(0, &flat)?;
        let rows = match self.padding_idx {
            None => rows,
            Some(p) => {
                let keep: Vec<u32> = flat.to_vec_f64()?.iter().map(|&i| u32::from(i as usize != p)).collect();
                let n = keep.len();
                rows.where_cond(&Tensor::from_vec(keep, [n, 1])?, &rows.detach())?
            }
        };
        let mut shape = ids.dims().to_vec();
        shape.push(dim);
        rows.reshape(shape)
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
