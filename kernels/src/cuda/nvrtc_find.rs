//! Where NVRTC may live on a machine, in the order kiln tries it: `KILN_NVRTC` (an explicit file),
//! the loader's own search (`LD_LIBRARY_PATH`, ldconfig) by versioned name, the CUDA toolkit
//! (`CUDA_HOME`, `CUDA_PATH`, `/usr/local/cuda*`), the `nvidia/*/lib` folders of Python
//! site-packages where the pip wheels put it (`nvidia/cu13/lib` for CUDA 13, `nvidia/cuda_nvrtc/lib`
//! for CUDA 12; asked of `$KILN_PYTHON` or the python on PATH, and of likely venvs), then the
//! system library folders.
//!
//! This file only lists candidates; it must not load anything (`nvrtc.rs` does).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One place to try: a file path, or a bare name for the dynamic loader's own search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    File(PathBuf),
    LoaderName(String),
}

impl Candidate {
    /// The NVRTC major version its name says (`libnvrtc.so.13` -> 13), if any.
    pub fn major_from_name(&self) -> Option<u32> {
        let name = match self {
            Candidate::File(p) => p.file_name()?.to_str()?.to_string(),
            Candidate::LoaderName(n) => n.clone(),
        };
        name.strip_prefix("libnvrtc.so.")?.split('.').next()?.parse().ok()
    }
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Candidate::File(p) => write!(f, "{}", p.display()),
            Candidate::LoaderName(n) => write!(f, "{n} (the loader's search path)"),
        }
    }
}

/// The NVRTC majors kiln knows how to drive, newest first (the C API kiln uses is the same).
pub const MAJORS: &[u32] = &[13, 12, 11];

/// `libnvrtc.so.N` files (not the `.alt` or builtins libraries) in `dir`, highest major first.
pub fn nvrtc_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let major = if name == "libnvrtc.so" {
                0
            } else {
                name.strip_prefix("libnvrtc.so.")?.split('.').next()?.parse().ok()?
            };
            Some((major, e.path()))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The builtins library NVRTC `major.minor` loads by name, looked for in `dirs` (the NVRTC
/// file's own folder first).
pub fn builtins_in(dirs: &[PathBuf], major: i32, minor: i32) -> Option<PathBuf> {
    let name = format!("libnvrtc-builtins.so.{major}.{minor}");
    dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file())
}

/// Subfolders of a site-packages folder where NVIDIA's pip wheels put their libraries.
fn wheel_lib_dirs(site: &Path) -> Vec<PathBuf> {
    let nvidia = site.join("nvidia");
    let mut dirs = vec![nvidia.join("cu13").join("lib"), nvidia.join("cuda_nvrtc").join("lib")];
    let mut others: Vec<PathBuf> = std::fs::read_dir(&nvidia)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("lib"))
        .filter(|d| !dirs.contains(d))
        .collect();
    others.sort();
    dirs.extend(others);
    dirs
}

/// `lib/python3*/site-packages` (and lib64) folders of a venv or conda prefix.
fn site_packages_of(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let mut pythons: Vec<PathBuf> = std::fs::read_dir(prefix.join(lib))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("python3")))
            .map(|e| e.path().join("site-packages"))
            .collect();
        pythons.sort();
        out.extend(pythons.into_iter().rev());
    }
    out
}

/// The site-packages folders a Python interpreter reports, or nothing if it cannot be run within
/// a few seconds.
fn ask_python(python: &str) -> Vec<PathBuf> {
    const SCRIPT: &str = "import site, sysconfig\n\
        p = sysconfig.get_paths()\n\
        out = [p['purelib'], p['platlib']]\n\
        try:\n    out += site.getsitepackages() + [site.getusersitepackages()]\n\
        except Exception:\n    pass\n\
        print('\\n'.join(out))\n";
    let Ok(mut child) = Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Vec::new();
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Vec::new();
            }
        }
    }
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
    }
    text.lines().filter(|l| !l.trim().is_empty()).map(PathBuf::from).collect()
}

/// Prefixes of venvs worth scanning without asking any interpreter: the active venv / conda
/// environment, venvs in the working folder and the home folder, and `/opt/*/{.venv,venv}`
/// (where GPU images tend to keep PyTorch).
fn likely_venvs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        ["VIRTUAL_ENV", "CONDA_PREFIX"].iter().filter_map(std::env::var_os).map(PathBuf::from).collect();
    let roots: Vec<PathBuf> =
        [std::env::current_dir().ok(), std::env::var_os("HOME").map(PathBuf::from)].into_iter().flatten().collect();
    for root in &roots {
        for name in [".venv", "venv", ".cuda-venv"] {
            out.push(root.join(name));
        }
    }
    let mut opt: Vec<PathBuf> =
        std::fs::read_dir("/opt").into_iter().flatten().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    opt.sort();
    for dir in opt {
        out.push(dir.join(".venv"));
        out.push(dir.join("venv"));
        out.push(dir.clone());
    }
    out
}

/// Toolkit library folders under a CUDA install prefix.
fn toolkit_lib_dirs(prefix: &Path) -> Vec<PathBuf> {
    ["lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib"].iter().map(|d| prefix.join(d)).collect()
}

/// Every folder that may hold `libnvrtc.so.N`, in the order they are tried, without duplicates,
/// and notes on what could not be asked (a python that would not run).
pub fn search_dirs() -> (Vec<PathBuf>, Vec<String>) {
    let (mut dirs, mut notes) = (Vec::new(), Vec::new());
    for var in ["CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"] {
        if let Some(prefix) = std::env::var_os(var) {
            dirs.extend(toolkit_lib_dirs(Path::new(&prefix)));
        }
    }
    let mut cudas: Vec<PathBuf> = std::fs::read_dir("/usr/local")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("cuda")))
        .map(|e| e.path())
        .collect();
    // `/usr/local/cuda` (the default link) first, then versioned installs, newest first.
    cudas.sort_by(|a, b| (a != Path::new("/usr/local/cuda")).cmp(&(b != Path::new("/usr/local/cuda"))).then(b.cmp(a)));
    cudas.push(PathBuf::from("/opt/cuda"));
    for prefix in &cudas {
        dirs.extend(toolkit_lib_dirs(prefix));
    }
    let mut sites = Vec::new();
    let pythons: Vec<String> = match std::env::var("KILN_PYTHON") {
        Ok(p) if !p.is_empty() => vec![p],
        _ => vec!["python3".into(), "python".into()],
    };
    for python in &pythons {
        let reported = ask_python(python);
        if reported.is_empty() {
            notes.push(format!("{python}: could not be run to ask for its site-packages"));
        }
        sites.extend(reported);
    }
    for venv in likely_venvs() {
        sites.extend(site_packages_of(&venv));
    }
    for site in &sites {
        dirs.extend(wheel_lib_dirs(site));
    }
    dirs.extend(
        ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"].map(PathBuf::from),
    );
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    (dirs, notes)
}

/// Every candidate, in order: the loader's search by versioned name first (what the user set up
/// with `LD_LIBRARY_PATH` wins), then each existing `libnvrtc.so.N` file in [`search_dirs`].
/// Returns the candidates, the folders scanned and the notes of [`search_dirs`] (for the error).
pub fn candidates() -> (Vec<Candidate>, Vec<PathBuf>, Vec<String>) {
    let mut out: Vec<Candidate> = MAJORS.iter().map(|m| Candidate::LoaderName(format!("libnvrtc.so.{m}"))).collect();
    out.push(Candidate::LoaderName("libnvrtc.so".into()));
    let (dirs, notes) = search_dirs();
    for d in &dirs {
        out.extend(nvrtc_files_in(d).into_iter().map(Candidate::File));
    }
    (out, dirs, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_names_are_found_newest_first_and_helper_libraries_ignored() {
        let dir = std::env::temp_dir().join(format!("kiln-nvrtc-find-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.alt.so.13", "libnvrtc-builtins.so.13.0", "libnvrtc.so"]
        {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let names: Vec<String> =
            nvrtc_files_in(&dir).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"]);
        assert_eq!(builtins_in(std::slice::from_ref(&dir), 13, 0), Some(dir.join("libnvrtc-builtins.so.13.0")));
        assert_eq!(builtins_in(std::slice::from_ref(&dir), 13, 2), None);
        assert_eq!(Candidate::File(dir.join("libnvrtc.so.13")).major_from_name(), Some(13));
        assert_eq!(Candidate::LoaderName("libnvrtc.so".into()).major_from_name(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wheel_folders_of_a_venv_are_scanned_cu13_first() {
        let venv = std::env::temp_dir().join(format!("kiln-nvrtc-venv-{}", std::process::id()));
        let site = venv.join("lib/python3.11/site-packages");
        for sub in ["nvidia/cu13/lib", "nvidia/cuda_nvrtc/lib", "nvidia/cudnn/lib"] {
            std::fs::create_dir_all(site.join(sub)).unwrap();
        }
        assert_eq!(site_packages_of(&venv), std::slice::from_ref(&site));
        let dirs = wheel_lib_dirs(&site);
        assert_eq!(dirs[..2], [site.join("nvidia/cu13/lib"), site.join("nvidia/cuda_nvrtc/lib")]);
        assert!(dirs.contains(&site.join("nvidia/cudnn/lib")));
        std::fs::remove_dir_all(&venv).unwrap();
    }
}
