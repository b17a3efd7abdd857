//! The embedding lookup in the kernel lab: `index_select` of `count` random rows of a
//! `[vocab, dim]` f32 table: `embedding/cpu.rs` (a row copy per id) against `embedding/reference.rs`,
//! and `cuda`, the `embedding_gather_f32` kernel.
//! GB/s counts the rows read, the rows written and the 8-byte indices. Must not: time anything but the lookup.

use super::device::OnDevice;
use super::{elements, fast_path, uniform, unsupported, Case, Kernel, Unit, Version};
use crate::cuda::{Buf, Rows};
use crate::embedding::{cpu, reference};
use kiln_tensor::{Layout, Result};

pub(super) fn kernels() -> Vec<Kernel> {
    vec![Kernel {
        name: "embedding",
        family: "embedding",
        about: "index_select of count rows of a [vocab, dim] table; bytes = 8 count dim + 8 count",
        dims: &["vocab", "dim", "count"],
        versions: &[Version::Reference, Version::Cpu, Version::Cuda],
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
            let layout = Layout::contiguous([vocab, dim]);
            Ok(Box::new(EmbeddingCase { table, layout, ids, out: Vec::new(), dev: None }))
        },
    }]
}

struct EmbeddingCase {
    table: Vec<f32>,
    layout: Layout,
    ids: Vec<usize>,
    out: Vec<f32>,
    /// The table (output: the gathered rows) and the ids, uploaded at the first CUDA run.
    dev: Option<(OnDevice, Buf<i64>)>,
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

    fn launch_cuda(&mut self, version: Version) -> Result<()> {
        if version != Version::Cuda {
            return Err(unsupported("embedding", version));
        }
        if self.dev.is_none() {
            let dev = OnDevice::upload(&[&self.table], self.ids.len() * self.layout.dims()[1])?;
            let ids: Vec<i64> = self.ids.iter().map(|&i| i as i64).collect();
            let idx = dev.runner.upload(&ids)?;
            self.dev = Some((dev, idx));
        }
        let (dev, idx) = self.dev.as_mut().expect("uploaded above");
        let table = (&dev.inputs[0], Rows::from_layout("embedding", &self.layout)?);
        crate::cuda::embedding::gather(&dev.runner, table, idx, self.ids.len(), &mut dev.out)
    }

    fn fetch_cuda(&mut self) -> Result<()> {
        let (dev, _) = self.dev.as_ref().ok_or_else(|| unsupported("embedding", Version::Cuda))?;
        self.out = dev.runner.download(&dev.out)?;
        Ok(())
    }

    fn output(&self) -> Vec<f32> {
        self.out.clone()
    }
}
