//! The embedding lookup in the kernel lab: `index_select` of `count` random rows of a
//! `[vocab, dim]` f32 table: `embedding/cpu.rs` (a row copy per id) against `embedding/reference.rs`.
//! GB/s counts the rows read, the rows written and the 8-byte indices. Must not: time anything but the lookup.

use super::{elements, fast_path, uniform, unsupported, Case, Kernel, Unit, Version};
use crate::embedding::{cpu, reference};
use kiln_tensor::{Layout, Result};

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "embedding",
        family: "embedding",
        about: "index_select of count rows of a [vocab, dim] table; bytes = 8 count dim + 8 count",
        dims: &["vocab", "dim", "count"],
        versions: &[Version::Reference, Version::Cpu],
        baseline: Version::Reference,
        default_versions: &[Version::Reference, Version::Cpu],
        unit: Unit::Gbps,
        // W3: a 20,000-word vocabulary, 128-wide embeddings, a batch of 32 reviews of 256 tokens;
        // then 512 ids, where the table rows read are mostly cold.
        default_shapes: &["20000x128x8192", "20000x128x512"],
        transposes: false,
        strided: false,
        work: |p| 8.0 * (p.dims[1] * p.dims[2]) as f64 + 8.0 * p.dims[2] as f64,
        tolerance: |_| 0.0,
        build: |p, _, rng| {
            let (vocab, dim, count) = (p.dims[0], p.dims[1], p.dims[2]);
            elements("embedding", &[count, dim])?;
            let table = uniform(rng, elements("embedding", &[vocab, dim])?, -1.0, 1.0);
            let ids = (0..count).map(|_| rng.below(vocab)).collect();
            Ok(Box::new(EmbeddingCase { table, layout: Layout::contiguous([vocab, dim]), ids, out: Vec::new() }))
        },
    }]
}

struct EmbeddingCase {
    table: Vec<f32>,
    layout: Layout,
    ids: Vec<usize>,
    out: Vec<f32>,
}

impl Case for EmbeddingCase {
    fn run_host(&mut self, version: Version) -> Result<()> {
        self.out = match version {
            Version::Cpu => fast_path("embedding", cpu::select_rows(&self.table, &self.layout, &self.ids))?,
            Version::Reference => reference::index_select(&self.table, &self.layout, 0, &self.ids),
            other => return Err(unsupported("embedding", other)),
        };
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }
}
