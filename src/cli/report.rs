//! `kiln report RUN_DIR...`: rebuilds a run's `report.html` and its charts from what the folder
//! holds (`run.json`, `metrics.jsonl`, sample grids); with several folders, one report whose
//! charts overlay their curves (plain vs BN, seeds). Reads runs, never trains.

use super::CliResult;
use clap::Args;
use kiln::models::report::{self, provenance, RunRecord};
use std::path::PathBuf;
use std::time::SystemTime;

#[derive(Args)]
pub struct ReportArgs {
    /// Run folders written by `kiln train`.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Where the HTML goes [default: RUN_DIR/report.html for one run (its charts are rebuilt
    /// too), runs/compare-<YYYYMMDD-HHMMSS>.html for several].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the (overlaid) charts as loss / accuracy .png and .svg into this folder.
    #[arg(long, value_name = "DIR")]
    charts: Option<PathBuf>,
}

pub fn run(a: ReportArgs) -> CliResult<()> {
    let runs = a.runs.iter().map(|d| RunRecord::load(d)).collect::<Result<Vec<_>, _>>()?;
    let out = match (&a.out, runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.dir.join(report::REPORT_FILE),
        (None, _) => {
            let (stamp, _) = provenance::utc_stamp(SystemTime::now());
            PathBuf::from("runs").join(format!("compare-{stamp}.html"))
        }
    };
    if let [one] = runs.as_slice() {
        report::write_charts(one)?;
    }
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    report::write_report(&runs, &out)?;
    if let Some(dir) = &a.charts {
        std::fs::create_dir_all(dir).map_err(|e| format!("--charts {}: {e}", dir.display()))?;
        report::write_charts_into(&runs, dir)?;
        println!("{}", dir.display());
    }
    println!("{}", out.display());
    Ok(())
}
