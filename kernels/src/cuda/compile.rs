//! NVRTC: CUDA C++ source -> PTX for one compute capability, cached in memory and on disk.
//!
//! Kiln ships `.cu` sources, not PTX: PTX is stamped with the ISA version of the NVRTC that made
//! it, and a driver older than that refuses it, so compiling at first use with the user's own NVRTC
//! is what keeps "PTX too new for this driver" away. The disk cache (keyed by an FNV-1a hash of the
//! source text, the target arch, the NVRTC version and the options) makes that a one-time cost.
//! Set `KILN_CUDA_CACHE` to choose the folder, or to `off` to disable the disk cache.

use super::source::{KernelSource, SourceKind};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions};
use kiln_tensor::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Options every kiln kernel is compiled with (part of the cache key).
const OPTIONS: &[&str] = &["--std=c++17"];

/// Whether `libnvrtc.so.12` can be loaded (never panics; cudarc would on first use otherwise).
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library by its candidate names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The loaded NVRTC's version, e.g. (12, 9); None when NVRTC is absent.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_available() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present; nvrtcVersion only writes the two ints.
    let status = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    (status == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then_some((major, minor))
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
    /// `nvrtc`, `disk cache`, `memory cache` or `hand-written`.
    pub origin: &'static str,
    /// The disk cache file, when one was read or written.
    pub file: Option<PathBuf>,
}

fn compile_error(src: &KernelSource, arch: &str, e: CompileError) -> Error {
    let detail = match e {
        CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
        other => format!("{other:?}"),
    };
    Error::invalid("nvrtc", format!("compiling {} for {arch} failed:\n{detail}", src.path))
}

/// Compiles `src` for `arch` (e.g. `compute_80`) through NVRTC, reading and writing `disk` when given.
/// Hand-written PTX is returned as is.
pub fn compile_ptx(src: &KernelSource, arch: &'static str, disk: Option<&Path>) -> Result<CompiledPtx> {
    if src.kind == SourceKind::Ptx {
        return Ok(CompiledPtx { ptx: Arc::from(src.code), origin: "hand-written", file: None });
    }
    let Some((major, minor)) = nvrtc_version() else {
        return Err(Error::invalid(
            "nvrtc",
            "libnvrtc.so.12 was not found: install the CUDA 12 NVRTC library (or the nvidia-cuda-nvrtc-cu12 \
             wheel) and put it on LD_LIBRARY_PATH",
        ));
    };
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
    let opts = CompileOptions {
        arch: Some(arch),
        options: OPTIONS.iter().map(|s| s.to_string()).collect(),
        name: Some(format!("{}.cu", src.name)),
        ..Default::default()
    };
    let ptx = compile_ptx_with_opts(&text, opts).map_err(|e| compile_error(src, arch, e))?.to_src();
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
