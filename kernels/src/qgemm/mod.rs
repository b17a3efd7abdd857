//! Integer GEMM for int8 inference: `C = epilogue(A_u8 · B_s8)` with 32-bit accumulation, where A is
//! a quantized activation (`u8`, one zero point) and B a quantized weight (`s8`, symmetric, zero
//! point 0) packed once ahead of time. The epilogue turns each 32-bit sum into the layer's output:
//!
//! ```text
//! y[i, j] = scale[j] * (acc[i, j] - a_zero_point * colsum[j]) + bias[j]     (then ReLU, if asked)
//! ```
//!
//! since `Σ_k (a - z_a) b = Σ_k a b - z_a Σ_k b` and `colsum[j] = Σ_k B[k, j]` is computed when B is
//! packed: the zero point costs one multiply-add per output, not one per product. `scale[j]` is the
//! activation scale times output channel j's weight scale. The result is written as f32, or
//! requantized to u8 with the next layer's scale and zero point.
//!
//! Why u8 x s8: it is what the x86 dot-product instructions multiply (`vpdpbusd`: unsigned bytes of
//! one operand times signed bytes of the other, four products summed into each 32-bit lane), and
//! activations after ReLU are non-negative while weights are signed.
//!
//! Versions ([`QIsa`], chosen at run time like the f32 kernels, lowered with `KILN_QGEMM`):
//! - AVX-512 VNNI: `vpdpbusd` on 512-bit registers, 64 multiply-adds per instruction;
//! - AVX-VNNI: the same instruction on 256-bit registers (CPUs with VNNI but without AVX-512);
//! - AVX2: no byte dot product that cannot saturate (`vpmaddubsw` clamps pairs to 16 bits, and
//!   255 x -128 x 2 does not fit), so both operands are widened to i16 when packed and `vpmaddwd`
//!   sums pairs into 32 bits exactly;
//! - AVX2 for 7-bit activations (`avx2-u7`, only when asked for: weights quantized for activations
//!   in 0..=127, PyTorch's `reduce_range`): bytes as packed for VNNI, `vpmaddubsw` + `vpmaddwd` by
//!   ones + `vpaddd`, 32 multiply-adds per three instructions against the widened path's 16 per
//!   two. A pair of products is then at most 2 x 127 x 128 = 32,512 and cannot saturate. A packed
//!   A micro-panel holding a byte >= 128 is detected when packed and summed as `a & 0x7f` plus
//!   `128 (a >> 7)`, two exact byte products, so any u8 input stays exact, only slower;
//! - scalar: the packed loop nest in plain Rust (every CPU; the fallback);
//! - the reference (`reference.rs`): a triple loop over the unpacked operands, the oracle.
//!
//! All versions are exact: integer sums, then the same f32 epilogue code (`epilogue.rs`), so they
//! agree bit for bit. Overflow: each product is at most 255 x 128 = 32,640 in magnitude, so K up to
//! [`MAX_K`] = 65,536 keeps every 32-bit sum (and the zero-point correction) in range; a larger K is
//! an error, not a wrapped sum.
//!
//! Two operand orders share the words, the epilogue and the checks. The linear order (`qgemm`):
//! A's rows broadcast, B's columns in the vector lanes, for `x Wᵀ` with a batch of rows. The
//! swapped order (`lanes.rs`, used by `conv2d`): A's rows (output positions) in the lanes, B's
//! columns (output channels) broadcast, reading A straight from the im2col layout.
//!
//! Files: `conv.rs` (int8 conv2d: u8 im2col + one swapped-order GEMM per sample), `lanes.rs` and
//! `lanes_x86.rs` (the swapped order: packing, loop, kernels), `pack.rs` (the packed layouts of
//! the linear order), `microkernel.rs` (its scalar kernel and dispatch), `x86.rs` (its SIMD
//! kernels), `driver.rs` (its blocking and threads), `epilogue.rs`, `peak.rs` (the int8 peak the
//! lab reports against). Must not: quantize or choose scales (that is the models'
//! quantization code), or read the process-wide f32 GEMM setting.

pub mod conv;
mod driver;
mod epilogue;
mod lanes;
#[cfg(target_arch = "x86_64")]
mod lanes_x86;
mod microkernel;
mod pack;
pub mod peak;
pub mod reference;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use conv::{conv2d, ConvOutput};
pub use epilogue::{requantize, Epilogue, Output};
pub use lanes::ConvWeights;
pub use pack::PackedWeights;

use crate::gemm::{MatMut, MatRef};
use kiln_tensor::{Error, Result};
use std::sync::OnceLock;

const OP: &str = "qgemm";

/// The largest K a 32-bit accumulator provably holds: 65,536 x 255 x 128 < 2^31.
pub const MAX_K: usize = 1 << 16;

/// An integer GEMM version, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QIsa {
    /// AVX-512 VNNI (`vpdpbusd` zmm).
    Avx512Vnni,
    /// AVX-VNNI (`vpdpbusd` ymm, VEX-encoded).
    AvxVnni,
    /// AVX2, operands widened to i16 and summed with `vpmaddwd`.
    Avx2,
    /// AVX2 on bytes with `vpmaddubsw`, fast for activations below 128 (exact for any).
    Avx2U7,
    /// Plain Rust over the packed layout.
    Scalar,
}

impl QIsa {
    /// Every version, in fallback order ([`QIsa::usable`]): `Avx2U7` comes after `Avx2` because
    /// it is only the better one for 7-bit activations, so no fallback from above lands on it.
    pub const ALL: [QIsa; 5] = [QIsa::Avx512Vnni, QIsa::AvxVnni, QIsa::Avx2, QIsa::Avx2U7, QIsa::Scalar];

    pub fn name(self) -> &'static str {
        match self {
            QIsa::Avx512Vnni => "avx512-vnni",
            QIsa::AvxVnni => "avx-vnni",
            QIsa::Avx2 => "avx2",
            QIsa::Avx2U7 => "avx2-u7",
            QIsa::Scalar => "scalar",
        }
    }

    /// Parses a [`QIsa::name`] (case-insensitive).
    pub fn parse(s: &str) -> Option<QIsa> {
        QIsa::ALL.into_iter().find(|q| q.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this CPU can run `self`.
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                QIsa::Avx512Vnni => {
                    is_x86_feature_detected!("avx512f")
                        && is_x86_feature_detected!("avx512bw")
                        && is_x86_feature_detected!("avx512vnni")
                }
                QIsa::AvxVnni => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni"),
                QIsa::Avx2 | QIsa::Avx2U7 => is_x86_feature_detected!("avx2"),
                QIsa::Scalar => true,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == QIsa::Scalar
        }
    }

    /// `self` if supported, else the best supported version below it.
    pub fn usable(self) -> QIsa {
        let from = QIsa::ALL.iter().position(|&q| q == self).expect("listed");
        QIsa::ALL[from..].iter().copied().find(|q| q.is_supported()).unwrap_or(QIsa::Scalar)
    }
}

impl std::fmt::Display for QIsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The best version this CPU runs, lowered by `KILN_QGEMM=<name>` if set (asking for more than the
/// CPU has falls back to what it has; an unknown value is ignored).
pub fn qisa() -> QIsa {
    static CHOSEN: OnceLock<QIsa> = OnceLock::new();
    *CHOSEN.get_or_init(|| {
        let wanted = std::env::var("KILN_QGEMM").ok().as_deref().and_then(QIsa::parse).unwrap_or(QIsa::Avx512Vnni);
        wanted.usable()
    })
}

/// The version for a layer whose activations are quantized on 7-bit grids (`seven_bit`, PyTorch's
/// `reduce_range`): `avx2-u7` where [`qisa`] picks `avx2`, else [`qisa`]'s choice (VNNI gains
/// nothing from the narrower bytes).
pub fn qisa_for(seven_bit: bool) -> QIsa {
    match qisa() {
        QIsa::Avx2 if seven_bit => QIsa::Avx2U7,
        q => q,
    }
}

/// `out = epilogue(A · B)` for `A: m x k` (u8, any strides), the weights `B: k x n` packed by
/// [`PackedWeights::pack`] for [`qisa`], on rayon's threads.
pub fn qgemm(a: MatRef<u8>, m: usize, weights: &PackedWeights, epilogue: &Epilogue, out: Output) -> Result<()> {
    qgemm_with(0, a, m, weights, epilogue, out)
}

/// [`qgemm`] on at most `threads` threads (0 = rayon's pool size); runs the version the weights
/// were packed for.
pub fn qgemm_with(
    threads: usize,
    a: MatRef<u8>,
    m: usize,
    weights: &PackedWeights,
    epilogue: &Epilogue,
    mut out: Output,
) -> Result<()> {
    let (k, n) = (weights.k(), weights.n());
    check_view("a (activations)", m, k, a.rs, a.cs, a.data.len())?;
    epilogue.check(n)?;
    out.check(m, n)?;
    crate::denormals::ensure_current_thread();
    if m == 0 || n == 0 {
        return Ok(());
    }
    // SAFETY: A's extent was checked above, the packed weights are consistent by construction, the
    // epilogue's slices hold n values, and the output view fits and does not overlap itself.
    unsafe { driver::run(threads, m, a, weights, epilogue, &mut out) };
    Ok(())
}

/// The 32-bit sums `C = A · B` alone (no epilogue), by the reference loop: what tests compare the
/// packed versions' accumulators with.
pub fn accumulate_reference(m: usize, k: usize, n: usize, a: MatRef<u8>, b: MatRef<i8>) -> Result<Vec<i32>> {
    check_k(k)?;
    check_view("a (activations)", m, k, a.rs, a.cs, a.data.len())?;
    check_view("b (weights)", k, n, b.rs, b.cs, b.data.len())?;
    let len = m.checked_mul(n).ok_or_else(|| Error::SizeOverflow { op: OP, what: format!("an {m}x{n} output") })?;
    let mut c = vec![0i32; len];
    reference::accumulate(m, k, n, (a.data, a.rs, a.cs), (b.data, b.rs, b.cs), MatMut::row_major(&mut c, n));
    Ok(c)
}

/// K must fit the 32-bit accumulator (see the module docs).
fn check_k(k: usize) -> Result<()> {
    if k > MAX_K {
        return Err(Error::invalid(
            OP,
            format!("k = {k} exceeds {MAX_K}: 32-bit sums of u8 x s8 products could overflow"),
        ));
    }
    Ok(())
}

/// A `rows x cols` view with strides `(rs, cs)` must fit `len` elements.
fn check_view(what: &str, rows: usize, cols: usize, rs: usize, cs: usize, len: usize) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let last = (rows - 1).checked_mul(rs).and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)));
    match last {
        Some(last) if last < len => Ok(()),
        _ => Err(Error::invalid(
            OP,
            format!("{what}: a {rows}x{cols} view with strides ({rs}, {cs}) does not fit its {len} elements"),
        )),
    }
}

#[cfg(test)]
mod tests;
