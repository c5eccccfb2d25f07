//! Snapshots (insta) of what every command prints for people and for machines: `check` in all
//! five formats on every fixture environment against several fixture hosts, planned
//! environments, `probe`, `install-order` in all formats and tools, `risk` (offline, and from a
//! fixture index on 127.0.0.1), `merge`, and `smoke` on a tiny checkpoint.
//!
//! They were taken on the code before the house was restructured and are the proof that a move
//! changed no behaviour. Only what differs between runs is filtered: durations, timestamps,
//! throughputs, ports and temporary paths. Review a deliberate change with `cargo insta review`
//! (or `INSTA_UPDATE=always cargo test`), and say why in the commit.

use std::path::Path;
use std::process::Command;

use crate::util::*;

const ENVS: [&str; 3] = ["good-cu124", "conflicts", "broken"];
const CHECK_HOSTS: [&str; 4] = ["h100-550", "t4-525", "rtx5090-570", "cpu-only"];
const FORMATS: [&str; 5] = ["table", "json", "markdown", "junit", "summary"];

/// Durations, timestamps, throughputs and the running kernel: the parts of an output that differ
/// between runs and machines.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"scanned in [0-9.]+ ms", "scanned in [ms]"),
        (
            r#""(scan_ms|time_ms|total_ms)": [0-9.e+-]+"#,
            r#""$1": "[ms]""#,
        ),
        (
            r"\b20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
            "[timestamp]",
        ),
        (r#" time="[0-9.]+""#, r#" time="[s]""#),
        (r"\b[0-9]+\.[0-9]+ ms\b", "[ms]"),
        (r"\b[0-9]+ ms\b", "[ms]"),
        (
            r"[0-9.]+ GB/s \([0-9]+% of [0-9.]+ GB/s measured\)",
            "[GB/s]",
        ),
        (r"[0-9.]+ GB/s write \+ read", "[GB/s] write + read"),
        (r"\([0-9.]+ GB/s\)", "([GB/s])"),
        // The running kernel: a fixture environment's markers are evaluated on this machine.
        (
            r#""(platform_release|platform_version)": "[^"]*""#,
            r#""$1": "[kernel]""#,
        ),
        (r"[0-9.]+ GFLOP/s", "[GFLOP/s]"),
        (r"127\.0\.0\.1:[0-9]+", "127.0.0.1:[port]"),
        (r"\b[0-9]+ days\b", "[n] days"),
        (r"\b[0-9]+ s old\b", "[n] s old"),
        (r"/tmp/\.tmp[A-Za-z0-9]+", "[tmp]"),
    ]
}

/// Runs compat in the repository root with relative fixture paths, the user's configuration
/// cleared and an empty cache, and returns (exit code, stdout).
fn run_in_root(args: &[&str], cache: &Path) -> (i32, String) {
    let out = compat_in_root(cache)
        .args(args)
        .output()
        .expect("compat runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn compat_in_root(cache: &Path) -> Command {
    let mut c = compat();
    c.current_dir(root())
        .env("XDG_CACHE_HOME", cache)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("COMPAT_INDEX_URL")
        .env_remove("COMPAT_TORCH_INDEX_URL")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("COMPAT_OVERRIDE_DRIVER_VERSION")
        .env_remove("COMPAT_OVERRIDE_CUDA_DRIVER")
        .env_remove("COMPAT_OVERRIDE_GPU_ARCH")
        .env_remove("COMPAT_OVERRIDE_CUDA_TOOLKIT")
        // the scalar CPU kernels: a kernel error depends on the summation order of the SIMD
        // path the CPU has, and a snapshot must be the same on every machine (the SIMD paths
        // are tested against the scalar one in src/smoke/formats/simd.rs)
        .env("COMPAT_SMOKE_ISA", "scalar")
        .env("COLUMNS", "100");
    c
}

fn snap(name: &str, code: i32, text: &str) {
    snap_with(name, code, text, &[]);
}

/// A table whose column widths follow a filtered value (a time) is snapshotted with runs of
/// padding and rule characters collapsed to one.
fn snap_collapsed(name: &str, code: i32, text: &str) {
    snap_with(
        name,
        code,
        text,
        &[(r" {2,}", " "), ("─{2,}", "─"), ("═{2,}", "═")],
    );
}

fn snap_with(name: &str, code: i32, text: &str, extra: &[(&'static str, &'static str)]) {
    let mut settings = insta::Settings::clone_current();
    for (re, with) in filters().into_iter().chain(extra.iter().copied()) {
        settings.add_filter(re, with);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!(name, format!("exit: {code}\n{text}")));
}

#[test]
fn check_every_env_host_and_format() {
    let cache = tempfile::tempdir().expect("cache");
    for env in ENVS {
        for host in CHECK_HOSTS {
            for format in FORMATS {
                let (code, out) = run_in_root(
                    &[
                        "check",
                        "--python",
                        &format!("fixtures/envs/{env}"),
                        "--host",
                        &format!("fixtures/hosts/{host}.toml"),
                        "--format",
                        format,
                    ],
                    cache.path(),
                );
                snap(&format!("check-{env}-{host}-{format}"), code, &out);
            }
        }
    }
}

#[test]
fn check_strict_gate_and_other_hosts() {
    let cache = tempfile::tempdir().expect("cache");
    for host in [
        "a100-470",
        "a100-535",
        "l4-570",
        "v100-580",
        "mixed-a100-v100",
    ] {
        let (code, out) = run_in_root(
            &[
                "check",
                "--python",
                "fixtures/envs/good-cu124",
                "--host",
                &format!("fixtures/hosts/{host}.toml"),
                "--fail-on",
                "unverified",
            ],
            cache.path(),
        );
        snap(&format!("check-good-cu124-{host}-strict"), code, &out);
    }
}

#[test]
fn check_planned_environments_offline() {
    let cache = tempfile::tempdir().expect("cache");
    for (plan, host) in [
        ("good-cu124.txt", "h100-550"),
        ("cu130-torch.txt", "v100-580"),
        ("good-cu124.txt", "a100-470"),
        ("pylock.toml", "h100-550"),
        ("uv.lock", "h100-550"),
        ("good-stack.report.json", "h100-550"),
    ] {
        for format in ["table", "json"] {
            let (code, out) = run_in_root(
                &[
                    "check",
                    "--requirements",
                    &format!("fixtures/plans/{plan}"),
                    "--host",
                    &format!("fixtures/hosts/{host}.toml"),
                    "--python",
                    "fixtures/envs/good-cu124",
                    "--offline",
                    "--format",
                    format,
                ],
                cache.path(),
            );
            snap(&format!("plan-{plan}-{host}-{format}"), code, &out);
        }
    }
}

#[test]
fn probe_host_profiles() {
    let cache = tempfile::tempdir().expect("cache");
    for host in ["h100-550", "mixed-a100-v100", "cpu-only"] {
        for format in ["table", "json", "toml"] {
            let (code, out) = run_in_root(
                &[
                    "probe",
                    "--host",
                    &format!("fixtures/hosts/{host}.toml"),
                    "--python",
                    "fixtures/envs/good-cu124",
                    "--format",
                    format,
                ],
                cache.path(),
            );
            snap(&format!("probe-{host}-{format}"), code, &out);
        }
    }
}

#[test]
fn install_order_every_host_tool_and_format() {
    let cache = tempfile::tempdir().expect("cache");
    for host in [
        "h100-550",
        "a100-535",
        "v100-580",
        "rtx5090-570",
        "t4-525",
        "cpu-only",
    ] {
        let host_path = format!("fixtures/hosts/{host}.toml");
        for (tool, format) in [
            ("pip", "shell"),
            ("uv", "shell"),
            ("conda", "shell"),
            ("pip", "table"),
            ("pip", "json"),
        ] {
            let (code, out) = run_in_root(
                &[
                    "install-order",
                    "--host",
                    &host_path,
                    "--tool",
                    tool,
                    "--format",
                    format,
                ],
                cache.path(),
            );
            snap(&format!("install-order-{host}-{tool}-{format}"), code, &out);
        }
    }
}

#[test]
fn risk_offline_and_from_a_fixture_index() {
    let cache = tempfile::tempdir().expect("cache");
    for host in ["h100-550", "t4-525"] {
        for format in ["table", "json", "markdown"] {
            let (code, out) = run_in_root(
                &[
                    "risk",
                    "--offline",
                    "--python",
                    "fixtures/envs/good-cu124",
                    "--host",
                    &format!("fixtures/hosts/{host}.toml"),
                    "--format",
                    format,
                ],
                cache.path(),
            );
            snap(&format!("risk-offline-{host}-{format}"), code, &out);
        }
    }
    let (_server, url) = crate::risk::serve();
    for format in ["table", "json"] {
        let (code, out) = run_in_root(
            &[
                "risk",
                "--index-url",
                &url,
                "--python",
                "fixtures/envs/good-cu124",
                "--host",
                "fixtures/hosts/h100-550.toml",
                "--format",
                format,
            ],
            cache.path(),
        );
        snap(&format!("risk-index-h100-550-{format}"), code, &out);
    }
}

#[test]
fn merge_reports_of_three_nodes() {
    let cache = tempfile::tempdir().expect("cache");
    let dir = tempfile::tempdir().expect("reports");
    let mut reports = Vec::new();
    for (env, host) in [
        ("good-cu124", "h100-550"),
        ("conflicts", "t4-525"),
        ("good-cu124", "rtx5090-570"),
    ] {
        let path = dir.path().join(format!("{env}-{host}.json"));
        let (_, out) = run_in_root(
            &[
                "check",
                "--python",
                &format!("fixtures/envs/{env}"),
                "--host",
                &format!("fixtures/hosts/{host}.toml"),
                "--format",
                "json",
            ],
            cache.path(),
        );
        std::fs::write(&path, out).expect("write report");
        reports.push(path);
    }
    for format in ["table", "json"] {
        let out = compat_in_root(cache.path())
            .arg("merge")
            .args(&reports)
            .args(["--format", format])
            .output()
            .expect("merge runs");
        let text = String::from_utf8_lossy(&out.stdout)
            .replace(&*dir.path().to_string_lossy(), "[reports]");
        snap(
            &format!("merge-{format}"),
            out.status.code().unwrap_or(-1),
            &text,
        );
    }
}

#[test]
fn smoke_on_a_tiny_checkpoint() {
    let cache = tempfile::tempdir().expect("cache");
    for format in ["table", "json"] {
        let (code, out) = run_in_root(
            &[
                "smoke",
                "--device",
                "cpu",
                "--level",
                "full",
                "--weights",
                "fixtures/weights/tiny-mistral-bf16",
                "--config",
                "fixtures/weights/tiny-mistral-bf16/config.json",
                "--host",
                "fixtures/hosts/cpu-only.toml",
                "--format",
                format,
            ],
            cache.path(),
        );
        if format == "table" {
            snap_collapsed(&format!("smoke-tiny-bf16-{format}"), code, &out);
        } else {
            snap(&format!("smoke-tiny-bf16-{format}"), code, &out);
        }
    }
}
