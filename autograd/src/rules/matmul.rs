//! Backward rule of matmul, batched and broadcasting: the gradients are matmuls with transposed
//! operands, read as strided views (no transposed copies), summed over broadcast batch dims.
//! Formulas only: no graph walking, no recording, no loops over elements.

use super::{when_needed, Grads};
use crate::var::Var;
use kiln_kernels::matmul::matmul as mm;
use kiln_kernels::reduce::sum_to;
use kiln_tensor::{Result, Tensor};

/// C = A @ B  =>  dA = dC @ B^T,  dB = A^T @ dC.
pub(super) fn matmul(a: &Var, b: &Var, grad: &Tensor) -> Result<Grads> {
    let (at, bt) = (a.tensor(), b.tensor());
    Ok(vec![
        when_needed(a, || sum_to(&product_laid_out_like(grad, &bt.t()?, at)?, a.shape()))?,
        when_needed(b, || sum_to(&product_laid_out_like(&at.t()?, grad, bt)?, b.shape()))?,
    ])
}

/// `x @ y`, computed as `(yᵀ xᵀ)ᵀ` when `like` (the operand it is the gradient of) is a transposed
/// view, so the gradient comes out laid out like its operand. Every `Linear` multiplies by `Wᵀ`:
/// this way `W`'s gradient, after the transpose rule, is dense and needs no strided copy before the
/// optimizer reads it. Same GEMM, same cost (it takes strided operands).
fn product_laid_out_like(x: &Tensor, y: &Tensor, like: &Tensor) -> Result<Tensor> {
    let (d, s) = (like.dims(), like.layout().strides());
    let r = d.len();
    let transposed = r >= 2 && d[r - 2] > 1 && d[r - 1] > 1 && s[r - 2] == 1 && s[r - 1] != 1;
    if transposed {
        mm(&y.t()?, &x.t()?)?.t()
    } else {
        mm(x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_tensor::{DType, Rng};

    #[test]
    fn a_transposed_operand_gets_its_gradient_in_its_own_layout() {
        // y = x Wᵀ as in Linear: the gradient of the view Wᵀ is itself a transposed view of a
        // dense buffer, so the transpose rule hands W a dense gradient (no strided copy).
        let mut rng = Rng::new(1);
        let x = Var::leaf(Tensor::randn([5, 3], 0.0, 1.0, DType::F64, &mut rng));
        let w = Tensor::randn([4, 3], 0.0, 1.0, DType::F64, &mut rng);
        let wt = Var::leaf(w.t().unwrap());
        let g = Tensor::randn([5, 4], 0.0, 1.0, DType::F64, &mut rng);
        let grads = matmul(&x, &wt, &g).unwrap();
        let (gx, gwt) = (grads[0].as_ref().unwrap(), grads[1].as_ref().unwrap());
        assert!(gx.is_contiguous(), "x is dense, so is its gradient");
        assert!(!gwt.is_contiguous() && gwt.t().unwrap().is_contiguous());
        let want = mm(&x.tensor().t().unwrap(), &g).unwrap().to_vec::<f64>().unwrap();
        let got = gwt.to_vec::<f64>().unwrap();
        assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));
    }
}
