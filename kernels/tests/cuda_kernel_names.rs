//! The Rust/CUDA boundary by name: every kernel name the launch code spells (in any `src/**/*.rs`)
//! is defined by a `.cu` source, in the very module the call launches it from where the call
//! names the module, and every kernel a source defines is launched somewhere. A rename on either
//! side fails here, not at the first launch on a GPU. (The op codes need no such check: the `.cu`
//! files receive them generated from `kiln_kernels::cuda::shared_defs`.)

use kiln_kernels::cuda::source::ALL;
use std::collections::BTreeSet;
use std::path::Path;

const SUFFIXES: [&str; 5] = ["_f32", "_f64", "_u32", "_i64", "_u8"];

fn is_kernel_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && SUFFIXES.iter().any(|x| s.ends_with(x))
}

/// Every `.rs` file under `dir`, with its text.
fn rust_files(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
        }
    }
}

/// The string literals of `text` that look like kernel names.
fn kernel_literals(text: &str) -> Vec<&str> {
    text.split('"').skip(1).step_by(2).filter(|s| is_kernel_name(s)).collect()
}

/// `(module constant, kernel)` of every `launch(&MODULE, "kernel"` call spelled with a literal.
fn named_launches(text: &str) -> Vec<(&str, &str)> {
    text.match_indices("launch(&")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let (module, rest) = rest.split_once(", \"")?;
            let module = module.rsplit("::").next()?;
            let kernel = rest.split('"').next()?;
            module.chars().all(|c| c.is_ascii_uppercase() || c == '_').then_some((module, kernel))
        })
        .collect()
}

#[test]
fn every_launched_kernel_exists_and_every_kernel_is_launched() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
    let defined: BTreeSet<&str> = ALL.iter().flat_map(|s| s.kernel_names()).collect();
    let mut spelled = BTreeSet::new();
    let mut launches = 0;
    for (path, text) in &files {
        for k in kernel_literals(text) {
            assert!(defined.contains(k), "{path} names kernel {k}, which no .cu source defines");
            spelled.insert(k);
        }
        for (module, kernel) in named_launches(text) {
            let src = ALL
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(module))
                .unwrap_or_else(|| panic!("{path} launches from {module}, which is not in cuda::source::ALL"));
            assert!(
                src.kernel_names().contains(&kernel),
                "{path} launches {kernel} from {module}, but {} does not define it",
                src.path
            );
            launches += 1;
        }
    }
    assert!(launches >= 30, "only {launches} literal launches found: has the launch call changed shape?");
    let never: Vec<_> = defined.difference(&spelled).collect();
    assert!(never.is_empty(), "kernels defined but launched nowhere: {never:?}");
}

#[test]
fn the_checks_see_a_wrong_name() {
    let text = r#"unsafe { r.launch(&SOFTMAX, "softmax_rowz_f32", row_launch(1, 32), &p) }"#;
    let launches = named_launches(text);
    assert_eq!(launches, [("SOFTMAX", "softmax_rowz_f32")]);
    let softmax = ALL.iter().find(|s| s.name == "softmax").unwrap();
    assert!(!softmax.kernel_names().contains(&"softmax_rowz_f32"));
    assert_eq!(kernel_literals(text), ["softmax_rowz_f32"]);
    assert!(!is_kernel_name("conv2d") && !is_kernel_name("Ew_f32"));
}

#[test]
fn the_generated_definitions_are_the_only_ones() {
    use kiln_kernels::cuda::shared_defs::{header, UnaryCode, MAX_DIMS};
    let h = header();
    assert!(h.contains(&format!("#define KILN_MAX_DIMS {MAX_DIMS}")), "{h}");
    assert!(h.contains(&format!("U_TANH = {}", UnaryCode::Tanh.code())), "{h}");
    for s in ALL {
        for name in ["UnaryCode", "BinaryCode", "CompareCode", "ReduceCode"] {
            assert!(!s.code.contains(&format!("enum {name}")), "{} defines {name} by hand", s.path);
        }
        assert!(s.nvrtc_text().starts_with(&h), "{} is not compiled with the generated definitions", s.path);
    }
    assert!(!kiln_kernels::cuda::source::PRELUDE.contains("#define KILN_MAX_DIMS"));
}
