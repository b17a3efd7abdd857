//! Headless Chromium for the tests that check a page in a real browser (the run report, the
//! review explanation): find the browser (Debian's `chromium`, installed by `.ci/run`; skipped
//! with a notice where it is missing), run it on a page with a fresh profile and nothing fetched,
//! and judge a screenshot not blank. Included by path from the tests that use it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium's command, or None (with a notice) where it is not installed.
pub fn chromium() -> Option<PathBuf> {
    let candidates = ["chromium", "chromium-browser", "google-chrome"];
    let found = std::env::var_os("KILN_CHROMIUM").map(PathBuf::from).into_iter().chain(candidates.map(PathBuf::from));
    let found = found.into_iter().find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    if found.is_none() {
        eprintln!("NOTICE: Chromium is not installed (apt-get install chromium); skipping the browser check");
    }
    found
}

/// Runs headless Chromium on `page` with `extra` flags (a fresh profile, nothing fetched) and
/// returns its stdout; killed after 90 s.
pub fn headless(chrome: &Path, page: &Path, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chrome)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            child.kill().unwrap();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium {extra:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Screenshots `page` at `size` into `shot` and asserts the picture is not blank: its grey levels
/// vary and some of it is dark (text).
pub fn assert_screenshot_not_blank(chrome: &Path, page: &Path, shot: &Path, size: (u32, u32)) {
    headless(
        chrome,
        page,
        &[format!("--screenshot={}", shot.display()), format!("--window-size={},{}", size.0, size.1)],
    );
    let img = image::open(shot).expect("a PNG screenshot").to_luma8();
    assert_eq!((img.width(), img.height()), size);
    let n = img.pixels().len() as f64;
    let mean = img.pixels().map(|p| p.0[0] as f64).sum::<f64>() / n;
    let var = img.pixels().map(|p| (p.0[0] as f64 - mean).powi(2)).sum::<f64>() / n;
    let dark = img.pixels().filter(|p| p.0[0] < 128).count() as f64 / n;
    assert!(var > 100.0 && dark > 0.005, "the screenshot looks blank: variance {var:.1}, dark fraction {dark:.4}");
}
