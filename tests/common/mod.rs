//! What the two PyTorch golden tests share: the tolerance and the scaled-error comparison of a
//! kiln tensor with golden values. No case parsing here; each test reads its own file format.

use kiln::tensor::Tensor;

/// `|got - want| <= TOLERANCE * max(1, |want|)`, see tests/golden/README.md.
pub const TOLERANCE: f64 = 1e-5;

/// The largest `|got - want| / max(1, |want|)` (NaN counts as infinite), or why it cannot compare.
pub fn worst_error(what: &str, got: &Tensor, want_shape: &[usize], want: &[f64]) -> Result<f64, String> {
    if got.dims() != want_shape {
        return Err(format!("{what}: shape {:?}, want {:?}", got.dims(), want_shape));
    }
    let got = got.to_vec_f64().map_err(|e| format!("{what}: {e}"))?;
    if got.len() != want.len() {
        return Err(format!("{what}: {} values, golden file has {}", got.len(), want.len()));
    }
    let mut worst: f64 = 0.0;
    for (g, w) in got.iter().zip(want) {
        let err = (g - w).abs() / w.abs().max(1.0);
        worst = if err.is_nan() { f64::INFINITY } else { worst.max(err) };
    }
    Ok(worst)
}
