//! Tests of the kernel lab: shape parsing, the registry's consistency (every version of every kernel
//! runs and matches the reference on small shapes), validation refusing a deliberately wrong version,
//! and timing's arithmetic. No assertion depends on how fast anything runs.

use super::timing::{self, median, Plan};
use super::*;
use std::time::Duration;

fn kernel(name: &str) -> &'static Kernel {
    find(name).unwrap()
}

/// A small problem of the right arity for `k`, valid for every registered kernel.
fn tiny(k: &Kernel) -> Problem {
    let dims = match k.dims.len() {
        1 => vec![1000],
        2 => vec![5, 37],
        3 => vec![7, 9, 10],
        4 => vec![2, 3, 6, 7],
        6 => vec![2, 3, 7, 6, 4, 3],
        n => panic!("no tiny shape with {n} dims for {}", k.name),
    };
    Problem { dims, transpose: (false, false) }
}

#[test]
fn shapes_parse_with_transposes_and_lists() {
    let gemm = kernel("gemm");
    let p = Problem::parse(" 64x100x256 ", gemm).unwrap();
    assert_eq!((p.dims.as_slice(), p.transpose), (&[64, 100, 256][..], (false, false)));
    let q = Problem::parse("64X256x100:tn", gemm).unwrap();
    assert_eq!((q.dims.as_slice(), q.transpose), (&[64, 256, 100][..], (true, false)));
    assert_eq!(q.to_string(), "64x256x100:tn");
    assert_eq!(p.to_string(), "64x100x256");
    let list = parse_shapes("64x100x256,512x512x512:nt,", gemm).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[1].transpose, (false, true));
}

#[test]
fn bad_shapes_are_typed_errors_naming_the_problem() {
    let (gemm, add) = (kernel("gemm"), kernel("add"));
    for (text, k, says) in [
        ("8x9", gemm, "takes 3 numbers"),
        ("8xax9", gemm, "`a` is not a whole number"),
        ("8x0x9", gemm, "at least 1"),
        ("8x9x10:zz", gemm, "not one of nn, nt, tn, tt"),
        ("8x9:nt", add, "no transpose suffix"),
        ("", gemm, "not a whole number"),
    ] {
        match Problem::parse(text, k) {
            Err(Error::InvalidArgument { msg, .. }) => {
                assert!(msg.contains(says), "{text:?}: {msg}");
                assert!(msg.contains("bad shape"), "{text:?}: {msg}");
            }
            other => panic!("{text:?} gave {other:?}"),
        }
    }
    assert!(matches!(parse_shapes(" , ", gemm), Err(Error::InvalidArgument { .. })));
}

#[test]
fn unknown_kernels_and_versions_are_typed_errors() {
    match find("gemv") {
        Err(Error::InvalidArgument { msg, .. }) => {
            assert!(msg.contains("unknown kernel `gemv`") && msg.contains("gemm"))
        }
        other => panic!("{:?}", other.map(|k| k.name)),
    }
    assert_eq!(kernel("gemm").version("MatrixMultiply").unwrap(), Version::MatrixMultiply);
    assert!(matches!(kernel("gemm").version("cpu"), Err(Error::InvalidArgument { .. })));
    assert!(matches!(kernel("add").version("kiln"), Err(Error::InvalidArgument { .. })));
}

#[test]
fn a_shape_too_large_to_allocate_is_an_error() {
    let gemm = kernel("gemm");
    let huge = Problem::parse("100000x100000x100000", gemm).unwrap();
    assert!(matches!(gemm.case(&huge, Operands::Dense, &mut Rng::new(0)), Err(Error::InvalidArgument { .. })));
}

#[test]
fn registry_is_consistent() {
    let mut names: Vec<&str> = kernels().iter().map(|k| k.name).collect();
    let count = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), count, "duplicate kernel names");
    for k in kernels() {
        assert!(k.versions.contains(&Version::Reference), "{} has no reference", k.name);
        assert!(k.versions.contains(&k.baseline), "{}: baseline not a version", k.name);
        assert!(k.default_versions.iter().all(|v| k.versions.contains(v)), "{}", k.name);
        let defaults = k.default_problems().unwrap_or_else(|e| panic!("{}: {e}", k.name));
        assert!(!defaults.is_empty(), "{} has no default shapes", k.name);
        assert!(defaults.iter().all(|p| (k.work)(p) > 0.0), "{}", k.name);
    }
}

/// Every version of every kernel runs and matches the reference on a small shape (dense and, where
/// the kernel reads strides, strided operands); GEMM in all four transpose combinations. CUDA
/// versions run on the host shim (emulating cuda:0 for this test process), or on the real GPU with
/// `KILN_TEST_GPU=1` (an unusable GPU fails); where the shim is not built they are left out.
#[test]
fn every_version_validates_on_small_shapes() {
    let on_device = crate::cuda::testing::tensor_device().unwrap_or_else(|e| panic!("{e}"));
    let cuda = if on_device { Ok(()) } else { Err(()) };
    let mut cuda_checked = 0;
    for k in kernels() {
        let versions: Vec<Version> = k.versions.iter().copied().filter(|v| cuda.is_ok() || !v.is_cuda()).collect();
        let mut problems = vec![tiny(k)];
        if k.transposes {
            for t in [(false, true), (true, false), (true, true)] {
                problems.push(Problem { transpose: t, ..tiny(k) });
            }
        }
        for p in problems {
            let verdicts = validate(k, &p, &versions, 7).unwrap_or_else(|e| panic!("{} {p}: {e}", k.name));
            for (v, verdict) in versions.iter().zip(verdicts) {
                assert!(verdict.is_ok(), "{} {v} {p}: {}", k.name, verdict.unwrap_err());
                cuda_checked += usize::from(v.is_cuda());
            }
        }
    }
    assert!(cuda.is_err() || cuda_checked >= 17, "only {cuda_checked} CUDA (kernel, shape) pairs validated");
}

/// A test-only version: the GEMM's output plus one wherever `Kiln` ran.
struct OffByOne {
    inner: Box<dyn Case>,
    last: Option<Version>,
}

impl Case for OffByOne {
    fn run_host(&mut self, version: Version) -> Result<()> {
        self.last = Some(version);
        self.inner.run(version)
    }
    fn output(&self) -> Vec<f32> {
        let shift = if self.last == Some(Version::Kiln) { 1.0 } else { 0.0 };
        self.inner.output().into_iter().map(|v| v + shift).collect()
    }
    fn expected(&mut self) -> Result<Expected> {
        self.inner.expected()
    }
}

#[test]
fn validation_refuses_a_wrong_version_and_keeps_the_right_ones() {
    let broken = Kernel {
        build: |p, operands, rng| {
            let inner = (kernel("gemm").build)(p, operands, rng)?;
            Ok(Box::new(OffByOne { inner, last: None }))
        },
        ..*kernel("gemm")
    };
    let p = Problem::parse("8x9x10", &broken).unwrap();
    let verdicts = validate(&broken, &p, &[Version::Kiln, Version::MatrixMultiply, Version::Cpu], 1).unwrap();
    match &verdicts[0] {
        Err(Failure::Value { operands: Operands::Dense, got, expected, compared, .. }) => {
            assert!((got - expected - 1.0).abs() < 1e-4, "{got} vs {expected}");
            assert_eq!(*compared, 80);
        }
        other => panic!("the off-by-one version was not refused: {other:?}"),
    }
    assert!(verdicts[1].is_ok(), "{:?}", verdicts[1]);
    // gemm has no `cpu` version: running it is an error, reported as the refusal's reason.
    assert!(matches!(&verdicts[2], Err(Failure::Error { .. })), "{:?}", verdicts[2]);
}

#[test]
fn comparison_catches_nans_lengths_and_sampled_positions() {
    let want = Expected::all(vec![1.0, 2.0, 3.0]);
    assert!(validate::compare(&[1.0, 2.0, 3.0], &want, 0.0, Operands::Dense).is_ok());
    assert!(validate::compare(&[1.0, f32::NAN, 3.0], &want, 1e3, Operands::Dense).is_err());
    assert!(matches!(
        validate::compare(&[1.0, 2.0], &want, 1.0, Operands::Strided),
        Err(Failure::Length { got: 2, expected: 3, .. })
    ));
    // Tolerance is relative to 1 + |expected|: 3 + 2e-6 passes at 1e-6, 3 + 1e-4 does not.
    assert!(validate::compare(&[1.0, 2.0, 3.000002], &want, 1e-6, Operands::Dense).is_ok());
    assert!(validate::compare(&[1.0, 2.0, 3.0001], &want, 1e-6, Operands::Dense).is_err());
    // A sampled reference is compared only where it was computed, at the right positions.
    let sampled = Expected { values: vec![5.0, 7.0], positions: Some(vec![1, 3]), len: 4 };
    assert!(validate::compare(&[99.0, 5.0, 99.0, 7.0], &sampled, 0.0, Operands::Dense).is_ok());
    match validate::compare(&[0.0, 5.0, 0.0, 8.0], &sampled, 0.0, Operands::Dense) {
        Err(Failure::Value { index: 3, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn medians_of_odd_and_even_counts() {
    let ms = |v: &[u64]| v.iter().map(|&x| Duration::from_millis(x)).collect::<Vec<_>>();
    assert_eq!(median(&mut ms(&[3, 1, 2])), Duration::from_millis(2));
    assert_eq!(median(&mut ms(&[4, 1, 3, 2])), Duration::from_micros(2500));
    assert_eq!(median(&mut []), Duration::ZERO);
}

#[test]
fn timing_runs_at_least_the_minimum_and_reports_sane_times() {
    let nap = Duration::from_millis(2);
    let plan = Plan::adaptive(Duration::from_millis(10));
    let mut calls = 0;
    let t = timing::time(&plan, || {
        calls += 1;
        std::thread::sleep(nap);
        Ok(())
    })
    .unwrap();
    assert!(t.runs >= 5, "{t:?}");
    assert!(calls > t.runs, "warm-up runs are not counted: {calls} calls, {} timed", t.runs);
    // A sleep lasts at least its duration, so these lower bounds hold on any machine.
    assert!(t.min >= nap && t.median >= t.min, "{t:?}");

    // Runs shorter than MIN_SAMPLE are batched: 5 samples, each of many runs.
    let smoke = timing::time(&Plan::smoke(), || Ok(())).unwrap();
    assert!(smoke.samples == 5 && smoke.runs % 5 == 0 && smoke.runs > 5 && smoke.min <= smoke.median, "{smoke:?}");

    let failing = timing::time(&plan, || Err(Error::invalid("test", "boom")));
    assert!(matches!(failing, Err(Error::InvalidArgument { .. })));
}
