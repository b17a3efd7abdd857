//! The integer GEMM's loop nest and threads. C is cut into tasks: blocks of `mc` rows of A (each
//! packed once per task run, sized to stay in L2) times chunks of B's panels. A thread runs a
//! contiguous range of tasks, row block major, so consecutive tasks reuse the packed A block. Within
//! a task: for each B panel (`NR` columns, all of K: no K blocking, so the sums never leave the
//! registers and the epilogue runs once per output), for each A micro-panel, one tile then the
//! epilogue. Must not: allocate per tile, or let two threads write the same output tile.

use super::epilogue::{store_tile, Epilogue, Output, RawOutput, TileOrder};
use super::microkernel::{self, MicroKernel, MAX_TILE};
use super::PackedWeights;
use crate::gemm::MatRef;
use std::ops::Range;

/// Bytes of packed A a row block aims at (half a 1-2 MiB L2 leaves room for the B panels).
const A_BLOCK_BYTES: usize = 256 << 10;

/// One call's state, shared read-only by its threads.
pub(crate) struct Ctx<'a> {
    m: usize,
    k: usize,
    a: (*const u8, usize, usize),
    weights: &'a PackedWeights,
    epilogue: &'a Epilogue<'a>,
    out: RawOutput,
    /// Rows per block (a multiple of MR).
    mc: usize,
    /// Row blocks and panel chunks: task `t` is block `t / chunks`, chunk `t % chunks`.
    chunks: usize,
    panels_per_chunk: usize,
}

// SAFETY: A and the weights are only read; each task writes its own rows x columns of the output.
unsafe impl Sync for Ctx<'_> {}

/// Runs `out = epilogue(A · B)` on up to `threads` threads (0 = rayon's pool).
///
/// # Safety
/// As [`super::qgemm_with`] checks: A's view fits, the epilogue holds n values, the output fits
/// and does not overlap; `m, n >= 1`.
pub(crate) unsafe fn run(
    threads: usize,
    m: usize,
    a: MatRef<u8>,
    weights: &PackedWeights,
    epilogue: &Epilogue,
    out: &mut Output,
) {
    let isa = weights.isa();
    if weights.k() == 0 {
        // Empty sums: every output is the epilogue of 0 (the bias). The packed loop needs K >= 1.
        let zeros = vec![0i32; weights.n()];
        return store_tile(
            epilogue,
            weights.column_sums(),
            &zeros,
            (TileOrder::RowsAreI, 0),
            (0, 0),
            (m, weights.n()),
            out.raw(),
        );
    }
    let shape = microkernel::shape(isa);
    let (k, n) = (weights.k(), weights.n());
    let row_bytes = k.div_ceil(shape.layout.per_word()).max(1) * 4;
    let mc = ((A_BLOCK_BYTES / row_bytes) / shape.mr).clamp(1, 64) * shape.mr;
    let mc = mc.min(m.div_ceil(shape.mr) * shape.mr);
    let blocks = m.div_ceil(mc);
    let panels = n.div_ceil(shape.nr);
    let t = crate::gemm::threads_for(threads, m, k, n);
    // Enough tasks for every thread (twice over, so an uneven split costs little): split the
    // columns too when there are fewer row blocks than that.
    let chunks = (2 * t).div_ceil(blocks).clamp(1, panels);
    let panels_per_chunk = panels.div_ceil(chunks);
    let chunks = panels.div_ceil(panels_per_chunk);
    let ctx =
        Ctx { m, k, a: (a.data.as_ptr(), a.rs, a.cs), weights, epilogue, out: out.raw(), mc, chunks, panels_per_chunk };
    let task = microkernel::task_fn(isa);
    let tasks = blocks * chunks;
    if t <= 1 || tasks == 1 {
        return task(&ctx, 0..tasks);
    }
    let parts = t.min(tasks);
    let ctx = &ctx;
    rayon::scope(|s| {
        for p in 1..parts {
            let range = tasks * p / parts..tasks * (p + 1) / parts;
            // SAFETY: the ranges are disjoint, so their output tiles are.
            s.spawn(move |_| unsafe { task(ctx, range) });
        }
        task(ctx, 0..tasks / parts);
    });
}

/// Runs tasks `range` of `ctx` with kernel `K` (inlined into each version's entry point).
///
/// # Safety
/// As for [`run`]; the CPU must support `K`'s instructions.
#[inline(always)]
pub(crate) unsafe fn run_tasks<K: MicroKernel>(ctx: &Ctx, range: Range<usize>) {
    let (mr, nr) = (K::MR, K::NR);
    let groups = ctx.k.div_ceil(K::LAYOUT.per_word());
    let n = ctx.weights.n();
    let panels = n.div_ceil(nr);
    let mut packed_a = vec![0u32; ctx.mc.div_ceil(mr) * groups * mr];
    let mut acc = [0i32; MAX_TILE];
    let mut packed_block = usize::MAX;
    // Per A micro-panel of the packed block: whether it holds a byte >= 128 (`SEVEN_BIT` kernels).
    let mut wide = vec![false; ctx.mc.div_ceil(mr)];
    for t in range {
        let (block, chunk) = (t / ctx.chunks, t % ctx.chunks);
        let rows = block * ctx.mc..((block + 1) * ctx.mc).min(ctx.m);
        if packed_block != block {
            super::pack::pack_a(K::LAYOUT, mr, ctx.a, rows.clone(), ctx.k, &mut packed_a);
            packed_block = block;
            if K::SEVEN_BIT {
                for (flag, apanel) in wide.iter_mut().zip(packed_a.chunks(groups * mr)) {
                    *flag = apanel.iter().fold(0, |any, &w| any | w) & 0x8080_8080 != 0;
                }
            }
        }
        let first = chunk * ctx.panels_per_chunk;
        for p in first..(first + ctx.panels_per_chunk).min(panels) {
            let bpanel = ctx.weights.panel(p, groups, nr);
            let j0 = p * nr;
            let cols = nr.min(n - j0);
            let colsum = &ctx.weights.column_sums()[j0..j0 + cols];
            for (mp, apanel) in packed_a.chunks(groups * mr).take(rows.len().div_ceil(mr)).enumerate() {
                let i0 = rows.start + mp * mr;
                if K::SEVEN_BIT && wide[mp] {
                    K::tile_wide(groups, apanel.as_ptr(), bpanel.as_ptr(), acc.as_mut_ptr());
                } else {
                    K::tile(groups, apanel.as_ptr(), bpanel.as_ptr(), acc.as_mut_ptr());
                }
                store_tile(
                    ctx.epilogue,
                    colsum,
                    &acc,
                    (TileOrder::RowsAreI, nr),
                    (i0, j0),
                    (mr.min(rows.end - i0), cols),
                    ctx.out,
                );
            }
        }
    }
}
