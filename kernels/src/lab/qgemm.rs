//! The integer GEMM in the kernel lab: `y = scale ⊙ (A_u8 · B_s8 - z_a colsum) + bias` with random
//! 7-bit activations (0..=127, zero point 64: what PyTorch's x86 `reduce_range` quantization
//! produces, and what `avx2-u7`'s fast path needs; the other versions' speed does not depend on the
//! values) and full-range weights, every [`QIsa`] version on weights packed once when the case is built (as an
//! int8 layer packs them at load time), against kiln's f32 GEMM on the same values (`kiln`, the
//! baseline: `(a - z_a)` as f32 times B as f32, then the same scale and bias). Integer versions must
//! match the reference exactly; the f32 one within rounding. Must not: repack inside a timed run.

use super::gemm::{sampled_rows, FULL_REFERENCE_MACS};
use super::{elements, unsupported, Case, Expected, Kernel, Problem, Unit, Version};
use crate::gemm::{gemm_with, GemmImpl, GemmOptions, MatMut, MatRef};
use crate::qgemm::{qgemm, reference, Epilogue, Output, PackedWeights, QIsa};
use kiln_tensor::{Error, Result, Rng};

/// Square sizes, then int8 inference shapes at batch 256: LeNet's fc layers (400-120-84) and a
/// 3x3 convolution over 64 channels as im2col rows (`pixels x 576 x 64`).
const SHAPES: &[&str] =
    &["256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048", "256x400x120", "256x120x84", "4096x576x64"];

const VERSIONS: &[Version] =
    &[Version::QAvx512Vnni, Version::QAvxVnni, Version::QAvx2, Version::QAvx2U7, Version::Kiln];

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "qgemm",
        family: "qgemm",
        about: "int8 GEMM: u8 (m x k) times s8 (k x n) into s32, then scale, zero point, bias; \
                OPs = 2 m k n; `kiln` = kiln's f32 GEMM on the same values",
        dims: &["m", "k", "n"],
        versions: &[
            Version::QAvx512Vnni,
            Version::QAvxVnni,
            Version::QAvx2,
            Version::QAvx2U7,
            Version::QScalar,
            Version::Kiln,
            Version::Reference,
        ],
        baseline: Version::Kiln,
        default_versions: VERSIONS,
        unit: Unit::Gops,
        default_shapes: SHAPES,
        transposes: false,
        strided: false,
        work: |p| 2.0 * p.dims.iter().map(|&d| d as f64).product::<f64>(),
        // The integer versions are held to 0 (`QGemmCase::tolerance`); this is the f32 GEMM's
        // rounding, as in the f32 GEMM's own lab entry.
        tolerance: |p| 1e-5 * (p.dims[1] as f32).sqrt().max(1.0),
        build: |p, _, rng| Ok(Box::new(QGemmCase::new(p, rng)?)),
    }]
}

struct QGemmCase {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<u8>,
    b: Vec<i8>,
    zero_point: u8,
    scale: Vec<f32>,
    bias: Vec<f32>,
    /// Packed once per integer version, in `QIsa::ALL` order.
    packed: Vec<PackedWeights>,
    /// The f32 baseline's operands: `a - zero_point` and B, as f32.
    a_f32: Vec<f32>,
    b_f32: Vec<f32>,
    out: Vec<f32>,
}

fn isa_of(version: Version) -> Option<QIsa> {
    match version {
        Version::QAvx512Vnni => Some(QIsa::Avx512Vnni),
        Version::QAvxVnni => Some(QIsa::AvxVnni),
        Version::QAvx2 => Some(QIsa::Avx2),
        Version::QAvx2U7 => Some(QIsa::Avx2U7),
        Version::QScalar => Some(QIsa::Scalar),
        _ => None,
    }
}

impl QGemmCase {
    fn new(p: &Problem, rng: &mut Rng) -> Result<QGemmCase> {
        let (m, k, n) = (p.dims[0], p.dims[1], p.dims[2]);
        let a: Vec<u8> = (0..elements("qgemm", &[m, k])?).map(|_| rng.next_u64() as u8 & 0x7f).collect();
        let b: Vec<i8> = (0..elements("qgemm", &[k, n])?).map(|_| rng.next_u64() as u8 as i8).collect();
        let zero_point = 64;
        // Outputs of order 1: a sum of k products of ~37 x 74 (the centred bytes' RMS) is
        // ~2,700 sqrt(k).
        let unit = 1.0 / (2700.0 * (k.max(1) as f32).sqrt());
        let scale = (0..n).map(|_| unit * (0.5 + rng.next_f32())).collect();
        let bias = (0..n).map(|_| rng.next_f32() - 0.5).collect();
        let packed = QIsa::ALL
            .into_iter()
            .map(|isa| PackedWeights::pack(isa, k, n, MatRef::row_major(&b, n)))
            .collect::<Result<Vec<_>>>()?;
        let a_f32 = a.iter().map(|&v| v as f32 - zero_point as f32).collect();
        let b_f32 = b.iter().map(|&v| v as f32).collect();
        let out = vec![f32::NAN; elements("qgemm", &[m, n])?];
        Ok(QGemmCase { m, k, n, a, b, zero_point, scale, bias, packed, a_f32, b_f32, out })
    }

    fn epilogue(&self) -> Epilogue<'_> {
        Epilogue { a_zero_point: self.zero_point, scale: &self.scale, bias: Some(&self.bias), relu: false }
    }

    /// The f32 path an unquantized layer takes: GEMM, then scale and bias per column.
    fn run_f32(&mut self) -> Result<()> {
        let (m, k, n) = (self.m, self.k, self.n);
        let opts = GemmOptions { imp: GemmImpl::Kiln, ..GemmOptions::default() };
        let a = MatRef::row_major(&self.a_f32, k);
        let b = MatRef::row_major(&self.b_f32, n);
        gemm_with(opts, m, k, n, 1.0, a, b, 0.0, MatMut::row_major(&mut self.out, n))
            .map_err(|e| Error::invalid("kernel lab", e.to_string()))?;
        for row in self.out.chunks_mut(n.max(1)) {
            for ((y, s), b) in row.iter_mut().zip(&self.scale).zip(&self.bias) {
                *y = *y * s + b;
            }
        }
        Ok(())
    }
}

impl Case for QGemmCase {
    fn run_host(&mut self, version: Version) -> Result<()> {
        let (m, k, n) = (self.m, self.k, self.n);
        let mut out = std::mem::take(&mut self.out);
        let result = match (version, isa_of(version)) {
            (_, Some(isa)) => {
                let packed = &self.packed[QIsa::ALL.iter().position(|&q| q == isa).expect("listed")];
                qgemm(
                    MatRef::row_major(&self.a, k),
                    m,
                    packed,
                    &self.epilogue(),
                    Output::F32(MatMut::row_major(&mut out, n)),
                )
            }
            (Version::Reference, _) => reference::qgemm(
                m,
                k,
                n,
                MatRef::row_major(&self.a, k),
                MatRef::row_major(&self.b, n),
                &self.epilogue(),
                Output::F32(MatMut::row_major(&mut out, n)),
            ),
            (Version::Kiln, _) => {
                self.out = out;
                return self.run_f32();
            }
            (other, _) => Err(unsupported("qgemm", other)),
        };
        self.out = out;
        result
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }

    fn tolerance(&self, version: Version, kernel_tolerance: f32) -> f32 {
        if version == Version::Kiln {
            kernel_tolerance
        } else {
            0.0
        }
    }

    fn expected(&mut self) -> Result<Expected> {
        if self.m * self.k * self.n <= FULL_REFERENCE_MACS {
            self.run(Version::Reference)?;
            return Ok(Expected::all(self.output()));
        }
        let (k, n) = (self.k, self.n);
        let rows = sampled_rows(self.m);
        let mut values = vec![0.0f32; rows.len() * n];
        for (&i, out) in rows.iter().zip(values.chunks_mut(n)) {
            let a = MatRef::row_major(&self.a[i * k..(i + 1) * k], k);
            let b = MatRef::row_major(&self.b, n);
            reference::qgemm(1, k, n, a, b, &self.epilogue(), Output::F32(MatMut::row_major(out, n)))?;
        }
        let positions = rows.iter().flat_map(|&i| i * n..(i + 1) * n).collect();
        Ok(Expected { values, positions: Some(positions), len: self.m * n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{find, validate, Operands};

    #[test]
    fn every_version_validates_and_the_integer_ones_exactly() {
        let k = find("qgemm").unwrap();
        for shape in ["37x70x45", "8x4099x33"] {
            let p = Problem::parse(shape, k).unwrap();
            let verdicts = validate(k, &p, k.versions, 1).unwrap();
            for (v, verdict) in k.versions.iter().zip(verdicts) {
                assert!(verdict.is_ok(), "{v} at {shape}: {verdict:?}");
            }
            let case = k.case(&p, Operands::Dense, &mut Rng::new(1)).unwrap();
            assert_eq!(case.tolerance(Version::QAvx2, 1.0), 0.0);
            assert_eq!(case.tolerance(Version::QAvx2U7, 1.0), 0.0);
        }
    }
}
