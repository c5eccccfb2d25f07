//! The CUDA column against realistic host profiles (fixtures/hosts), with the `good-cu124`
//! environment (torch 2.4.1+cu124, bitsandbytes 0.43.3 with its cuda121/cuda124 libraries).
//! Each test pins the verdicts a careful engineer would give that host.

use crate::util::*;

const CORE: [&str; 6] = [
    "torch",
    "transformers",
    "safetensors",
    "accelerate",
    "bitsandbytes",
    "peft",
];

fn on_host(host: &str) -> Report {
    on_host_env(host, "good-cu124", &[])
}

fn on_host_env(host: &str, env: &str, vars: &[(&str, &str)]) -> Report {
    let mut cmd = compat();
    cmd.args(["check", "--format", "json", "--host"])
        .arg(fixture(&format!("hosts/{host}.toml")))
        .arg("--python")
        .arg(fixture(&format!("envs/{env}")));
    for (k, v) in vars {
        cmd.env(k, v);
    }
    report_of(&cmd.output().expect("runs"))
}

fn reason(r: &Report, lib: &str) -> String {
    reason_of(cell(r, lib, "cuda")).to_string()
}

fn caveats(r: &Report, lib: &str) -> Vec<String> {
    cell(r, lib, "cuda").caveats.clone()
}

/// The caveats as one text, for `contains`.
fn caveat_text(r: &Report, lib: &str) -> String {
    caveats(r, lib).join("\n")
}

#[test]
fn h100_550_verifies_every_cuda_cell() {
    let r = on_host("h100-550");
    for lib in CORE {
        assert_eq!(
            verdict(&r, lib, "cuda"),
            Verdict::Verified,
            "{lib}: {}",
            reason(&r, lib)
        );
        if lib != "bitsandbytes" {
            assert_eq!(caveats(&r, lib), Vec::<String>::new(), "{lib}");
        }
    }
    // compat's tables hold bitsandbytes' arch lists from 0.47 on; 0.43.3's is said to be unknown.
    let c = caveat_text(&r, "bitsandbytes");
    assert!(
        c.contains("bitsandbytes 0.43.3's CUDA 12.4 build are not in compat's tables"),
        "{c}"
    );
    let bnb = cell(&r, "bitsandbytes", "cuda").evidence.join("\n");
    assert!(bnb.contains("libbitsandbytes_cuda124.so"), "{bnb}");
    assert_eq!(r.exit_code, 0);
    assert_eq!(r.host.gpus.len(), 8);
    let driver = r.host.driver.as_ref().expect("driver");
    assert!(driver.source.starts_with("host-profile:"), "{driver:?}");
    // GPU support of the monitoring rows: not installed in this env.
    assert_eq!(verdict(&r, "wandb", "gpu-support"), Verdict::NotInstalled);
}

#[test]
fn a100_535_runs_cu124_under_minor_version_compatibility() {
    let r = on_host("a100-535");
    for lib in CORE {
        assert_eq!(
            verdict(&r, lib, "cuda"),
            Verdict::Verified,
            "{lib}: {}",
            reason(&r, lib)
        );
        let c = caveat_text(&r, lib);
        assert!(
            c.contains("minor-version compatibility") && c.contains("PTX"),
            "{lib}: {c}"
        );
    }
}

#[test]
fn l4_570_covers_sm89_through_sm86_kernels() {
    let r = on_host("l4-570");
    for lib in CORE {
        assert_eq!(
            verdict(&r, lib, "cuda"),
            Verdict::Verified,
            "{lib}: {}",
            reason(&r, lib)
        );
    }
    // Ada has native bf16: the mixed-precision known issue does not apply.
    let ki = &r.verification.known_issues[1];
    assert_eq!(ki.verdict, Verdict::Verified, "{ki:?}");
}

#[test]
fn t4_525_verifies_with_caveats_and_bf16_is_not_native() {
    let r = on_host("t4-525");
    assert_eq!(
        verdict(&r, "torch", "cuda"),
        Verdict::Verified,
        "{}",
        reason(&r, "torch")
    );
    let c = caveat_text(&r, "torch");
    assert!(c.contains("bf16 is not native on Tesla T4 (sm_75)"), "{c}");
    assert!(c.contains("minor-version compatibility"), "{c}");
    let ki = &r.verification.known_issues[1];
    assert_eq!(ki.verdict, Verdict::Failed, "{ki:?}");
    assert!(
        ki.reason.as_deref().unwrap_or("").contains("float16"),
        "{ki:?}"
    );
}

#[test]
fn v100_580_runs_cu124_but_not_the_newest_cuda() {
    let r = on_host("v100-580");
    for lib in CORE {
        assert_eq!(
            verdict(&r, lib, "cuda"),
            Verdict::Verified,
            "{lib}: {}",
            reason(&r, lib)
        );
    }
    let old = &r.verification.current_conflicts[1];
    assert_eq!(old.verdict, Verdict::Failed, "{old:?}");
    assert!(
        old.reason.as_deref().unwrap_or("").contains("sm_70"),
        "{old:?}"
    );
}

#[test]
fn rtx5090_fails_cu124_torch_with_the_fix() {
    let r = on_host("rtx5090-570");
    assert_eq!(verdict(&r, "torch", "cuda"), Verdict::Failed);
    let why = reason(&r, "torch");
    assert!(
        why.contains("no kernels for NVIDIA GeForce RTX 5090 (sm_120)"),
        "{why}"
    );
    let fix = cell(&r, "torch", "cuda").fix.clone().unwrap_or_default();
    assert!(!fix.is_empty());
    assert_eq!(verdict(&r, "peft", "cuda"), Verdict::Failed);
    assert_eq!(r.exit_code, 1);
}

#[test]
fn mixed_gpus_are_judged_by_the_older_one() {
    let r = on_host("mixed-a100-v100");
    assert_eq!(
        verdict(&r, "torch", "cuda"),
        Verdict::Verified,
        "{}",
        reason(&r, "torch")
    );
    let c = caveat_text(&r, "torch");
    assert!(
        c.contains("Tesla V100-PCIE-16GB (sm_70)"),
        "bf16 caveat names the V100: {c}"
    );
    let c = caveat_text(&r, "bitsandbytes");
    assert!(c.contains("no int8 tensor cores"), "{c}");
}

#[test]
fn cpu_only_host_leaves_cuda_unverified_and_exits_0() {
    let r = on_host("cpu-only");
    for lib in CORE {
        assert_eq!(verdict(&r, lib, "cuda"), Verdict::Unverified, "{lib}");
        assert!(
            reason(&r, lib).contains("no GPU on this host"),
            "{}",
            reason(&r, lib)
        );
    }
    assert_eq!(r.exit_code, 0);
}

#[test]
fn an_old_driver_fails_with_the_upgrade_or_older_wheels() {
    let r = on_host_env(
        "h100-550",
        "good-cu124",
        &[
            ("COMPAT_OVERRIDE_DRIVER_VERSION", "470.82.01"),
            ("COMPAT_OVERRIDE_CUDA_DRIVER", "11.4"),
        ],
    );
    assert_eq!(verdict(&r, "torch", "cuda"), Verdict::Failed);
    let why = reason(&r, "torch");
    assert!(
        why.contains("driver 470.82.01 (supports CUDA 11.4)"),
        "{why}"
    );
    assert!(why.contains(">= 525.60.13"), "{why}");
    assert_eq!(
        r.host.driver.as_ref().map(|d| d.source.as_str()),
        Some("override:COMPAT_OVERRIDE_DRIVER_VERSION")
    );
    assert_eq!(r.exit_code, 1);
}

#[test]
fn overrides_turn_a_cpu_runner_into_the_target_host() {
    let r = on_host_env(
        "cpu-only",
        "good-cu124",
        &[
            ("COMPAT_OVERRIDE_DRIVER_VERSION", "550.54.15"),
            ("COMPAT_OVERRIDE_CUDA_DRIVER", "12.4"),
            ("COMPAT_OVERRIDE_GPU_ARCH", "9.0"),
        ],
    );
    assert_eq!(
        verdict(&r, "torch", "cuda"),
        Verdict::Verified,
        "{}",
        reason(&r, "torch")
    );
    // An empty override means absent.
    let r = on_host_env(
        "h100-550",
        "good-cu124",
        &[
            ("COMPAT_OVERRIDE_GPU_ARCH", ""),
            ("COMPAT_OVERRIDE_CUDA_DRIVER", ""),
            ("COMPAT_OVERRIDE_DRIVER_VERSION", ""),
        ],
    );
    assert_eq!(verdict(&r, "torch", "cuda"), Verdict::Unverified);
}

#[test]
fn bad_profile_and_bad_override_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("h.toml");
    std::fs::write(&p, "schema = 1\n[driver]\nversion = \"550.x\"\n").expect("write");
    let out = compat()
        .args(["check", "--host"])
        .arg(&p)
        .arg("--python")
        .arg(fixture("envs/good-cu124"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("h.toml:3:"));
    let out = compat()
        .args(["check", "--python"])
        .arg(fixture("envs/good-cu124"))
        .env("COMPAT_OVERRIDE_GPU_ARCH", "hopper")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("COMPAT_OVERRIDE_GPU_ARCH"));
}

#[test]
fn probe_toml_round_trips_through_host() {
    let out = compat()
        .args(["probe", "--format", "toml", "--host"])
        .arg(fixture("hosts/mixed-a100-v100.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("captured.toml");
    std::fs::write(&p, &out.stdout).expect("write");
    let a = on_host("mixed-a100-v100");
    let out = compat()
        .args(["check", "--format", "json", "--host"])
        .arg(&p)
        .arg("--python")
        .arg(fixture("envs/good-cu124"))
        .output()
        .expect("runs");
    let b = report_of(&out);
    for lib in CORE {
        assert_eq!(verdict(&a, lib, "cuda"), verdict(&b, lib, "cuda"), "{lib}");
    }
}

#[test]
fn this_machine_probe_never_fails() {
    // Whatever this machine has (CI runners usually no NVIDIA software at all), probe exits 0.
    let out = run(&["probe", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    /// The part of `compat.probe/1` this test reads, with the library's own host type.
    #[derive(serde::Deserialize)]
    struct Probe {
        schema: String,
        host: compat::probe::HostFacts,
    }
    let v: Probe = serde_json::from_slice(&out.stdout).expect("a probe report");
    assert_eq!(v.schema, "compat.probe/1");
    // No driver is a fact with a note saying why.
    assert!(v.host.driver.is_some() || !v.host.notes.is_empty());
}

#[test]
fn probe_judges_the_nvcc_and_gcc_on_path() {
    // Stub tools on a PATH of their own: nvcc of CUDA 12.4 beside a GCC 14, which nvcc 12.4
    // refuses (it accepts GCC up to 13), then beside a GCC 13, which it accepts.
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = |name: &str, out: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\nprintf '%s\\n' '{out}'\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    tool("nvcc", "Cuda compilation tools, release 12.4, V12.4.131");
    let notes = |gcc: &str| {
        tool("gcc", gcc);
        let out = compat()
            .env("PATH", dir.path())
            .env_remove("PYENV_VERSION")
            .args(["probe", "--format", "json", "--python"])
            .arg(fixture("envs/good-cu124"))
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        #[derive(serde::Deserialize)]
        struct Probe {
            host: compat::probe::HostFacts,
        }
        let p: Probe = serde_json::from_slice(&out.stdout).expect("a probe report");
        p.host.notes
    };
    let refused = notes("gcc (Debian 14.2.0-19) 14.2.0");
    assert!(
        refused.iter().any(
            |n| n.starts_with("`nvcc` 12.4.131 rejects `gcc` 14.2.0") && n.contains("up to 13")
        ),
        "{refused:?}"
    );
    let accepted = notes("gcc (Ubuntu 13.2.0-4ubuntu3) 13.2.0");
    assert!(
        accepted
            .iter()
            .any(|n| n.starts_with("`nvcc` 12.4.131 accepts `gcc` 13.2.0")),
        "{accepted:?}"
    );
}
