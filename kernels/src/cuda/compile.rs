//! NVRTC: CUDA C++ source -> PTX for one compute capability, cached in memory and on disk.
//!
//! Kiln ships `.cu` sources, not PTX: PTX is stamped with the ISA version of the NVRTC that made
//! it, and a driver older than that refuses it, so compiling at first use with the user's own NVRTC
//! is what keeps "PTX too new for this driver" away. The disk cache (keyed by an FNV-1a hash of the
//! source text, the target arch, the NVRTC version and the options) makes that a one-time cost.
//! Set `KILN_CUDA_CACHE` to choose the folder, or to `off` to disable the disk cache.

use super::nvrtc::{nvrtc, NvrtcFailure};
use super::source::KernelSource;
use kiln_tensor::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Options every kiln kernel is compiled with (part of the cache key).
const OPTIONS: &[&str] = &["--std=c++17"];

/// Whether an NVRTC library was found and loaded (see `nvrtc_find` for where kiln looks).
pub fn nvrtc_available() -> bool {
    nvrtc().is_ok()
}

/// The loaded NVRTC's version, e.g. (13, 0); None when NVRTC is absent.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    nvrtc().ok().map(|n| n.version)
}

/// A line saying which NVRTC is in use (version, file, builtins), or why none is.
pub fn nvrtc_report() -> String {
    match nvrtc() {
        Ok(n) => format!(
            "NVRTC {}.{} from {} (builtins: {})",
            n.version.0,
            n.version.1,
            n.source,
            n.builtins.as_ref().map_or("left to NVRTC's own search".into(), |b| b.display().to_string())
        ),
        Err(e) => e,
    }
}

/// The NVRTC `--gpu-architecture` for a device's compute capability, e.g. (8, 6) -> `compute_86`.
pub fn arch_for(major: i32, minor: i32) -> &'static str {
    match (major, minor) {
        (5, 0) => "compute_50",
        (5, 2) => "compute_52",
        (6, 0) => "compute_60",
        (6, 1) => "compute_61",
        (7, 0) => "compute_70",
        (7, 5) => "compute_75",
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 7) => "compute_87",
        (8, 9) => "compute_89",
        (9, 0) => "compute_90",
        (10, 0) => "compute_100",
        (12, 0) => "compute_120",
        // A capability this list does not know yet: leak one string per distinct device kind.
        _ => Box::leak(format!("compute_{major}{minor}").into_boxed_str()),
    }
}

/// 64-bit FNV-1a: stable across Rust versions and machines, unlike `DefaultHasher`.
pub fn fnv1a64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff; // separator, so ("ab","c") and ("a","bc") differ
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The default disk cache folder: `$KILN_CUDA_CACHE`, else `$XDG_CACHE_HOME/kiln/cuda`, else
/// `~/.cache/kiln/cuda`; None when disabled (`KILN_CUDA_CACHE=off`) or no home is known.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("KILN_CUDA_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|c| c.join("kiln").join("cuda")),
    }
}

/// PTX text and where it came from.
#[derive(Debug, Clone)]
pub struct CompiledPtx {
    pub ptx: Arc<str>,
    /// `nvrtc`, `disk cache` or `memory cache`.
    pub origin: &'static str,
    /// The disk cache file, when one was read or written.
    pub file: Option<PathBuf>,
}

fn compile_error(src: &KernelSource, arch: &str, version: &str, e: NvrtcFailure) -> Error {
    Error::invalid(
        "nvrtc",
        format!("compiling {} for {arch} with {version} failed ({}):\n{}", src.path, e.status, e.log),
    )
}

/// Compiles `src` for `arch` (e.g. `compute_80`) through NVRTC, reading and writing `disk` when given.
pub fn compile_ptx(src: &KernelSource, arch: &'static str, disk: Option<&Path>) -> Result<CompiledPtx> {
    let lib = nvrtc().map_err(|e| Error::invalid("nvrtc", e))?;
    let (major, minor) = lib.version;
    let text = src.nvrtc_text();
    let version = format!("nvrtc {major}.{minor}");
    let key = fnv1a64(&[text.as_bytes(), arch.as_bytes(), version.as_bytes(), OPTIONS.join(" ").as_bytes()]);
    let file = disk.map(|d| d.join(format!("{}-{arch}-{key:016x}.ptx", src.name)));
    if let Some(f) = &file {
        if let Ok(ptx) = std::fs::read_to_string(f) {
            if ptx.contains(".entry") {
                return Ok(CompiledPtx { ptx: Arc::from(ptx), origin: "disk cache", file });
            }
        }
    }
    let mut opts = vec![format!("--gpu-architecture={arch}")];
    opts.extend(OPTIONS.iter().map(|s| s.to_string()));
    let ptx = lib
        .compile_to_ptx(&text, &format!("{}.cu", src.name), &opts)
        .map_err(|e| compile_error(src, arch, &version, e))?;
    if let Some(f) = &file {
        // Best effort and atomic: a half-written file is never read, a failed write only costs time.
        let tmp = f.with_extension(format!("tmp{}", std::process::id()));
        let written = f.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| std::fs::write(&tmp, &ptx));
        if written.and_then(|_| std::fs::rename(&tmp, f)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(CompiledPtx { ptx: Arc::from(ptx), origin: "nvrtc", file })
}

/// [`compile_ptx`] with the default disk cache and a process-wide memory cache per (module, arch).
pub fn ptx_for(src: &'static KernelSource, arch: &'static str) -> Result<CompiledPtx> {
    type Cache = Mutex<HashMap<(&'static str, &'static str), Arc<str>>>;
    static MEMORY: OnceLock<Cache> = OnceLock::new();
    let memory = MEMORY.get_or_init(Default::default);
    if let Some(ptx) = memory.lock().unwrap_or_else(|e| e.into_inner()).get(&(src.name, arch)) {
        return Ok(CompiledPtx { ptx: ptx.clone(), origin: "memory cache", file: None });
    }
    let compiled = compile_ptx(src, arch, default_cache_dir().as_deref())?;
    memory.lock().unwrap_or_else(|e| e.into_inner()).insert((src.name, arch), compiled.ptx.clone());
    Ok(compiled)
}
