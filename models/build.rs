//! Records the git commit kiln is built from (`KILN_GIT_COMMIT`, read with `option_env!` by the run
//! report), so every report says which code trained it. Outside a git checkout (a crate tarball,
//! a source copy) or without `git`, nothing is set and the report says "unknown". Only reads git.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let out = Command::new("git").args(args).current_dir(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else { return };
    println!("cargo:rustc-env=KILN_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves: a commit, checkout or reset rewrites HEAD or appends to its log.
    for file in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", file]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
