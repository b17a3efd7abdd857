//! `kiln bench kernel <name> --layouts` (and `kiln bench kernel all --layouts`): the layout sweep of
//! `kiln_kernels::lab::layouts`, printed as a table (or JSON lines) of median time, GB/s and time
//! per element relative to contiguous per layout, with a flag on layouts over the cliff (2x).
//! Must not: time a debug build (`bench::check_release` decides).

use super::bench::check_release;
use super::CliResult;
use kiln::kernels::lab::layouts::{self, SweepKernel, CLIFF};
use kiln::kernels::lab::timing::Plan;
use serde_json::json;
use std::time::Duration;

/// W2-BN's first BatchNorm input, `[64, 32, 30 * 30]`.
const DEFAULT_DIMS: [usize; 3] = [64, 32, 900];

/// The options of one sweep.
pub struct SweepArgs<'a> {
    pub name: &'a str,
    pub shapes: Option<&'a str>,
    pub threads: Option<usize>,
    pub budget_ms: u64,
    pub seed: u64,
    pub json: bool,
}

fn parse_dims(s: &str) -> CliResult<[usize; 3]> {
    let dims: Vec<usize> = s
        .split('x')
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--shapes `{s}`: expected A x B x C, e.g. 64x32x900"))?;
    match dims[..] {
        [a, b, c] if a > 0 && b > 0 && c > 0 => Ok([a, b, c]),
        _ => Err(format!("--shapes `{s}`: the layout sweep takes one shape of three positive dims, A x B x C").into()),
    }
}

pub fn run(a: SweepArgs) -> CliResult<()> {
    let kernels: Vec<&SweepKernel> = match a.name {
        "all" => layouts::kernels().iter().collect(),
        name => vec![layouts::find(name)?],
    };
    let dims = a.shapes.map(parse_dims).transpose()?.unwrap_or(DEFAULT_DIMS);
    let smoke = check_release("kernel", true, "a smoke run (5 timed runs per row)")?;
    let plan = if smoke { Plan::smoke() } else { Plan::adaptive(Duration::from_millis(a.budget_ms.max(1))) };
    let sweep = || -> CliResult<usize> {
        let mut flagged = 0;
        for k in &kernels {
            if !a.json {
                println!("{}: {} at {}x{}x{}", k.name, k.about, dims[0], dims[1], dims[2]);
                println!("  {:<18} {:>12} {:>9} {:>14}", "layout", "median", "GB/s", "per element");
            }
            for row in layouts::sweep(k, dims, &plan, a.seed)? {
                flagged += row.flagged as usize;
                if a.json {
                    let j = json!({"kernel": k.name, "layout": row.layout.name(), "shape": dims,
                        "median_us": row.timing.median.as_secs_f64() * 1e6, "gbps": row.gbps,
                        "relative": row.relative, "flagged": row.flagged});
                    println!("{j}");
                } else {
                    let flag = if row.flagged {
                        format!("  <- more than {CLIFF}x slower than contiguous")
                    } else {
                        String::new()
                    };
                    let us = row.timing.median.as_secs_f64() * 1e6;
                    println!(
                        "  {:<18} {us:>9.1} us {:>9.2} {:>13.2}x{flag}",
                        row.layout.name(),
                        row.gbps,
                        row.relative
                    );
                }
            }
        }
        Ok(flagged)
    };
    let flagged = match a.threads {
        None => sweep()?,
        Some(n) => rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build()?.install(sweep)?,
    };
    if !a.json {
        println!("{flagged} layout(s) flagged");
    }
    Ok(())
}
