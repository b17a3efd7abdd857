//! The dropout forward: inverted dropout with a mask drawn from kiln's seeded `Rng` and saved for
//! backward. No backward math here: the rule is in `rules/dropout.rs`.

use crate::op::Op;
use crate::var::Var;
use kiln_kernels::dropout::dropout_mask;
use kiln_kernels::elementwise::{binary, BinaryOp};
use kiln_tensor::{Error, Result, Rng};

impl Var {
    /// Inverted dropout: in training each element is zeroed with probability `p` and the rest
    /// scaled by `1/(1-p)` (`p == 1` zeroes everything); outside training (or with `p == 0`) it is
    /// the identity, records nothing and draws nothing. The mask is drawn from `rng` and saved for
    /// backward.
    pub fn dropout(&self, p: f64, train: bool, rng: &mut Rng) -> Result<Var> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::hyper("dropout", "drop probability", p, "in [0, 1]"));
        }
        if !train || p == 0.0 {
            return Ok(self.clone());
        }
        // Drawn on the host from the same generator whatever the device, so a model trains the
        // same on a GPU as on the CPU; one upload of the mask per call.
        let mask = dropout_mask(self.shape(), p, self.dtype(), rng)?.to_device(self.device())?;
        let out = binary(BinaryOp::Mul, self.tensor(), &mask)?;
        Ok(Var::from_op(out, Op::Dropout { x: self.clone(), mask, p }))
    }
}
