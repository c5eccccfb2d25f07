use std::str::FromStr;

use pep440_rs::Version;

use super::*;
use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};

fn k() -> &'static Knowledge {
    super::for_tests()
}

fn d(s: &str) -> DriverVersion {
    DriverVersion::from_str(s).expect("driver version literal")
}

fn c(s: &str) -> CudaVersion {
    CudaVersion::from_str(s).expect("cuda version literal")
}

fn cc(s: &str) -> ComputeCapability {
    ComputeCapability::from_str(s).expect("compute capability literal")
}

fn v(s: &str) -> Version {
    Version::from_str(s).expect("version literal")
}

#[test]
fn embedded_tables_are_valid() {
    let loaded = Knowledge::embedded();
    assert!(
        loaded.is_ok(),
        "embedded tables invalid: {:?}",
        loaded.err()
    );
}

#[test]
fn malformed_table_is_an_error_naming_the_file() {
    let mut t = Tables::EMBEDDED;
    t.gpus = "schema = 1\n[[gpu]]\nname = \"X\"\n";
    let err = Knowledge::from_tables(&t).expect_err("missing fields must fail");
    assert_eq!(err.file, "gpus.toml");
    assert_eq!((err.line, err.column), (2, 1), "{err}");
    assert!(
        err.to_string()
            .starts_with("matrices/knowledge/gpus.toml:2:1: missing field"),
        "{err}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the TOML error is kept"
    );

    let mut t = Tables::EMBEDDED;
    t.precision = "not toml at all [";
    assert_eq!(
        Knowledge::from_tables(&t).expect_err("syntax error").file,
        "precision.toml"
    );
}

#[test]
fn unknown_fields_and_bad_values_are_rejected() {
    let mut t = Tables::EMBEDDED;
    t.minor_version_compat = "schema = 1\ncaveat = \"x\"\ncaveat_source = \"y\"\n\
        [[floor]]\nmajor = 12\nfloor = \"525.60.13\"\nsource = \"s\"\nsorce = \"typo\"\n";
    assert!(Knowledge::from_tables(&t).is_err());

    let mut t = Tables::EMBEDDED;
    t.cuda_toolkit_driver = "schema = 1\n[[toolkit]]\nrelease = \"12.4\"\nlabel = \"l\"\n\
        linux_x86_64 = \"550.54.14\"\nsource = \"s\"\n";
    let err = Knowledge::from_tables(&t).expect_err("12.4 is not x.y.z");
    assert!(err.message.contains("12.4"), "{err}");

    let mut t = Tables::EMBEDDED;
    t.cuda_toolkit_driver = "schema = 1\n[[toolkit]]\nrelease = \"12.4.0\"\nlabel = \"l\"\n\
        linux_x86_64 = \"550.54.14\"\nsource = \"\"\n";
    assert!(Knowledge::from_tables(&t).is_err(), "empty source");

    let mut t = Tables::EMBEDDED;
    t.cuda_toolkit_driver = "schema = 1\n\
        [[toolkit]]\nrelease = \"12.4.0\"\nlabel = \"l\"\nlinux_x86_64 = \"550.54.14\"\nsource = \"s\"\n\
        [[toolkit]]\nrelease = \"12.5.0\"\nlabel = \"l\"\nlinux_x86_64 = \"505.42.02\"\nsource = \"s\"\n";
    assert!(
        Knowledge::from_tables(&t).is_err(),
        "a newer toolkit with an older driver is a typo"
    );
}

#[test]
fn overlapping_torch_rows_are_rejected() {
    let mut t = Tables::EMBEDDED;
    let text = format!(
        "{}\n[[build]]\ntorch = \">=2.4,<2.5\"\ncuda = \"cu124\"\nsass = [\"9.0\"]\nsource = \"dup\"\n",
        Tables::EMBEDDED.torch_wheels
    );
    t.torch_wheels = &text;
    let err = Knowledge::from_tables(&t).expect_err("two cu124 rows for 2.4");
    assert!(err.message.contains("cu124"), "{err}");
}

#[test]
fn every_row_has_a_source() {
    // load() refuses empty sources; spot-check that sources name documents.
    let k = k();
    assert!(k
        .toolkit_min_driver(c("12.4"))
        .expect("12.4")
        .source
        .contains("docs.nvidia.com"));
    assert!(k
        .minor_compat_floor(12)
        .expect("12")
        .source
        .contains("cuda-compatibility"));
    let a = k.torch_archs(&v("2.8.0"), c("12.8")).expect("2.8 cu128");
    assert!(a.source.contains("build_cuda.sh"), "{}", a.source);
    assert!(k.precision(cc("8.0")).sources.fp8.contains("_scaled_mm"));
    assert!(k.bnb_floors().source.contains("bitsandbytes"));
    assert!(k
        .gpu_lookup("NVIDIA H100")
        .expect("h100")
        .source
        .contains("developer.nvidia.com/cuda-gpus"));
}

#[test]
fn toolkit_min_driver_ga_and_exact_release() {
    let k = k();
    assert_eq!(
        k.toolkit_min_driver(c("12.4")).expect("12.4").value,
        d("550.54.14")
    );
    assert_eq!(
        k.toolkit_release_min_driver("12.4.1")
            .expect("12.4.1")
            .value,
        d("550.54.15")
    );
    assert_eq!(
        k.toolkit_release_min_driver("12.4")
            .expect("12.4 = GA")
            .value,
        d("550.54.14")
    );
    assert_eq!(
        k.toolkit_min_driver(c("11.8")).expect("11.8").value,
        d("520.61.05")
    );
    // 11.0's GA is 11.0.2 (11.0.1 was an RC and is not in the table)
    assert_eq!(
        k.toolkit_min_driver(c("11.0")).expect("11.0").value,
        d("450.51.05")
    );
    assert_eq!(
        k.toolkit_min_driver(c("12.8")).expect("12.8").value,
        d("570.26")
    );
    assert_eq!(
        k.toolkit_min_driver(c("13.0")).expect("13.0").value,
        d("580.65.06")
    );
    assert_eq!(k.toolkit_min_driver(c("12.7")), None);
    assert_eq!(
        k.toolkit_min_driver(c("10.2")).expect("10.2").value,
        d("440.33")
    );
    assert_eq!(k.toolkit_min_driver(c("8.0")), None);
    assert_eq!(k.toolkit_release_min_driver("12.4.9"), None);
    assert_eq!(k.toolkit_release_min_driver("twelve"), None);
    assert_eq!(k.toolkit_label("12.4.1"), Some("CUDA 12.4 Update 1"));
    assert_eq!(k.newest_cuda(), c("13.2"));
    assert!(
        k.cuda_arch_range(k.newest_cuda()).is_some(),
        "the newest CUDA has an arch range"
    );
    assert_eq!(
        k.toolkit_releases(c("12.6")),
        ["12.6.0", "12.6.1", "12.6.2", "12.6.3"]
    );
    assert!(
        k.toolkit_release_min_driver("12.3.2")
            .expect("12.3.2")
            .unsure,
        "12.3.2 is not in NVIDIA's table"
    );
}

#[test]
fn toolkit_table_has_every_facts_row() {
    let k = k();
    let facts = [
        ("12.0.0", "525.60.13"),
        ("12.0.1", "525.85.12"),
        ("12.1.0", "530.30.02"),
        ("12.1.1", "530.30.02"),
        ("12.2.0", "535.54.03"),
        ("12.2.1", "535.86.09"), // FACTS.md: 535.86.10, NVIDIA's table: 535.86.09
        ("12.2.2", "535.104.05"),
        ("12.3.0", "545.23.06"),
        ("12.3.1", "545.23.08"),
        ("12.3.2", "545.23.08"),
        ("12.4.0", "550.54.14"),
        ("12.4.1", "550.54.15"),
        ("12.5.0", "555.42.02"),
        ("12.5.1", "555.42.06"),
        ("12.6.0", "560.28.03"),
        ("12.6.1", "560.35.03"),
        ("12.6.2", "560.35.03"),
        ("12.6.3", "560.35.05"),
        ("12.8.0", "570.26"), // FACTS.md: 570.86.10 (the runfile's driver) (? 570.26)
        ("12.8.1", "570.124.06"),
        ("12.9.0", "575.51.03"),
        ("12.9.1", "575.57.08"),
        ("13.0.0", "580.65.06"),
        ("13.0.1", "580.82.07"),
        ("13.0.2", "580.95.05"),
        ("13.1.0", "590.44.01"),
        ("13.1.1", "590.48.01"),
        ("13.2.0", "595.45.04"),
        ("11.8.0", "520.61.05"),
    ];
    for (release, driver) in facts {
        assert_eq!(
            k.toolkit_release_min_driver(release).map(|s| s.value),
            Some(d(driver)),
            "{release}"
        );
    }
}

#[test]
fn minor_compat_floors() {
    let k = k();
    assert_eq!(k.minor_compat_floor(11).expect("11").value, d("450.80.02"));
    assert_eq!(k.minor_compat_floor(12).expect("12").value, d("525.60.13"));
    let f13 = k.minor_compat_floor(13).expect("13").value;
    assert_eq!(f13, d("580"));
    assert!(d("580.65.06") >= f13 && d("575.57.08") < f13);
    assert_eq!(k.minor_compat_floor(10), None);
    assert_eq!(k.minor_compat_floor(14), None);
    assert!(k
        .minor_compat_caveat()
        .value
        .contains("cudaErrorUnsupportedPtxVersion"));
}

#[test]
fn max_cuda_for_driver_cases() {
    let k = k();
    assert_eq!(k.max_cuda_for_driver(&d("550.54.15")), Some(c("12.4")));
    assert_eq!(k.max_cuda_for_driver(&d("550.54.14")), Some(c("12.4")));
    assert_eq!(k.max_cuda_for_driver(&d("550.54.13")), Some(c("12.3")));
    assert_eq!(k.max_cuda_for_driver(&d("535.104.05")), Some(c("12.2")));
    assert_eq!(k.max_cuda_for_driver(&d("570.124.06")), Some(c("12.8")));
    assert_eq!(k.max_cuda_for_driver(&d("580.65.06")), Some(c("13.0")));
    assert_eq!(k.max_cuda_for_driver(&d("610.74")), Some(c("13.2")));
    assert_eq!(k.max_cuda_for_driver(&d("470.82.01")), Some(c("11.4")));
    assert_eq!(k.max_cuda_for_driver(&d("440.33")), Some(c("10.2")));
    assert_eq!(k.max_cuda_for_driver(&d("375.26")), None);
}

#[test]
fn driver_runs_full_minor_compat_no() {
    let k = k();
    assert_eq!(
        k.driver_runs(&d("550.54.15"), c("12.4")),
        DriverSupport::Full
    );
    assert_eq!(
        k.driver_runs(&d("550.54.14"), c("12.4")),
        DriverSupport::Full
    );
    assert_eq!(
        k.driver_runs(&d("590.48.01"), c("12.4")),
        DriverSupport::Full
    );
    match k.driver_runs(&d("535.104.05"), c("12.4")) {
        DriverSupport::MinorCompat { caveat } => {
            assert!(caveat.contains("550.54.14"), "{caveat}");
            assert!(caveat.contains("525.60.13"), "{caveat}");
            assert!(
                caveat.contains("cudaErrorUnsupportedPtxVersion"),
                "{caveat}"
            );
        }
        other => panic!("expected MinorCompat, got {other:?}"),
    }
    assert_eq!(
        k.driver_runs(&d("470.82.01"), c("12.4")),
        DriverSupport::No {
            needs: d("525.60.13")
        }
    );
    // a CUDA 12 driver cannot run CUDA 13 code: the 13.x floor is the 580 branch
    assert_eq!(
        k.driver_runs(&d("575.57.08"), c("13.0")),
        DriverSupport::No { needs: d("580") }
    );
    assert!(matches!(
        k.driver_runs(&d("580.65.06"), c("13.2")),
        DriverSupport::MinorCompat { .. }
    ));
    assert!(matches!(
        k.driver_runs(&d("470.42.01"), c("11.8")),
        DriverSupport::MinorCompat { .. }
    ));
    assert_eq!(
        k.driver_runs(&d("440.33"), c("11.8")),
        DriverSupport::No {
            needs: d("450.80.02")
        }
    );
}

#[test]
fn driver_runs_unknown_cases() {
    let k = k();
    // a 13.x minor newer than the table: minor compat still applies from the 580 floor
    match k.driver_runs(&d("600.10"), c("13.9")) {
        DriverSupport::MinorCompat { caveat } => assert!(caveat.contains("not in compat's")),
        other => panic!("expected MinorCompat, got {other:?}"),
    }
    assert!(k.driver_runs_known(&d("600.10"), c("13.9")).is_some());
    match k.driver_runs(&d("600.10"), c("14.0")) {
        DriverSupport::MinorCompat { caveat } => assert!(caveat.contains("unverified")),
        other => panic!("expected an unverified MinorCompat, got {other:?}"),
    }
    assert_eq!(k.driver_runs_known(&d("600.10"), c("14.0")), None);
    // before CUDA 11 there is no minor-version compatibility: the toolkit driver or nothing
    assert_eq!(k.driver_runs(&d("440.33"), c("10.2")), DriverSupport::Full);
    assert_eq!(
        k.driver_runs(&d("418.39"), c("10.2")),
        DriverSupport::No { needs: d("440.33") }
    );
}

#[test]
fn arch_list_sass_rule_same_major_higher_minor() {
    let a = ArchList {
        sass: vec![cc("7.0"), cc("8.0"), cc("8.6"), cc("9.0")],
        ptx: None,
        source: "test".into(),
        unsure: false,
    };
    assert!(a.runs_on(cc("8.0")));
    assert!(a.runs_on(cc("8.6")));
    assert!(a.runs_on(cc("8.9")), "sm_86 (and sm_80) cubins run on 8.9");
    assert_eq!(a.sass_for(cc("8.9")), Some(cc("8.6")));
    assert_eq!(a.sass_for(cc("8.7")), Some(cc("8.6")));
    assert!(a.runs_on(cc("7.5")), "sm_70 runs on 7.5");
    assert!(!a.runs_on(cc("6.1")), "nothing of major 6");
    assert!(!a.runs_on(cc("10.0")), "no cubin crosses majors, no PTX");
    assert!(!a.runs_on(cc("12.0")));

    let only86 = ArchList {
        sass: vec![cc("8.6")],
        ptx: None,
        source: "test".into(),
        unsure: false,
    };
    assert!(!only86.runs_on(cc("8.0")), "sm_86 does not run on 8.0");
    assert!(only86.runs_on(cc("8.9")));
}

#[test]
fn arch_list_ptx_rule() {
    let a = ArchList {
        sass: vec![cc("7.5"), cc("8.0"), cc("9.0")],
        ptx: Some(cc("9.0")),
        source: "test".into(),
        unsure: false,
    };
    assert!(a.runs_on(cc("10.0")), "compute_90 JITs for 10.0");
    assert!(a.runs_on(cc("12.0")));
    assert!(a.needs_jit(cc("12.0")));
    assert!(!a.needs_jit(cc("9.0")));
    assert!(!a.runs_on(cc("7.0")), "PTX never runs below its arch");
    assert!(!a.needs_jit(cc("7.0")));
}

#[test]
fn torch_archs_cases() {
    let k = k();
    let a = k.torch_archs(&v("2.4.1"), c("12.4")).expect("2.4.1 cu124");
    assert!(!a.runs_on(cc("12.0")), "2.4.1 cu124 has no Blackwell code");
    assert!(a.runs_on(cc("9.0")) && a.runs_on(cc("8.9")) && a.runs_on(cc("5.2")));
    assert_eq!(a.ptx, None);

    // the local tag is ignored
    assert_eq!(k.torch_archs(&v("2.4.1+cu124"), c("12.4")), Some(a.clone()));

    let a = k.torch_archs(&v("2.7.0"), c("12.8")).expect("2.7 cu128");
    assert!(a.runs_on(cc("12.0")));
    assert!(!a.runs_on(cc("7.0")), "2.7 cu128 dropped Volta");
    assert!(a.unsure);

    for t in ["2.8.0", "2.9.1", "2.10.0"] {
        let a = k.torch_archs(&v(t), c("12.8")).expect("cu128");
        assert!(a.runs_on(cc("7.0")), "{t} cu128 has sm_70");
        assert!(a.runs_on(cc("12.0")), "{t}");
        assert!(!a.runs_on(cc("6.1")), "{t}");
    }
    let a = k.torch_archs(&v("2.11.0"), c("12.8")).expect("2.11 cu128");
    assert!(!a.runs_on(cc("7.0")), "2.11 cu128 dropped Volta");

    for t in ["2.9.0", "2.11.0", "2.13.0", "2.14.0"] {
        let a = k.torch_archs(&v(t), c("13.0")).expect("cu130");
        assert!(!a.runs_on(cc("7.0")), "cu130 has no sm_70 ({t})");
        assert!(a.runs_on(cc("7.5")) && a.runs_on(cc("12.0")), "{t}");
    }
    assert_eq!(
        k.torch_archs(&v("2.13.0"), c("13.0")).expect("2.13.0").ptx,
        Some(cc("12.0"))
    );
    assert_eq!(
        k.torch_archs(&v("2.13.1"), c("13.0")).expect("2.13.1").ptx,
        None
    );

    let a = k.torch_archs(&v("2.6.0"), c("12.6")).expect("2.6 cu126");
    assert!(a.runs_on(cc("6.1")) && a.runs_on(cc("5.0")) && !a.runs_on(cc("12.0")));
    let a = k.torch_archs(&v("2.3.1"), c("11.8")).expect("2.3 cu118");
    assert!(a.runs_on(cc("3.7")));
    let a = k.torch_archs(&v("2.8.0"), c("12.9")).expect("2.8 cu129");
    assert_eq!(a.ptx, Some(cc("12.0")));

    // unknown combinations
    assert_eq!(k.torch_archs(&v("2.4.1"), c("12.8")), None);
    assert_eq!(k.torch_archs(&v("1.13.1"), c("11.7")), None);
    assert_eq!(k.torch_archs(&v("2.16.0"), c("13.0")), None);
}

#[test]
fn torch_variants_per_release() {
    let k = k();
    let tags = |t: &str| -> Vec<String> {
        k.torch_variants(&v(t))
            .into_iter()
            .map(|c| c.tag())
            .collect()
    };
    assert_eq!(tags("2.0.1"), ["cu117", "cu118"]);
    assert_eq!(tags("2.3.0"), ["cu118", "cu121"]);
    assert_eq!(tags("2.4.1"), ["cu118", "cu121", "cu124"]);
    assert_eq!(tags("2.6.0"), ["cu118", "cu124", "cu126"]);
    assert_eq!(tags("2.7.1+cu128"), ["cu118", "cu126", "cu128"]);
    assert_eq!(tags("2.8.0"), ["cu126", "cu128", "cu129"]);
    assert_eq!(tags("2.9.0"), ["cu126", "cu128", "cu130"]);
    assert_eq!(tags("2.11.0"), ["cu126", "cu128", "cu130"]);
    assert_eq!(tags("2.12.1"), ["cu126", "cu130", "cu132"]);
    assert_eq!(tags("2.14.0"), ["cu126", "cu130", "cu132"]);
    assert!(tags("2.15.0").is_empty());
    assert!(k
        .torch_variants_sourced(&v("2.5.0"))
        .expect("2.5")
        .source
        .contains("RELEASE.md"));
}

#[test]
fn cuda_supports_arch_cases() {
    let k = k();
    assert_eq!(k.cuda_supports_arch(c("12.4"), cc("5.0")), Some(true));
    assert_eq!(k.cuda_supports_arch(c("12.4"), cc("3.7")), Some(false));
    assert_eq!(k.cuda_supports_arch(c("12.4"), cc("12.0")), Some(false));
    assert_eq!(k.cuda_supports_arch(c("12.8"), cc("12.0")), Some(true));
    assert_eq!(k.cuda_supports_arch(c("12.8"), cc("5.0")), Some(true));
    assert_eq!(
        k.cuda_arch_range(c("12.8")).expect("12.8").deprecated_below,
        Some(cc("7.5"))
    );
    assert_eq!(k.cuda_supports_arch(c("12.9"), cc("12.1")), Some(true));
    assert_eq!(k.cuda_supports_arch(c("13.0"), cc("7.0")), Some(false));
    assert_eq!(k.cuda_supports_arch(c("13.0"), cc("7.5")), Some(true));
    assert_eq!(k.cuda_supports_arch(c("13.2"), cc("6.1")), Some(false));
    assert_eq!(k.cuda_supports_arch(c("11.8"), cc("3.7")), Some(true));
    assert_eq!(k.cuda_supports_arch(c("11.8"), cc("9.0")), Some(true));
    assert_eq!(k.cuda_supports_arch(c("11.1"), cc("8.9")), Some(false));
    assert_eq!(k.cuda_supports_arch(c("10.2"), cc("7.0")), None);
    assert_eq!(k.cuda_supports_arch(c("14.0"), cc("9.0")), None);
}

#[test]
fn precision_thresholds() {
    let k = k();
    let p = k.precision(cc("6.1"));
    assert!(!p.fp16 && p.fp16_deprecated && !p.bf16_native && !p.int8_tensor_cores && !p.fp8);
    let p = k.precision(cc("7.0"));
    assert!(p.fp16 && !p.fp16_deprecated && !p.bf16_native && !p.int8_tensor_cores);
    let p = k.precision(cc("7.5"));
    assert!(p.fp16 && !p.bf16_native && p.int8_tensor_cores && !p.fp8);
    let p = k.precision(cc("8.0"));
    assert!(p.bf16_native && !p.fp8);
    assert!(!k.precision(cc("8.6")).fp8);
    assert!(!k.precision(cc("8.7")).fp8);
    assert!(k.precision(cc("8.9")).fp8);
    assert!(k.precision(cc("9.0")).fp8);
    assert!(k.precision(cc("12.0")).fp8);
    let p = k.precision(cc("5.2"));
    assert!(!p.fp16 && !p.fp16_deprecated);
    assert!(p.sources.fp16.contains("DeepSpeed"));
    assert!(p.sources.bf16_native.contains("is_bf16_supported"));
}

#[test]
fn bnb_select_rule() {
    let k = k();
    let l = |s: &[&str]| -> Vec<CudaVersion> { s.iter().map(|x| c(x)).collect() };
    assert_eq!(
        k.bnb_select(c("12.5"), &l(&["11.8", "12.1", "12.4", "12.6"])),
        Some(c("12.4"))
    );
    assert_eq!(
        k.bnb_select(c("12.0"), &l(&["12.1", "12.4"])),
        Some(c("12.1"))
    );
    assert_eq!(k.bnb_select(c("13.0"), &l(&["12.8"])), None);
    assert_eq!(
        k.bnb_select(c("12.4"), &l(&["11.8", "12.1", "12.4", "12.6"])),
        Some(c("12.4"))
    );
    assert_eq!(
        k.bnb_select(c("12.9"), &l(&["12.1", "12.4", "12.6", "12.8", "13.0"])),
        Some(c("12.8"))
    );
    assert_eq!(
        k.bnb_select(c("11.7"), &l(&["11.8", "12.1"])),
        Some(c("11.8"))
    );
    assert_eq!(k.bnb_select(c("12.4"), &[]), None);
    // issue #1778's table, against 0.50's builds
    let b050 = k.bnb_builds(&v("0.50.0")).expect("0.50").value;
    for (torch, lib) in [
        ("12.0", "12.1"),
        ("12.2", "12.1"),
        ("12.3", "12.1"),
        ("12.5", "12.4"),
    ] {
        assert_eq!(k.bnb_select(c(torch), &b050), Some(c(lib)), "{torch}");
    }
    assert_eq!(k.bnb_select(c("12.9"), &b050), Some(c("12.8")));
    assert_eq!(k.bnb_select(c("13.1"), &b050), Some(c("13.0")));
}

#[test]
fn bnb_select_for_before_fallback() {
    let k = k();
    let avail = [c("12.4"), c("12.6")];
    assert_eq!(k.bnb_select_for(&v("0.49.2"), c("12.5"), &avail), None);
    assert_eq!(
        k.bnb_select_for(&v("0.49.2"), c("12.6"), &avail),
        Some(c("12.6"))
    );
    assert_eq!(
        k.bnb_select_for(&v("0.50.0"), c("12.5"), &avail),
        Some(c("12.4"))
    );
}

#[test]
fn bnb_archs_cases() {
    let k = k();
    assert_eq!(k.bnb_archs(c("12.4")), Some((cc("6.0"), cc("9.0"))));
    assert_eq!(k.bnb_archs(c("11.8")), Some((cc("6.0"), cc("9.0"))));
    assert_eq!(k.bnb_archs(c("12.8")), Some((cc("7.0"), cc("12.0"))));
    assert_eq!(k.bnb_archs(c("13.0")), Some((cc("7.5"), cc("12.0"))));
    assert_eq!(k.bnb_archs(c("13.2")), Some((cc("7.5"), cc("12.0"))));
    assert_eq!(k.bnb_archs(c("11.7")), None);
    // 0.47/0.48 still built sm_50 into the <= 12.6 libraries
    assert_eq!(
        k.bnb_archs_for(&v("0.48.2"), c("12.6")).map(|s| s.value),
        Some((cc("5.0"), cc("9.0")))
    );
    assert_eq!(k.bnb_archs_for(&v("0.47.0"), c("13.0")), None);
    assert_eq!(k.bnb_archs_for(&v("0.46.0"), c("12.8")), None);
    assert!(
        k.bnb_archs_for(&v("0.45.5"), c("12.4"))
            .expect("0.45")
            .unsure
    );
}

#[test]
fn bnb_builds_and_library_name() {
    let k = k();
    assert_eq!(k.bnb_latest_known(), &v("0.50.0"));
    let b = k.bnb_builds(&v("0.50.0")).expect("0.50");
    assert_eq!(
        b.value,
        ["11.8", "12.1", "12.4", "12.6", "12.8", "13.0", "13.2"].map(c)
    );
    let b = k.bnb_builds(&v("0.49.2")).expect("0.49");
    assert!(b.value.contains(&c("12.5")) && b.value.contains(&c("13.0")));
    assert!(k.bnb_builds(&v("0.47.0")).expect("0.47").unsure);
    assert_eq!(k.bnb_builds(&v("0.51.0")), None);
    assert_eq!(k.bnb_library_name(c("12.4")), "libbitsandbytes_cuda124.so");
    assert_eq!(k.bnb_library_name(c("13.0")), "libbitsandbytes_cuda130.so");
    assert_eq!(
        k.bnb_library_cuda("libbitsandbytes_cuda118.so"),
        Some(c("11.8"))
    );
    assert_eq!(
        k.bnb_library_cuda("libbitsandbytes_cuda132.so"),
        Some(c("13.2"))
    );
    assert_eq!(k.bnb_library_cuda("libbitsandbytes_cpu.so"), None);
    assert_eq!(k.bnb_library_cuda("libbitsandbytes_rocm72.so"), None);
    assert_eq!(k.bnb_override_env(), "BNB_CUDA_VERSION");
    assert!(k.bnb_selection_rule().value.contains("never across majors"));
    let f = k.bnb_floors();
    assert_eq!(
        (f.nf4, f.optim_8bit, f.llm_int8_tensor_cores),
        (cc("6.0"), cc("6.0"), cc("7.5"))
    );
}

#[test]
fn gpu_cc_lookup() {
    let k = k();
    let cases = [
        ("NVIDIA H100 80GB HBM3", "9.0"),
        ("NVIDIA H200", "9.0"),
        ("NVIDIA GH200 480GB", "9.0"),
        ("Tesla V100-SXM2-16GB", "7.0"),
        ("Tesla T4", "7.5"),
        ("NVIDIA A100-SXM4-80GB", "8.0"),
        ("NVIDIA A10G", "8.6"),
        ("NVIDIA A10", "8.6"),
        ("NVIDIA A40", "8.6"),
        ("NVIDIA GeForce RTX 3090", "8.6"),
        ("NVIDIA L4", "8.9"),
        ("NVIDIA L40S", "8.9"),
        ("NVIDIA GeForce RTX 4090", "8.9"),
        ("NVIDIA RTX 6000 Ada Generation", "8.9"),
        ("Quadro RTX 6000", "7.5"),
        ("NVIDIA RTX A6000", "8.6"),
        ("NVIDIA B200", "10.0"),
        ("NVIDIA GeForce RTX 5090", "12.0"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "12.0"),
        ("nvidia geforce rtx 2080 ti", "7.5"),
        ("Tesla P100-PCIE-16GB", "6.0"),
        ("Tesla P40", "6.1"),
    ];
    for (name, want) in cases {
        assert_eq!(k.gpu_cc(name), Some(cc(want)), "{name}");
    }
    assert_eq!(k.gpu_cc("AMD Instinct MI300X"), None);
    assert_eq!(k.gpu_cc(""), None);
    assert_eq!(k.gpu_cc("GT4"), None, "keys only match at a word start");
    let s = k.gpu_lookup("NVIDIA H100 PCIe").expect("h100");
    assert!(s.value.0.contains("Hopper"));
}

#[test]
fn host_compiler_table_has_every_release() {
    let rows = k().nvcc_host_compilers();
    let releases: Vec<String> = rows.iter().map(|r| r.cuda.to_string()).collect();
    for want in [
        "11.8", "12.0", "12.1", "12.2", "12.3", "12.4", "12.5", "12.6", "12.8", "12.9", "13.0",
        "13.1",
    ] {
        assert!(releases.iter().any(|r| r == want), "no row for CUDA {want}");
    }
    assert!(
        !releases.iter().any(|r| r == "12.7"),
        "there is no CUDA 12.7"
    );
    assert!(rows.iter().all(|r| !r.source.trim().is_empty()));
}

#[test]
fn host_compiler_table_rejects_bad_rows() {
    let bad = |table: &str| {
        let t = Tables {
            nvcc_host_compilers: table,
            ..Tables::EMBEDDED
        };
        Knowledge::from_tables(&t).expect_err("refused").to_string()
    };
    let head = "schema = 1\n";
    let row = |cuda: &str, max: u32, source: &str| {
        format!("[[release]]\ncuda = \"{cuda}\"\nmax_gcc_major = {max}\nsource = \"{source}\"\n")
    };
    let dup = format!("{head}{}{}", row("12.4", 13, "x"), row("12.4", 13, "y"));
    assert!(bad(&dup).contains("listed twice"), "{}", bad(&dup));
    let down = format!("{head}{}{}", row("12.4", 13, "x"), row("12.5", 12, "y"));
    assert!(bad(&down).contains("less than"), "{}", bad(&down));
    let no_source = format!("{head}{}", row("12.4", 13, " "));
    assert!(bad(&no_source).contains("empty `source`"));
    let patch = format!("{head}{}", row("12.4.1", 13, "x"));
    let e = bad(&patch);
    assert!(
        e.starts_with("matrices/knowledge/nvcc-host-compilers.toml:3:8:")
            && e.contains("major.minor"),
        "{e}"
    );
    let unknown = format!("{head}{}colour = 1\n", row("12.4", 13, "x"));
    assert!(bad(&unknown).contains("unknown field"), "{}", bad(&unknown));
    assert!(
        bad(&row("12.4", 13, "x")).contains("schema"),
        "a table needs its schema"
    );
}

#[test]
fn nvcc_gcc_pairings() {
    let s = |nvcc: &str, gcc: &str| {
        k().nvcc_supports_gcc(nvcc, gcc)
            .map(|h| (h.supported, h.max_gcc_major))
    };
    assert_eq!(s("11.8.89", "11.4.0"), Some((true, 11)));
    assert_eq!(s("11.8.89", "12.3.0"), Some((false, 11)));
    assert_eq!(s("12.1.105", "12.2.0"), Some((true, 12)));
    assert_eq!(s("12.2.140", "13.2.1"), Some((false, 12)));
    assert_eq!(s("12.4.131", "13.2.0"), Some((true, 13)));
    assert_eq!(
        s("12.6.85", "13.3.0"),
        Some((true, 13)),
        "the check is on the major only"
    );
    assert_eq!(s("12.4.131", "14.1.0"), Some((false, 13)));
    assert_eq!(s("12.8.93", "14.2.0"), Some((true, 14)));
    assert_eq!(s("12.9", "15.1.1"), Some((false, 14)));
    assert_eq!(s("V13.0.88", "15"), Some((true, 15)));
    assert_eq!(s("12.7.0", "12.2.0"), None, "no CUDA 12.7");
    assert_eq!(s("11.2.152", "9.4.0"), None, "before the table");
    assert_eq!(s("garbage", "11.4.0"), None);
    assert_eq!(s("12.4.131", "gcc"), None);
    let unsure = k()
        .nvcc_supports_gcc("13.1.80", "15.2.0")
        .expect("a 13.1 row");
    assert!(unsure.source.ends_with("[unconfirmed]"));
    let sure = k()
        .nvcc_supports_gcc("12.4.131", "13.2.0")
        .expect("a 12.4 row");
    assert!(!sure.source.contains("[unconfirmed]") && sure.source.contains("host_config.h"));
}
