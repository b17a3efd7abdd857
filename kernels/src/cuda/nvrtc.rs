//! Loading NVRTC by full path and driving its C API (create, compile, log, PTX, destroy).
//!
//! Why not cudarc's NVRTC loader: built for CUDA 12 it dlopens `libnvrtc.so` / `.so.12` / `.11`
//! by bare name only, so CUDA 13's `libnvrtc.so.13` (the only name the cu13 pip wheel ships) and
//! any library off the loader's search path are never found. The handful of NVRTC entry points
//! kiln uses have the same C signatures in NVRTC 11, 12 and 13, so kiln loads them itself from the
//! first candidate of `nvrtc_find` that loads. NVRTC 13 then opens `libnvrtc-builtins.so.13.0` by
//! bare name at compile time; preloading that file by full path first makes the loader's
//! already-loaded check (it matches the SONAME) find it wherever it lives.
//!
//! This file loads and calls NVRTC; it must not decide where to look (`nvrtc_find.rs`) or cache.

use super::nvrtc_find::{self, Candidate};
use libloading::Library;
use std::ffi::{c_char, c_int, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

type Program = *mut std::ffi::c_void;
type Status = c_int;
const SUCCESS: Status = 0;

/// A loaded NVRTC library and the entry points kiln calls.
pub struct Nvrtc {
    /// Where it was loaded from (a path, or a name the loader resolved).
    pub source: String,
    pub version: (i32, i32),
    /// The builtins library preloaded by full path, when one was found.
    pub builtins: Option<PathBuf>,
    create: unsafe extern "C" fn(
        *mut Program,
        *const c_char,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const c_char,
    ) -> Status,
    compile: unsafe extern "C" fn(Program, c_int, *const *const c_char) -> Status,
    ptx_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    ptx: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    log_size: unsafe extern "C" fn(Program, *mut usize) -> Status,
    log: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    destroy: unsafe extern "C" fn(*mut Program) -> Status,
    error_string: unsafe extern "C" fn(Status) -> *const c_char,
    // Kept loaded for the life of the process: the function pointers above point into them.
    _lib: Library,
    _builtins_lib: Option<Library>,
}

impl std::fmt::Debug for Nvrtc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NVRTC {}.{} from {}", self.version.0, self.version.1, self.source)
    }
}

/// Why a compile failed: NVRTC's status text and its log.
#[derive(Debug, Clone)]
pub struct NvrtcFailure {
    pub status: String,
    pub log: String,
}

/// The one-line fix printed when NVRTC cannot be found.
pub const FIX: &str = "pip install nvidia-cuda-nvrtc (CUDA 13; nvidia-cuda-nvrtc-cu12 for CUDA 12) into the python \
    kiln finds (KILN_PYTHON=/path/to/python), or set KILN_NVRTC=/path/to/libnvrtc.so.N";

/// The process's NVRTC, loaded at first use; the error says everything tried and the fix.
pub fn nvrtc() -> Result<&'static Nvrtc, String> {
    static LOADED: OnceLock<Result<Nvrtc, String>> = OnceLock::new();
    LOADED.get_or_init(load_first).as_ref().map_err(Clone::clone)
}

/// The CUDA major the driver supports (cuDriverGetVersion), when a driver is present.
fn driver_cuda_major() -> Option<u32> {
    if !super::driver_present() {
        return None;
    }
    // SAFETY: the driver library is present; cuDriverGetVersion only writes the int. A panic in
    // cudarc's loader (missing symbol) is caught.
    let (status, v) = std::panic::catch_unwind(|| {
        let mut v: c_int = 0;
        (unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }, v)
    })
    .ok()?;
    (status == cudarc::driver::sys::cudaError_enum::CUDA_SUCCESS && v > 0).then_some(v as u32 / 1000)
}

fn load_first() -> Result<Nvrtc, String> {
    if let Some(explicit) = std::env::var_os("KILN_NVRTC").filter(|v| !v.is_empty()) {
        let c = Candidate::File(PathBuf::from(&explicit));
        return load(&c)
            .map_err(|e| format!("KILN_NVRTC={} could not be used: {e}", PathBuf::from(explicit).display()));
    }
    let (mut candidates, dirs, notes) = nvrtc_find::candidates();
    // PTX carries the ISA of the NVRTC that made it and a driver refuses a newer one: prefer an
    // NVRTC whose major the driver supports (a stable sort keeps the search order otherwise).
    if let Some(driver) = driver_cuda_major() {
        candidates.sort_by_key(|c| c.major_from_name().is_some_and(|m| m > driver));
    }
    let mut tried = Vec::new();
    for c in &candidates {
        match load(c) {
            Ok(n) => return Ok(n),
            Err(e) => tried.push(format!("  {c}: {e}")),
        }
    }
    let mut scanned: Vec<String> = dirs.iter().map(|d| format!("  {}", d.display())).collect();
    scanned.extend(notes.iter().map(|n| format!("  ({n})")));
    Err(format!(
        "NVRTC (libnvrtc.so.13 / .12) was not found. Tried:\n{}\nScanned for libnvrtc.so.N (missing folders \
         included):\n{}\nFix: {FIX}",
        tried.join("\n"),
        scanned.join("\n")
    ))
}

fn load(c: &Candidate) -> Result<Nvrtc, String> {
    let (lib, source, dir) = match c {
        Candidate::File(path) => {
            if !path.is_file() {
                return Err("no such file".into());
            }
            // SAFETY: loading NVRTC runs only its (side-effect free) initialisers.
            let lib = unsafe { Library::new(path) }.map_err(|e| e.to_string())?;
            (lib, path.display().to_string(), path.parent().map(PathBuf::from))
        }
        Candidate::LoaderName(name) => {
            // SAFETY: as above.
            let lib = unsafe { Library::new(name) }.map_err(|_| "not on the loader's search path".to_string())?;
            (lib, name.clone(), None)
        }
    };
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the symbol has this C signature in NVRTC 11, 12 and 13.
            *unsafe { lib.get(concat!($name, "\0").as_bytes()) }.map_err(|e| format!("missing {}: {e}", $name))?
        };
    }
    let version_fn: unsafe extern "C" fn(*mut c_int, *mut c_int) -> Status = sym!("nvrtcVersion");
    let (mut major, mut minor) = (0, 0);
    // SAFETY: nvrtcVersion only writes the two ints.
    if unsafe { version_fn(&mut major, &mut minor) } != SUCCESS {
        return Err("nvrtcVersion failed".into());
    }
    let mut dirs: Vec<PathBuf> = dir.into_iter().collect();
    if let Candidate::LoaderName(_) = c {
        dirs.extend(nvrtc_find::search_dirs().0);
    }
    let builtins = nvrtc_find::builtins_in(&dirs, major, minor);
    let builtins_lib = match &builtins {
        // SAFETY: the builtins library only registers data NVRTC asks for later.
        Some(p) => Some(unsafe { Library::new(p) }.map_err(|e| format!("{} could not be loaded: {e}", p.display()))?),
        // Not found beside it: NVRTC may still find it itself (CUDA 12 looks beside itself).
        None => None,
    };
    Ok(Nvrtc {
        create: sym!("nvrtcCreateProgram"),
        compile: sym!("nvrtcCompileProgram"),
        ptx_size: sym!("nvrtcGetPTXSize"),
        ptx: sym!("nvrtcGetPTX"),
        log_size: sym!("nvrtcGetProgramLogSize"),
        log: sym!("nvrtcGetProgramLog"),
        destroy: sym!("nvrtcDestroyProgram"),
        error_string: sym!("nvrtcGetErrorString"),
        source,
        version: (major, minor),
        builtins,
        _lib: lib,
        _builtins_lib: builtins_lib,
    })
}

impl Nvrtc {
    fn status_text(&self, s: Status) -> String {
        // SAFETY: nvrtcGetErrorString returns a static C string for any status.
        let p = unsafe { (self.error_string)(s) };
        if p.is_null() {
            format!("NVRTC status {s}")
        } else {
            // SAFETY: non-null, NUL-terminated, static.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    }

    /// Compiles CUDA C++ `code` (named `name` in messages) with `options` to PTX text.
    pub fn compile_to_ptx(&self, code: &str, name: &str, options: &[String]) -> Result<String, NvrtcFailure> {
        let fail = |status: String| NvrtcFailure { status, log: String::new() };
        let code = CString::new(code).map_err(|_| fail("the source holds a NUL byte".into()))?;
        let name = CString::new(name).map_err(|_| fail("the name holds a NUL byte".into()))?;
        let opts: Vec<CString> = options
            .iter()
            .map(|o| CString::new(o.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|_| fail("an option holds a NUL byte".into()))?;
        let opt_ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        let mut prog: Program = std::ptr::null_mut();
        // SAFETY: valid C strings; no headers.
        let s =
            unsafe { (self.create)(&mut prog, code.as_ptr(), name.as_ptr(), 0, std::ptr::null(), std::ptr::null()) };
        if s != SUCCESS {
            return Err(fail(self.status_text(s)));
        }
        // SAFETY: `prog` was created above; option pointers live until the call returns.
        let compiled = unsafe { (self.compile)(prog, opt_ptrs.len() as c_int, opt_ptrs.as_ptr()) };
        let result = if compiled == SUCCESS {
            self.read(prog, self.ptx_size, self.ptx).map_err(fail)
        } else {
            let log = self.read(prog, self.log_size, self.log).unwrap_or_default();
            Err(NvrtcFailure { status: self.status_text(compiled), log })
        };
        // SAFETY: destroys the program created above, once.
        unsafe { (self.destroy)(&mut prog) };
        result
    }

    /// Reads a NUL-terminated text (PTX or log) of a compiled program.
    fn read(
        &self,
        prog: Program,
        size: unsafe extern "C" fn(Program, *mut usize) -> Status,
        get: unsafe extern "C" fn(Program, *mut c_char) -> Status,
    ) -> Result<String, String> {
        let mut n = 0usize;
        // SAFETY: `prog` is live; the size call writes one usize.
        let s = unsafe { size(prog, &mut n) };
        if s != SUCCESS {
            return Err(self.status_text(s));
        }
        let mut buf = vec![0u8; n.max(1)];
        // SAFETY: the buffer holds the `n` bytes NVRTC reported (NUL included).
        let s = unsafe { get(prog, buf.as_mut_ptr().cast()) };
        if s != SUCCESS {
            return Err(self.status_text(s));
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        buf.truncate(end);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}
