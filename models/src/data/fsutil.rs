//! File plumbing for the data module: reading a file that may be gzipped (detected by its magic
//! 0x1f 0x8b, not by its name), sha256 of bytes and files, atomic writes (temp file in the same
//! folder, fsync, rename, fsync of the folder; temp files of killed writers removed) and a
//! self-removing scratch folder. Knows nothing about any format.

use super::error::{DataError, Result};
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The first two bytes of every gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file, gunzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| DataError::Gzip { path: path.into(), source })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Lower-case hex of the sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of the sha256 of a file, read in 1 MiB pieces.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Checks a file against a known sha256 (hex, either case).
pub fn verify_sha256(path: &Path, expected: &str) -> Result<()> {
    let got = sha256_file(path)?;
    if got.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::Checksum { path: path.into(), expected: expected.to_ascii_lowercase(), got })
    }
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The prefix of every temp name made for `path`: `.{name}.kiln-tmp.` (then pid and a counter).
fn temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.kiln-tmp.")
}

/// A fresh name beside `path` for a temp file or folder (same folder, so a rename is atomic).
fn temp_sibling(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = format!("{}{}.{}", temp_prefix(path), std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    path.with_file_name(unique)
}

/// Removes the temp files a writer of `path` left when it was killed mid-write: those whose pid is
/// no running process (Linux's `/proc`; elsewhere nothing is removed, as liveness is unknown). A
/// live writer's temp file is never touched. Best effort: a failure here never fails the write.
fn remove_orphan_temps(path: &Path) {
    let (Some(dir), prefix) = (path.parent(), temp_prefix(path)) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix(&prefix).and_then(|rest| rest.split('.').next()?.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Makes a rename in `path`'s folder durable: the folder itself is synced (on Unix; a no-op
/// elsewhere), else a crash right after the rename could bring the old file back.
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `path` atomically: `write` fills a temp file beside it, which is synced and renamed over
/// `path` only if everything succeeded; on failure the temp file is removed and `path` is untouched.
pub fn atomic_write_with(path: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    remove_orphan_temps(path);
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut file = File::create(&tmp)?;
        write(&mut file)?;
        file.flush()?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_parent(path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        DataError::io(path, e)
    })
}

/// [`atomic_write_with`] for bytes already in memory.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |f| f.write_all(bytes))
}

/// A scratch folder beside `near` (so that its contents can be renamed into place), removed with
/// everything in it when dropped.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new(near: &Path) -> Result<Self> {
        let path = temp_sibling(near);
        fs::create_dir_all(&path).map_err(|e| DataError::io(&path, e))?;
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Replaces folder `dest` by folder `src` (both in the same parent): the old `dest`, if any, is moved
/// aside first and removed after, so `dest` is never half-written.
pub fn replace_dir(src: &Path, dest: &Path) -> Result<()> {
    let old = temp_sibling(dest);
    if dest.exists() {
        fs::rename(dest, &old).map_err(|e| DataError::io(dest, e))?;
    }
    fs::rename(src, dest).map_err(|e| DataError::io(dest, e))?;
    let _ = fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = std::env::temp_dir().join(format!("kiln-fsutil-{}", std::process::id()));
        let path = dir.join("sub").join("f.bin");
        atomic_write(&path, b"one").unwrap();
        atomic_write(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        let failed = atomic_write_with(&path, |_| Err(io::Error::other("boom")));
        assert!(matches!(failed, Err(DataError::Io { .. })));
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
