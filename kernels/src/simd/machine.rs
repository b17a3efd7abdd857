//! What a benchmark prints about the machine it ran on: the CPU model and the choices kiln made for
//! it (instruction set, subnormal mode). Speed claims hold only for the CPU they were measured on,
//! and the machines here change between sessions, so every timing carries this line.
//!
//! This file only describes; it must not select anything (see [`super::isa`], `crate::denormals`).

use std::sync::OnceLock;

/// The CPU's model name (`/proc/cpuinfo`'s `model name` on Linux x86-64, `Hardware`/`CPU part` on
/// others where present), or "unknown CPU".
pub fn cpu_model() -> &'static str {
    static MODEL: OnceLock<String> = OnceLock::new();
    MODEL.get_or_init(|| {
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| model_from_cpuinfo(&info))
            .unwrap_or_else(|| "unknown CPU".to_string())
    })
}

/// The first `model name` (else `Hardware`) value of a `/proc/cpuinfo` text.
pub fn model_from_cpuinfo(info: &str) -> Option<String> {
    let value = |key: &str| {
        info.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == key && !v.trim().is_empty()).then(|| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
    };
    value("model name").or_else(|| value("Hardware"))
}

/// One line for benchmark headers: CPU model, logical CPUs, the SIMD back end kiln runs and the
/// subnormal mode, e.g. `AMD EPYC (2 logical CPUs), kiln ISA avx512, subnormals flushed`.
pub fn describe() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let subnormals = match crate::denormals::mode() {
        crate::denormals::Mode::Flush => "subnormals flushed",
        crate::denormals::Mode::Keep => "subnormals kept (KILN_DENORMALS=keep)",
    };
    format!("{} ({cpus} logical CPUs), kiln ISA {}, {subnormals}", cpu_model(), super::isa().name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_model_line() {
        let info = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)   Platinum 8488C\n\
                    processor\t: 1\nmodel name\t: other\n";
        assert_eq!(model_from_cpuinfo(info).as_deref(), Some("Intel(R) Xeon(R) Platinum 8488C"));
        assert_eq!(model_from_cpuinfo("Hardware\t: BCM2835\n").as_deref(), Some("BCM2835"));
        assert_eq!(model_from_cpuinfo("processor: 0\n"), None);
        assert!(describe().contains("kiln ISA"));
    }
}
