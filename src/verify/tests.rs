//! Tests of `verify` as a whole, on the built-in matrix with fixture environments and hosts.

use super::*;
use crate::env::{DistFormat, Distribution, Interpreter, InterpreterSource, Markers};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn dist(
    name: &str,
    version: &str,
    requires: &[&str],
    requires_python: Option<&str>,
    tags: &[&str],
) -> Distribution {
    Distribution {
        name: name.into(),
        normalized: crate::model::normalize(name),
        version_text: version.into(),
        version: version.parse().ok(),
        requires_dist: requires.iter().map(|s| s.to_string()).collect(),
        requirements: requires
            .iter()
            .map(|s| (s.to_string(), s.parse().expect("test requirement")))
            .collect(),
        requires_python: requires_python.map(str::to_string),
        provides_extra: vec!["torch".into()],
        requires_python_spec: requires_python.map(|s| s.parse().expect("spec")),
        wheel_tags: tags.iter().map(|s| s.to_string()).collect(),
        path: PathBuf::from(format!("/site/{name}-{version}.dist-info")),
        metadata_read: true,
        format: DistFormat::DistInfo,
    }
}

fn env(python: &str, dists: Vec<Distribution>) -> PythonEnv {
    let minor = python
        .rsplit_once('.')
        .map(|(a, _)| a)
        .unwrap_or(python)
        .to_string();
    PythonEnv {
        interpreter: Interpreter {
            executable: None,
            prefix: "/venv".into(),
            source: InterpreterSource::Flag,
            read_from: "pyvenv.cfg".into(),
            python_version: python.into(),
            implementation: "CPython".into(),
            markers: Markers {
                implementation_name: "cpython".into(),
                implementation_version: python.into(),
                os_name: "posix".into(),
                platform_machine: "x86_64".into(),
                platform_python_implementation: "CPython".into(),
                platform_release: "6.1".into(),
                platform_system: "Linux".into(),
                platform_version: "#1".into(),
                python_full_version: python.into(),
                python_version: minor,
                sys_platform: "linux".into(),
            },
            site_packages: vec!["/site".into()],
        },
        distributions: dists
            .into_iter()
            .map(|d| (d.normalized.clone(), d))
            .collect::<BTreeMap<_, _>>(),
        shadowed: vec![],
        torch: None,
        bnb_libraries: vec![],
        native_libraries: vec![],
        findings: vec![],
        scan_ms: 0.0,
        planned: false,
        planned_complete: false,
    }
}

fn matrix() -> Matrix {
    crate::matrix::load_builtin("llm-compression").expect("builtin")
}

fn run(e: &PythonEnv, host: &crate::probe::HostFacts) -> Verification {
    verify(&Inputs {
        matrix: &matrix(),
        env: e,
        host,
        knowledge: crate::knowledge::for_tests(),
        smoke: None,
    })
}

fn find<'a>(v: &'a Verification, lib: &str, col: &str) -> &'a Cell {
    v.tables
        .iter()
        .flat_map(|t| &t.rows)
        .find(|r| r.library == lib)
        .and_then(|r| r.cells.iter().find(|c| c.column == col))
        .expect("cell")
}

#[test]
fn pytorch_cell_fails_on_a_requirement_that_excludes_installed_torch() {
    let e = env(
        "3.11.7",
        vec![
            dist(
                "torch",
                "2.5.1+cu124",
                &[],
                Some(">=3.9"),
                &["cp311-cp311-linux_x86_64"],
            ),
            dist(
                "peft",
                "0.12.0",
                &["torch<2.5,>=1.13"],
                Some(">=3.8"),
                &["py3-none-any"],
            ),
            dist(
                "safetensors",
                "0.4.5",
                &["torch>=2.6; extra == \"torch\""],
                None,
                &[],
            ),
        ],
    );
    let v = run(&e, &crate::probe::HostFacts::default());
    let peft = find(&v, "peft", "pytorch");
    assert_eq!(peft.verdict, Verdict::Failed, "{peft:?}");
    assert!(peft
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("torch<2.5,>=1.13"));
    // An extra's pin is the package's word on torch too.
    assert_eq!(find(&v, "safetensors", "pytorch").verdict, Verdict::Failed);
    assert_eq!(find(&v, "torch", "pytorch").verdict, Verdict::Verified);
    // The consistency check agrees: peft's requirement is broken.
    assert_eq!(v.consistency.problems.len(), 1);
    assert_eq!(v.consistency.problems[0].code, "version-conflict");
    assert!(v.failed());
}

#[test]
fn python_cell_rules() {
    let e = env(
        "3.11.7",
        vec![
            dist(
                "transformers",
                "4.44.2",
                &[],
                Some(">=3.12"),
                &["py3-none-any"],
            ),
            dist(
                "peft",
                "0.12.0",
                &[],
                Some(">=3.8"),
                &["cp312-cp312-manylinux_2_17_x86_64"],
            ),
            dist(
                "accelerate",
                "0.33.0",
                &[],
                Some(">=3.8.0"),
                &["py3-none-any"],
            ),
            dist(
                "safetensors",
                "0.4.5",
                &[],
                Some(">=3.7"),
                &["cp38-abi3-manylinux_2_17_x86_64"],
            ),
        ],
    );
    let v = run(&e, &crate::probe::HostFacts::default());
    assert_eq!(find(&v, "transformers", "python").verdict, Verdict::Failed);
    assert_eq!(
        find(&v, "peft", "python").verdict,
        Verdict::Failed,
        "a cp312 wheel on 3.11"
    );
    assert_eq!(find(&v, "accelerate", "python").verdict, Verdict::Verified);
    assert_eq!(
        find(&v, "safetensors", "python").verdict,
        Verdict::Verified,
        "abi3 from 3.8 runs on 3.11"
    );

    // On another interpreter the claim about 3.11 cannot be tried, unless metadata excludes it.
    let e = env(
        "3.12.4",
        vec![
            dist(
                "accelerate",
                "0.33.0",
                &[],
                Some(">=3.8.0"),
                &["py3-none-any"],
            ),
            dist(
                "transformers",
                "5.0.0",
                &[],
                Some(">=3.12"),
                &["py3-none-any"],
            ),
        ],
    );
    let v = run(&e, &crate::probe::HostFacts::default());
    let acc = find(&v, "accelerate", "python");
    assert_eq!(acc.verdict, Verdict::Unverified);
    assert!(acc.reason.as_deref().unwrap_or("").contains("not 3.11"));
    assert_eq!(find(&v, "transformers", "python").verdict, Verdict::Failed);
}

#[test]
fn version_cell_and_score() {
    let e = env(
        "3.11.7",
        vec![
            dist("torch", "2.4.0rc1", &[], None, &[]),
            dist("bitsandbytes", "0.41.0", &[], None, &[]),
            dist("ruff", "0.4.10", &[], None, &[]),
        ],
    );
    let v = run(&e, &crate::probe::HostFacts::default());
    // A release candidate of 2.4.0 is before 2.4.0 (PEP 440), so >=2.4.0 fails.
    assert_eq!(find(&v, "torch", "version").verdict, Verdict::Failed);
    assert_eq!(
        find(&v, "bitsandbytes", "version").verdict,
        Verdict::Verified
    );
    let ruff = find(&v, "ruff", "version");
    assert_eq!(ruff.verdict, Verdict::Failed);
    assert_eq!(ruff.fix.as_deref(), Some("pip install 'ruff>=0.5'"));
    assert_eq!(find(&v, "wandb", "version").verdict, Verdict::NotInstalled);
    assert_eq!(find(&v, "torch", "cuda").verdict, Verdict::Unverified);
    assert_eq!(v.score.checkable, 42);
    let verified = v
        .tables
        .iter()
        .flat_map(|t| &t.rows)
        .flat_map(|r| &r.cells)
        .filter(|c| c.checkable && c.verdict == Verdict::Verified)
        .count();
    assert_eq!(v.score.verified, verified);
    assert!(v.failed());
}

#[test]
fn qualitative_and_na_cells_are_not_checkable() {
    let e = env("3.11.7", vec![dist("dvc", "3.51.0", &[], None, &[])]);
    let v = run(&e, &crate::probe::HostFacts::default());
    let gpu = find(&v, "dvc", "gpu-support");
    assert_eq!((gpu.verdict, gpu.checkable), (Verdict::Unverified, false));
    let rating = find(&v, "dvc", "ml-integration");
    assert_eq!(
        (rating.verdict, rating.checkable),
        (Verdict::Unverified, false)
    );
    assert_eq!(find(&v, "dvc", "version").verdict, Verdict::Verified);
    assert!(!v.failed());
}

fn host(text: &str) -> crate::probe::HostFacts {
    crate::probe::host::parse_profile(text, "test").expect("profile")
}

fn torch_env(version: &str, cuda: Option<&str>, hip: Option<&str>, bnb_libs: &[&str]) -> PythonEnv {
    let mut e = env(
        "3.11.7",
        vec![
            dist("torch", version, &[], None, &[]),
            dist("bitsandbytes", "0.50.0", &["torch<3,>=2.3"], None, &[]),
        ],
    );
    e.torch = Some(crate::env::TorchVersionPy {
        version: Some(version.into()),
        cuda: cuda.map(str::to_string),
        hip: hip.map(str::to_string),
        git_version: None,
        debug: Some(false),
    });
    e.bnb_libraries = bnb_libs.iter().map(|s| s.to_string()).collect();
    e
}

const V100_580: &str = "schema = 1\n[driver]\nversion = \"580.65.06\"\ncuda = \"13.0\"\n[[gpus]]\nname = \"Tesla V100-SXM2-32GB\"\ncompute_capability = \"7.0\"\n";
const H100_550: &str = "schema = 1\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n";

#[test]
fn cu130_torch_on_volta_fails_although_the_driver_allows_cuda_13() {
    let e = torch_env(
        "2.9.0+cu130",
        Some("13.0"),
        None,
        &["libbitsandbytes_cuda130.so"],
    );
    let v = run(&e, &host(V100_580));
    let c = find(&v, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
    let why = c.reason.as_deref().unwrap_or("");
    assert!(
        why.contains("no kernels for Tesla V100-SXM2-32GB (sm_70)"),
        "{why}"
    );
    let fix = c.fix.as_deref().unwrap_or("");
    assert!(
        fix.contains("cu12"),
        "the fix names a CUDA 12 variant that still has sm_70: {fix}"
    );
}

#[test]
fn cpu_and_rocm_builds_of_torch_fail_the_cuda_column() {
    for (cuda, hip, word) in [(None, None, "CPU-only"), (None, Some("6.1"), "ROCm")] {
        let e = torch_env("2.4.1", cuda, hip, &[]);
        let v = run(&e, &host(H100_550));
        let c = find(&v, "torch", "cuda");
        assert_eq!(c.verdict, Verdict::Failed);
        assert!(c.reason.as_deref().unwrap_or("").contains(word), "{c:?}");
    }
}

#[test]
fn bitsandbytes_never_loads_across_a_major_version() {
    let e = torch_env(
        "2.9.0+cu130",
        Some("13.0"),
        None,
        &["libbitsandbytes_cuda124.so", "libbitsandbytes_cuda128.so"],
    );
    let h = host("schema = 1\n[driver]\nversion = \"580.65.06\"\ncuda = \"13.0\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n");
    let v = run(&e, &h);
    // torch 2.9 cu130's table row is marked unsure, and nothing installed was read: the torch
    // cell is unverified for that reason, and the bitsandbytes failure is not hidden behind it.
    let t = find(&v, "torch", "cuda");
    assert_eq!(t.verdict, Verdict::Unverified, "{t:?}");
    assert!(
        t.reason.as_deref().unwrap_or("").contains("marked unsure"),
        "{t:?}"
    );
    let b = find(&v, "bitsandbytes", "cuda");
    assert_eq!(b.verdict, Verdict::Failed, "{b:?}");
    assert!(b
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("never crosses a major version"));
}

#[test]
fn a_torch_built_for_another_cuda_minor_leaves_the_12_4_claim_unverified() {
    let e = torch_env(
        "2.6.0+cu126",
        Some("12.6"),
        None,
        &["libbitsandbytes_cuda126.so"],
    );
    let h = host("schema = 1\n[driver]\nversion = \"560.35.03\"\ncuda = \"12.6\"\n[[gpus]]\nname = \"NVIDIA H100 80GB HBM3\"\ncompute_capability = \"9.0\"\n");
    let v = run(&e, &h);
    let c = find(&v, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Unverified, "{c:?}");
    assert!(c
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("built for CUDA 12.6, not 12.4"));
    // An older driver than torch's CUDA needs, across a major: failed, with the fix.
    let old = host("schema = 1\n[driver]\nversion = \"470.82.01\"\ncuda = \"11.4\"\n[[gpus]]\nname = \"NVIDIA A100-SXM4-80GB\"\ncompute_capability = \"8.0\"\n");
    let v = run(&e, &old);
    let c = find(&v, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Failed);
    assert!(
        c.fix
            .as_deref()
            .unwrap_or("")
            .contains("upgrade the NVIDIA driver"),
        "{c:?}"
    );
}

/// Every reason sentence comes with its code, on cells and statements alike.
fn assert_reasons_have_codes(v: &Verification) {
    for c in v.tables.iter().flat_map(|t| &t.rows).flat_map(|r| &r.cells) {
        assert_eq!(c.reason.is_some(), c.reason_code.is_some(), "{c:?}");
    }
    for s in v
        .past_conflicts
        .iter()
        .chain(&v.current_conflicts)
        .chain(&v.known_issues)
        .chain(&v.graph_edges)
    {
        assert_eq!(s.reason.is_some(), s.reason_code.is_some(), "{s:?}");
    }
}

#[test]
fn reasons_carry_codes() {
    use crate::model::verdict::ReasonCode;
    let e = torch_env(
        "2.9.0+cu130",
        Some("13.0"),
        None,
        &["libbitsandbytes_cuda130.so"],
    );
    let v = run(&e, &host(V100_580));
    assert_reasons_have_codes(&v);
    assert_eq!(
        find(&v, "torch", "cuda").reason_code,
        Some(ReasonCode::ArchNotInBuild)
    );
    assert_eq!(
        find(&v, "wandb", "version").reason_code,
        Some(ReasonCode::NotInstalled)
    );
    let v = run(&e, &crate::probe::HostFacts::default());
    assert_reasons_have_codes(&v);
    assert_eq!(
        find(&v, "torch", "cuda").reason_code,
        Some(ReasonCode::NoDriver)
    );
    let bf16 = v
        .known_issues
        .iter()
        .find(|k| k.text.starts_with("bf16 runs natively"))
        .expect("the bf16-native check");
    assert_eq!(bf16.reason_code, Some(ReasonCode::NoDriver));
    // V100 has no native bf16; the newest CUDA still supports it or not, by the tables.
    let v = run(&e, &host(V100_580));
    let bf16 = v
        .known_issues
        .iter()
        .find(|k| k.text.starts_with("bf16 runs natively"))
        .expect("the bf16-native check");
    assert_eq!(
        (bf16.verdict, bf16.reason_code),
        (Verdict::Failed, Some(ReasonCode::NoNativeBf16))
    );
}

#[test]
fn statements_are_checked_by_their_check_not_by_their_id() {
    // The seed's sparsegpt conflict, renamed and about another package: worded with its own
    // names, not the seed's.
    let text = include_str!("../../matrices/llm-compression.toml")
        .replace("id = \"sparsegpt-torch\"", "id = \"peft-torch\"")
        .replace(
            "libraries = [\"sparsegpt\", \"torch\"]\ncheck",
            "libraries = [\"peft\", \"torch\"]\ncheck",
        )
        .replace("id = \"mixed-precision\"", "id = \"half-precision\"");
    let m = crate::matrix::load_str(&text, "test").expect("loads");
    let e = env(
        "3.11.7",
        vec![dist("peft", "0.12.0", &["torch>=1.13"], None, &[])],
    );
    let v = verify(&Inputs {
        matrix: &m,
        env: &e,
        host: &host(V100_580),
        knowledge: crate::knowledge::for_tests(),
        smoke: None,
    });
    let c = &v.current_conflicts[0];
    assert_eq!(
        c.reason.as_deref(),
        Some(
            "whether peft itself works with this torch needs its own code run; compat's LoRA smoke check (`compat smoke`) exercises the operation, not the package"
        ),
        "{c:?}"
    );
    assert!(c
        .evidence
        .contains(&"Requires-Dist: torch>=1.13".to_string()));
    // The renamed mixed-precision issue is still the bf16 check.
    assert!(v
        .known_issues
        .iter()
        .any(|k| k.text.starts_with("bf16 runs natively") && k.verdict == Verdict::Failed));
}

/// An sm_100 GPU on a driver for CUDA 12.8.
const B200_570: &str = "schema = 1\n[driver]\nversion = \"570.133.20\"\ncuda = \"12.8\"\n[[gpus]]\nname = \"NVIDIA B200\"\ncompute_capability = \"10.0\"\n";

fn with_torch_fatbin(mut e: PythonEnv, sass: &[&str], ptx: &[&str]) -> PythonEnv {
    e.native_libraries = vec![crate::env::NativeLibraryFact {
        package: "torch".into(),
        path: "/site/torch/lib/libtorch_cuda.so".into(),
        sass: sass.iter().map(|s| s.to_string()).collect(),
        ptx: ptx.iter().map(|s| s.to_string()).collect(),
    }];
    e
}

#[test]
fn a_gpu_missing_from_the_installed_torch_fatbin_is_failed_with_the_fatbin_as_evidence() {
    let e = with_torch_fatbin(
        torch_env(
            "2.4.1+cu124",
            Some("12.4"),
            None,
            &["libbitsandbytes_cuda124.so"],
        ),
        &["sm_80", "sm_86", "sm_90"],
        &[],
    );
    let v = run(&e, &host(B200_570));
    let c = find(&v, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
    let why = c.reason.as_deref().unwrap_or("");
    assert!(why.contains("no kernels for NVIDIA B200 (sm_100)"), "{why}");
    assert!(
        why.contains(
            "fatbin:/site/torch/lib/libtorch_cuda.so carries SASS sm_80 sm_86 sm_90 and PTX none"
        ),
        "{why}"
    );
    assert!(
        c.evidence
            .iter()
            .any(|l| l == "fatbin:/site/torch/lib/libtorch_cuda.so: sm_80 sm_86 sm_90"),
        "{c:?}"
    );
    assert_eq!(
        c.reason_code,
        Some(crate::model::verdict::ReasonCode::ArchNotInBuild)
    );
    // Every row that runs through torch fails with it, never verified.
    assert_eq!(find(&v, "bitsandbytes", "cuda").verdict, Verdict::Failed);
}

#[test]
fn the_fatbin_rules_sass_within_a_major_ptx_forward_arch_specific_only_its_own() {
    // An arch-specific sm_90a cubin does not run on sm_100; PTX compute_90 JIT-compiles for
    // it under a driver that fully supports torch's CUDA 12.4.
    let e = with_torch_fatbin(
        torch_env(
            "2.4.1+cu124",
            Some("12.4"),
            None,
            &["libbitsandbytes_cuda124.so"],
        ),
        &["sm_80", "sm_90a"],
        &["compute_90"],
    );
    let v = run(&e, &host(B200_570));
    let c = find(&v, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Verified, "{c:?}");
    assert!(
        c.caveats.iter().any(|l| l.contains("through PTX JIT")),
        "{c:?}"
    );
    // sm_86 SASS runs on sm_89, not sm_80 on sm_90 (another minor below), nor sm_90a's PTX
    // `compute_90a` on sm_100.
    use super::cells::cuda::{ptx_runs, sass_runs};
    use crate::model::units::ComputeCapability as Cc;
    assert!(sass_runs("sm_86", Cc::new(8, 9)));
    assert!(!sass_runs("sm_89", Cc::new(8, 6)));
    assert!(!sass_runs("sm_80", Cc::new(9, 0)));
    assert!(sass_runs("sm_90a", Cc::new(9, 0)));
    assert!(!sass_runs("sm_100a", Cc::new(10, 3)));
    assert!(ptx_runs("compute_90", Cc::new(12, 0)));
    assert!(!ptx_runs("compute_90a", Cc::new(10, 0)));
    assert!(ptx_runs("compute_100f", Cc::new(10, 3)));
    assert!(!ptx_runs("compute_100f", Cc::new(12, 0)));
    assert!(!ptx_runs("compute_120", Cc::new(10, 0)));
}

#[test]
fn ptx_does_not_reach_a_gpu_under_minor_version_compatibility() {
    // torch cu128 on a 12.4 driver runs under minor-version compatibility, which does not
    // JIT-compile PTX: an sm_100 GPU with only compute_90 PTX has no kernel.
    let e = with_torch_fatbin(
        torch_env(
            "2.7.0+cu128",
            Some("12.8"),
            None,
            &["libbitsandbytes_cuda128.so"],
        ),
        &["sm_80", "sm_90"],
        &["compute_90"],
    );
    let h = host("schema = 1\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n[[gpus]]\nname = \"NVIDIA B200\"\ncompute_capability = \"10.0\"\n");
    let v = run(&e, &h);
    let c = find(&v, "torch", "cuda");
    assert_eq!(c.verdict, Verdict::Failed, "{c:?}");
    assert!(
        c.reason
            .as_deref()
            .unwrap_or("")
            .contains("does not JIT-compile its PTX"),
        "{c:?}"
    );
}

#[test]
fn a_bitsandbytes_without_a_library_for_torchs_cuda_fails_even_when_torchs_archs_are_unknown() {
    // torch 2.4.1+cu124's table row is known; a torch release compat's tables do not list
    // leaves the arch list unknown. bitsandbytes 0.50.0 ships only CUDA 11.8 here: it has
    // nothing to load for torch's CUDA 12.4 whatever torch's architectures.
    let e = torch_env(
        "1.99.0+cu124",
        Some("12.4"),
        None,
        &["libbitsandbytes_cuda118.so"],
    );
    let v = run(&e, &host(H100_550));
    let t = find(&v, "torch", "cuda");
    assert_eq!(t.verdict, Verdict::Unverified, "{t:?}");
    assert_eq!(
        t.reason_code,
        Some(crate::model::verdict::ReasonCode::TorchArchsUnknown)
    );
    let b = find(&v, "bitsandbytes", "cuda");
    assert_eq!(b.verdict, Verdict::Failed, "{b:?}");
    assert_eq!(
        b.reason_code,
        Some(crate::model::verdict::ReasonCode::BnbNoLibraryForCuda)
    );
}
