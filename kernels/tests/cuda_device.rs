//! The CUDA machinery that needs no kernel execution: device discovery (a clean error, never a
//! panic, on machines without CUDA), and every kernel source compiled through kiln's own NVRTC path
//! for compute_80 and compute_90 with whichever NVRTC (12 or 13) kiln finds (skipped with a notice,
//! after checking the not-found error lists what was tried and the fix, when none is found, unless
//! `KILN_REQUIRE_NVRTC=1`, which .ci/cuda-check sets). With `KILN_PTX_OUT=DIR` the PTX is written
//! there as `<module>.<arch>.ptx` for ptxas. With `KILN_TEST_GPU=1` a missing GPU or NVRTC fails.

use kiln_kernels::cuda::compile::{self, compile_ptx, nvrtc_available};
use kiln_kernels::cuda::source::ALL;
use kiln_kernels::cuda::{cuda_available, driver_present, resolve_device, testing, Runner};
use kiln_tensor::{Device, Error};

/// With `KILN_TEST_GPU=1` every test here first needs the real cuda:0 (a GPU machine's check must
/// not pass on NVRTC alone); fails at once, with the reason, when there is none.
fn gpu_if_requested() {
    if testing::gpu_requested() {
        if let Err(e) = cuda_available() {
            panic!("KILN_TEST_GPU=1 asks for the real cuda:0, but: {e}");
        }
    }
}

#[test]
fn asking_for_cuda_without_a_gpu_is_a_clean_error() {
    match cuda_available() {
        Ok(n) => {
            eprintln!("NOTICE: {n} CUDA device(s) present; the no-GPU error path is not exercised here");
            assert_eq!(resolve_device("auto").unwrap().device, Device::Cuda(0));
        }
        Err(e) => {
            assert!(!testing::gpu_requested(), "KILN_TEST_GPU=1 asks for the real cuda:0, but: {e}");
            assert!(matches!(e, Error::DeviceUnavailable { device: Device::Cuda(0), .. }), "{e:?}");
            eprintln!("cuda_available: {e}");
            for spec in ["cuda", "cuda:0", "CUDA:1"] {
                let err = resolve_device(spec).unwrap_err();
                assert!(matches!(err, Error::DeviceUnavailable { .. }), "{spec}: {err:?}");
            }
            assert!(matches!(
                resolve_device("cuda:3").unwrap_err(),
                Error::DeviceUnavailable { device: Device::Cuda(3), .. }
            ));
            assert!(Runner::gpu(0).is_err());
            let auto = resolve_device("auto").unwrap();
            assert_eq!(auto.device, Device::Cpu);
            assert!(auto.note.contains("cpu"), "{}", auto.note);
        }
    }
    assert_eq!(resolve_device("cpu").unwrap().device, Device::Cpu);
    assert!(matches!(resolve_device("tpu"), Err(Error::InvalidArgument { .. })));
    assert!(matches!(resolve_device("cuda:x"), Err(Error::InvalidArgument { .. })));
    if !driver_present() {
        let Error::DeviceUnavailable { reason, .. } = cuda_available().unwrap_err() else { unreachable!() };
        assert!(reason.contains("libcuda"), "{reason}");
    }
}

#[test]
fn every_cu_file_on_disk_is_registered_and_exported_to_the_host_shim() {
    // A source-tree check: a test binary copied to another machine (scripts/gpu-check) has none.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    if !src.is_dir() {
        eprintln!("NOTICE: {} is not here (binary moved off its source tree): check SKIPPED", src.display());
        return;
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            e.path().join(format!("{name}.cu")).exists().then_some(name)
        })
        .collect();
    on_disk.sort();
    let mut registered: Vec<String> = ALL.iter().map(|s| s.name.to_string()).collect();
    registered.sort();
    assert_eq!(on_disk, registered, "src/*/<family>.cu files vs cuda::source::ALL (and FAMILIES in build.rs)");
    if kiln_kernels::cuda::host::AVAILABLE {
        let host = kiln_kernels::cuda::host::kernel_names();
        for s in ALL.iter() {
            for k in s.kernel_names() {
                assert!(host.iter().any(|h| h == k), "{k} in {} has no KILN_EXPORT", s.path);
            }
        }
    }
}

#[test]
fn every_kernel_source_compiles_with_nvrtc_for_sm80_and_sm90() {
    gpu_if_requested();
    if !nvrtc_available() {
        let report = compile::nvrtc_report();
        let required = std::env::var("KILN_REQUIRE_NVRTC").as_deref() == Ok("1") || testing::gpu_requested();
        assert!(!required, "KILN_REQUIRE_NVRTC=1 or KILN_TEST_GPU=1, but {report}");
        // The error a user sees lists what was tried and the one-line fix.
        let err = compile_ptx(ALL[0], "compute_80", None).unwrap_err().to_string();
        for part in ["Tried:", "libnvrtc.so.13", "Fix:", "KILN_NVRTC="] {
            assert!(err.contains(part), "{part:?} missing from: {err}");
        }
        eprintln!("NOTICE: libnvrtc not found: NVRTC compile check SKIPPED (run .ci/cuda-check for it)");
        return;
    }
    let version = compile::nvrtc_version().expect("version of a present NVRTC");
    eprintln!("NVRTC {}.{}", version.0, version.1);
    eprintln!("{}", compile::nvrtc_report());
    let out = std::env::var_os("KILN_PTX_OUT").map(std::path::PathBuf::from);
    let cache = std::env::temp_dir().join(format!("kiln-nvrtc-check-{}", std::process::id()));
    for arch in ["compute_80", "compute_90"] {
        for src in ALL {
            let t = std::time::Instant::now();
            let first = compile_ptx(src, arch, Some(&cache)).unwrap_or_else(|e| panic!("{e}"));
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let names = src.kernel_names();
            assert!(!names.is_empty(), "{} defines no kernel", src.path);
            for k in &names {
                assert!(
                    first.ptx.contains(&format!(".entry {k}(")),
                    "{k} missing from the PTX of {} for {arch}",
                    src.path
                );
            }
            assert_eq!(first.origin, "nvrtc");
            let again = compile_ptx(src, arch, Some(&cache)).unwrap();
            assert_eq!((again.origin, &again.ptx), ("disk cache", &first.ptx), "{} disk cache", src.name);
            eprintln!(
                "{arch} {:<12} {:>2} kernels {:>7} bytes of PTX ({}, {ms:.0} ms)",
                src.name,
                names.len(),
                first.ptx.len(),
                first.origin
            );
            if let Some(dir) = &out {
                std::fs::create_dir_all(dir).unwrap();
                std::fs::write(dir.join(format!("{}.{arch}.ptx", src.name)), first.ptx.as_bytes()).unwrap();
            }
        }
    }
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_compile_error_comes_back_with_nvrtc_log() {
    gpu_if_requested();
    if !nvrtc_available() {
        assert!(!testing::gpu_requested(), "KILN_TEST_GPU=1 but {}", compile::nvrtc_report());
        eprintln!("NOTICE: libnvrtc not found: NVRTC error-path check SKIPPED");
        return;
    }
    static BROKEN: kiln_kernels::cuda::source::KernelSource = kiln_kernels::cuda::source::KernelSource {
        name: "broken",
        path: "tests/broken.cu",
        code: "extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }\n",
    };
    let err = compile_ptx(&BROKEN, "compute_80", None).unwrap_err().to_string();
    assert!(err.contains("undefined_name") && err.contains("tests/broken.cu"), "{err}");
}
