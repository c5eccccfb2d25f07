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

/// Runs a printed install-order script in `sh` with stub `python` / `uv` / `grep` first on
/// PATH that record their arguments (one per line, runs separated by `--`), and returns what
/// they recorded and the marker folder (which no command may write to).
fn run_script(script: &str, dir: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let log = dir.join("argv.log");
    for tool in ["python", "uv", "my py; touch pwned", "conda"] {
        let p = bin.join(tool);
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\n{{ printf '%s\\n' \"$(basename \"$0\")\"; for a in \"$@\"; do printf '%s\\n' \"$a\"; done; echo --; }} >> '{}'\ncase \"$*\" in *freeze*) echo torch==2.4.0+cu124 ;; esac\n",
                log.display()
            ),
        )
        .expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "the script fails as pasted: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log).unwrap_or_default()
}

fn shell_script(host: &str, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = compat();
    c.env_remove("COMPAT_TORCH_INDEX_URL");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(["install-order", "--format", "shell", "--host"])
        .arg(fixture(&format!("hosts/{host}.toml")))
        .args(extra)
        .output()
        .expect("runs")
}

#[test]
fn the_h100_plan_runs_as_pasted_with_pytorchs_index_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = shell_script("h100-550", &[], &[]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!script.contains("${"), "a placeholder is left:\n{script}");
    assert!(
        script.contains("# note: torch comes from https://download.pytorch.org/whl: PyTorch's own wheel index, the built-in default"),
        "{script}"
    );
    let argv = run_script(&script, dir.path());
    let first = argv.split("--\n").next().expect("a first command");
    assert_eq!(
        first.lines().collect::<Vec<_>>(),
        [
            "python",
            "-m",
            "pip",
            "install",
            "torch>=2.4.0,<2.7",
            "--index-url",
            "https://download.pytorch.org/whl/cu124"
        ]
    );
    assert!(dir.path().join("compat-constraints.txt").exists());
}

#[test]
fn the_torch_index_comes_from_the_flag_then_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [(
        "COMPAT_TORCH_INDEX_URL",
        "https://mirror.example/pytorch/whl/",
    )];
    // The variable, trailing slash and all.
    let out = shell_script("a100-535", &[], &env);
    let script = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        script.contains("given by COMPAT_TORCH_INDEX_URL"),
        "{script}"
    );
    let argv = run_script(&script, dir.path());
    assert!(
        argv.contains("\n--index-url\nhttps://mirror.example/pytorch/whl/cu121\n"),
        "{argv}"
    );
    // The flag beats it.
    let out = shell_script(
        "a100-535",
        &["--torch-index-url", "http://127.0.0.1:9/whl"],
        &env,
    );
    let script = String::from_utf8(out.stdout).expect("utf-8");
    assert!(script.contains("given by --torch-index-url"), "{script}");
    assert!(
        script.contains("--index-url http://127.0.0.1:9/whl/cu121"),
        "{script}"
    );
    // An empty variable is unset: the built-in default.
    let out = shell_script("a100-535", &[], &[("COMPAT_TORCH_INDEX_URL", "")]);
    let script = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        script.contains("https://download.pytorch.org/whl/cu121"),
        "{script}"
    );
}

#[test]
fn a_torch_index_that_is_not_a_url_is_refused_naming_its_source() {
    for (flag, env, origin) in [
        (
            Some("https://x/whl; touch pwned"),
            None,
            "--torch-index-url",
        ),
        (Some("$(touch pwned)"), None, "--torch-index-url"),
        (None, Some("ftp://x/whl"), "COMPAT_TORCH_INDEX_URL"),
        (
            None,
            Some("download.pytorch.org/whl"),
            "COMPAT_TORCH_INDEX_URL",
        ),
    ] {
        let extra: Vec<&str> = flag
            .map(|f| vec!["--torch-index-url", f])
            .unwrap_or_default();
        let env: Vec<(&str, &str)> = env
            .map(|e| vec![("COMPAT_TORCH_INDEX_URL", e)])
            .unwrap_or_default();
        let out = shell_script("h100-550", &extra, &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag:?} {env:?}: {err}");
        assert!(
            err.contains(origin) && err.contains("not an http(s) URL"),
            "{err}"
        );
    }
}

#[test]
fn hostile_interpreters_and_titles_stay_words_and_comments() {
    // A --python-command with a space and a `;`, and a matrix whose stage title and a host
    // profile whose GPU name carry a newline followed by a command.
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("pwned");
    let matrix =
        std::fs::read_to_string(root().join("matrices/llm-compression.toml")).expect("matrix");
    let hostile = format!(
        "PyTorch\\ntouch {}\\n$(touch {}) `touch {}`",
        marker.display(),
        marker.display(),
        marker.display()
    );
    let first_stage = matrix.find("[[install.stages]]").expect("a stage");
    let title_at = first_stage + matrix[first_stage..].find("title = \"").expect("a title") + 9;
    let matrix = format!("{}{hostile} {}", &matrix[..title_at], &matrix[title_at..]);
    let mpath = dir.path().join("m.toml");
    std::fs::write(&mpath, matrix).expect("write");
    let host = std::fs::read_to_string(fixture("hosts/h100-550.toml")).expect("host");
    let host = host.replacen(
        "NVIDIA H100 80GB HBM3",
        &format!("NVIDIA H100\\ntouch {}", marker.display()),
        1,
    );
    let hpath = dir.path().join("h.toml");
    std::fs::write(&hpath, host).expect("write");
    for tool in ["pip", "uv"] {
        let out = compat()
            .env_remove("COMPAT_TORCH_INDEX_URL")
            .args([
                "install-order",
                "--format",
                "shell",
                "--tool",
                tool,
                "--matrix",
            ])
            .arg(&mpath)
            .arg("--host")
            .arg(&hpath)
            .args(["--python-command", "my py; touch pwned"])
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8(out.stdout).expect("utf-8");
        assert!(
            script.contains("touch"),
            "the hostile text is shown: {script}"
        );
        for line in script.lines() {
            if line.contains("touch") {
                assert!(
                    line.starts_with('#') || line.contains("'my py; touch pwned'"),
                    "hostile text outside a comment or a quoted word: {line}"
                );
            }
        }
        let argv = run_script(&script, dir.path());
        assert!(!marker.exists(), "a command from the input ran");
        assert!(!dir.path().join("pwned").exists());
        let _ = argv;
    }
    // The table: every cell one line, so the injected line never stands on a line of its own.
    let out = compat()
        .env_remove("COMPAT_TORCH_INDEX_URL")
        .args(["install-order", "--format", "table", "--matrix"])
        .arg(&mpath)
        .arg("--host")
        .arg(&hpath)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        table.contains("touch"),
        "the hostile title is shown: {table}"
    );
    for line in table.lines().filter(|l| l.contains("touch")) {
        assert!(
            line.contains("PyTorch") || line.contains("H100"),
            "a title or GPU name broke onto a line of its own: {line}\n{table}"
        );
    }
}
