//! Where a run happened: kiln's version and git commit (from `build.rs`), the CPU model, the SIMD
//! instruction set and subnormal mode the kernels chose, and UTC timestamps (formatted here
//! from the Unix clock with the civil-from-days algorithm, so no date crate is needed). Read-only:
//! it reports the machine, never changes it.

use std::time::{SystemTime, UNIX_EPOCH};

/// kiln's version (the workspace's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit this build came from, or "unknown" outside a git checkout.
pub fn commit() -> &'static str {
    option_env!("KILN_GIT_COMMIT").unwrap_or("unknown")
}

/// The CPU's model name (the kernels crate reads it for benchmarks too).
pub fn cpu_model() -> String {
    kiln_kernels::simd::machine::cpu_model().to_string()
}

/// The instruction set the CPU kernels run with (and the best this CPU has, when `KILN_SIMD`
/// lowered it), and whether subnormals are flushed: both change the numbers a run produces.
pub fn isa() -> String {
    let (used, best) = (kiln_kernels::simd::isa(), kiln_kernels::simd::detect());
    let isa = if used == best {
        used.name().to_string()
    } else {
        format!("{} (CPU has {}; lowered by KILN_SIMD)", used.name(), best.name())
    };
    match kiln_kernels::denormals::mode() {
        kiln_kernels::denormals::Mode::Flush => format!("{isa}, subnormals flushed"),
        kiln_kernels::denormals::Mode::Keep => format!("{isa}, subnormals kept (KILN_DENORMALS=keep)"),
    }
}

/// UTC date and time of `t` as (`YYYYMMDD-HHMMSS`, `YYYY-MM-DD HH:MM:SS UTC`).
pub fn utc_stamp(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    (format!("{y:04}{m:02}{d:02}-{hh:02}{mm:02}{ss:02}"), format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC"))
}

/// Proleptic Gregorian (year, month, day) of `z` days after 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_stamps_match_known_dates() {
        let at = |s| utc_stamp(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0).0, "19700101-000000");
        // 2000-02-29 (a leap day of a century year) and 2026-12-02 13:39:24.
        assert_eq!(at(951_782_400).1, "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_796_218_764).0, "20261202-133924");
        assert_eq!(at(4_107_542_399).1, "2100-02-28 23:59:59 UTC");
    }

    #[test]
    fn machine_facts_are_named() {
        assert!(!cpu_model().is_empty());
        assert!(["avx512", "avx2", "scalar"].iter().any(|n| isa().starts_with(n)), "{}", isa());
        assert!(!commit().is_empty() && !VERSION.is_empty());
    }
}
