//! `compat install-order` for each fixture host: the torch build a careful engineer would pick,
//! the order checked against the graph, and commands that keep torch from being replaced.

use crate::util::*;

fn plan(host: &str, extra: &[&str]) -> serde_json::Value {
    let out = compat()
        .env_remove("COMPAT_TORCH_INDEX_URL")
        .args(["install-order", "--format", "json", "--host"])
        .arg(fixture(&format!("hosts/{host}.toml")))
        .args(extra)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn torch(p: &serde_json::Value) -> (String, String) {
    (
        p["torch"]["requirement"].as_str().unwrap_or("").to_string(),
        p["torch"]["variant"].as_str().unwrap_or("cpu").to_string(),
    )
}

#[test]
fn torch_build_per_host() {
    for (host, req, variant) in [
        ("h100-550", "torch>=2.4.0,<2.7", "12.4"),
        ("a100-535", "torch>=2.4.0,<2.6", "12.1"),
        ("l4-570", "torch>=2.4.0", "12.6"),
        ("t4-525", "torch>=2.4.0", "12.6"),
        ("v100-580", "torch>=2.4.0", "12.6"),
        ("rtx5090-570", "torch>=2.4.0,<2.12", "12.8"),
        ("mixed-a100-v100", "torch>=2.4.0,<2.6", "12.1"),
        ("cpu-only", "torch>=2.4.0", "cpu"),
    ] {
        let p = plan(host, &[]);
        assert_eq!(torch(&p), (req.to_string(), variant.to_string()), "{host}");
        assert_eq!(p["cpu_only"], variant == "cpu", "{host}");
    }
}

#[test]
fn volta_on_a_cuda_13_driver_is_told_why_not_cu130() {
    let p = plan("v100-580", &[]);
    let rejected = p["torch"]["rejected"].to_string();
    assert!(
        rejected.contains("cu130: its wheels have no kernels for Tesla V100-SXM2-32GB (sm_70)"),
        "{rejected}"
    );
    let t4 = plan("t4-525", &[]);
    assert!(t4["torch"]["reasons"]
        .to_string()
        .contains("minor-version compatibility"));
}

#[test]
fn steps_follow_the_seed_and_the_graph() {
    let p = plan("h100-550", &[]);
    let steps = p["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 5);
    let libs: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            s["libraries"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect()
        })
        .collect();
    assert_eq!(libs[0], ["torch"]);
    assert_eq!(libs[1], ["transformers", "accelerate", "safetensors"]);
    assert_eq!(libs[2], ["bitsandbytes", "peft"]);
    assert!(libs[4].contains(&"nbdime".to_string()));
    let first = steps[0]["commands"].to_string();
    assert!(
        first.contains("--index-url") && first.contains("/cu124"),
        "{first}"
    );
    assert!(first.contains("compat-constraints.txt"), "{first}");
    for s in &steps[1..] {
        let c = s["commands"].to_string();
        assert!(
            c.contains("-c compat-constraints.txt"),
            "later steps keep torch: {c}"
        );
    }
    assert!(steps[1]["why"]
        .to_string()
        .contains("safetensors is in no stage"));
    assert!(steps[2]["why"]
        .to_string()
        .contains("peft requires transformers (graph), installed by stage 2"));
}

#[test]
fn uv_and_conda_commands() {
    let p = plan("h100-550", &["--tool", "uv"]);
    let c = p["steps"][0]["commands"].to_string();
    assert!(
        c.contains("uv pip install") && c.contains("--torch-backend cu124"),
        "{c}"
    );
    let p = plan("h100-550", &["--tool", "conda"]);
    let c = p["steps"][0]["commands"].to_string();
    assert!(
        c.contains("conda install") && c.contains("cuda-version=12.4"),
        "{c}"
    );
    let p = plan("cpu-only", &["--tool", "uv"]);
    assert!(p["steps"][0]["commands"]
        .to_string()
        .contains("--torch-backend cpu"));
    let p = plan(
        "h100-550",
        &["--torch-index-url", "http://127.0.0.1:9/whl/"],
    );
    assert!(p["steps"][0]["commands"]
        .to_string()
        .contains("--index-url http://127.0.0.1:9/whl/cu124"));
}

#[test]
fn a_stage_before_its_dependency_or_a_cycle_is_an_error() {
    let seed =
        std::fs::read_to_string(root().join("matrices/llm-compression.toml")).expect("matrix");
    let dir = tempfile::tempdir().expect("tempdir");
    // peft (stage 3) requires transformers: move transformers to stage 4.
    let bad = seed
        .replace(
            "libraries = [\"transformers\", \"accelerate\"]",
            "libraries = [\"accelerate\"]",
        )
        .replace(
            "libraries = [\"pytest\",",
            "libraries = [\"transformers\", \"pytest\",",
        );
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, &bad).expect("write");
    let out = compat()
        .args(["install-order", "--matrix"])
        .arg(&path)
        .args(["--host"])
        .arg(fixture("hosts/h100-550.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("stage 3 installs `peft` before stage 4 installs `transformers`"),
        "{err}"
    );

    let cyc = seed.replace(
        "  { name = \"pytest\" },\n",
        "  { name = \"pytest\" },\n  { name = \"black\", under = \"pytest\", edge = \"requires-parent\" },\n  { name = \"pytest\", under = \"black\", edge = \"requires-parent\" },\n",
    );
    assert_ne!(cyc, seed);
    let path = dir.path().join("cycle.toml");
    std::fs::write(&path, &cyc).expect("write");
    let out = compat()
        .args(["install-order", "--matrix"])
        .arg(&path)
        .args(["--host"])
        .arg(fixture("hosts/h100-550.toml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cycle") && err.contains("black") && err.contains("pytest"),
        "{err}"
    );
}

#[test]
fn this_machine_gets_a_runnable_plan() {
    let out = compat().args(["install-order"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("#!/bin/sh"));
    let sh = std::process::Command::new("sh")
        .arg("-n")
        .arg("-c")
        .arg(&*text)
        .output()
        .expect("sh -n");
    assert!(
        sh.status.success(),
        "not valid shell: {}",
        String::from_utf8_lossy(&sh.stderr)
    );
}
