//! `compat probe`: every host and environment fact with its source, as a table or JSON. The
//! TOML host profile is the probe module's own format (`probe::to_profile_toml`).

use super::{to_json, RenderError};
use crate::env::PythonEnv;
use crate::probe::HostFacts;

/// The `compat.probe/1` JSON document. Keys are sorted at every level (the document is built
/// as a JSON value), as they always were.
pub fn probe_json(host: &HostFacts, env: &PythonEnv) -> Result<String, RenderError> {
    let value = |v: serde_json::Result<serde_json::Value>| {
        v.map_err(|source| RenderError::Json {
            what: "probe report",
            source,
        })
    };
    let v = serde_json::json!({
        "schema": "compat.probe/1",
        "compat_version": env!("CARGO_PKG_VERSION"),
        "host": value(serde_json::to_value(host))?,
        "environment": value(serde_json::to_value(env))?,
    });
    to_json("probe report", &v)
}

/// One fact: its label, its value (or a dash) and its source.
fn fact(label: &str, value: Option<String>, source: Option<&str>) -> String {
    match value {
        Some(v) => format!(
            "  {label:<22} {}{}\n",
            crate::model::clean(&v),
            source
                .map(|s| format!("   [{}]", crate::model::clean(s)))
                .unwrap_or_default()
        ),
        None => format!("  {label:<22} —\n"),
    }
}

/// Every fact, grouped: the host, its toolchains, the Python environment.
pub fn probe_table(host: &HostFacts, env: &PythonEnv) -> String {
    let mut o = host_facts(host);
    o.push_str(&toolchains(host));
    o.push_str(&python_env(env));
    crate::report::style::finish(o, &crate::report::Styles::plain())
}

fn host_facts(host: &HostFacts) -> String {
    let mut o = String::new();
    o.push_str("Host\n");
    o.push_str(&fact("hostname", host.hostname.clone(), None));
    o.push_str(&fact("os", host.os.clone(), None));
    o.push_str(&fact("kernel", host.kernel.clone(), None));
    o.push_str(&fact(
        "arch / cpus",
        Some(format!("{} / {}", host.arch, host.cpus)),
        None,
    ));
    o.push_str(&fact(
        "driver",
        host.driver.as_ref().map(|d| d.value.to_string()),
        host.driver.as_ref().map(|d| d.source.as_str()),
    ));
    o.push_str(&fact(
        "driver supports CUDA",
        host.driver_cuda.as_ref().map(|d| d.value.to_string()),
        host.driver_cuda.as_ref().map(|d| d.source.as_str()),
    ));
    o.push_str(&fact(
        "libcuda reports CUDA",
        host.libcuda_cuda.as_ref().map(|d| d.value.to_string()),
        host.libcuda_cuda.as_ref().map(|d| d.source.as_str()),
    ));
    o.push_str(&fact(
        "CUDA toolkit (nvcc)",
        host.toolkit.as_ref().map(|d| d.value.clone()),
        host.toolkit.as_ref().map(|d| d.source.as_str()),
    ));
    o.push_str(&fact(
        "lowest compute cap.",
        host.min_compute_capability()
            .map(|c| format!("{c} ({})", c.sm())),
        None,
    ));
    for g in &host.gpus {
        o.push_str(&fact(
            &format!("GPU {}", g.index),
            Some(format!(
                "{} · {} · {}{}{}",
                g.name,
                g.compute_capability.sm(),
                g.memory_total_mib
                    .map(|m| format!("{m} MiB"))
                    .unwrap_or_else(|| "memory ?".into()),
                g.memory_free_mib
                    .map(|m| format!(" ({m} MiB free)"))
                    .unwrap_or_default(),
                g.uuid
                    .as_ref()
                    .map(|u| format!(" · {u}"))
                    .unwrap_or_default()
            )),
            Some(&g.source),
        ));
    }
    if host.gpus.is_empty() {
        o.push_str(&fact("GPUs", Some("none".into()), None));
    }
    for n in &host.notes {
        o.push_str(&format!("  note: {n}\n"));
    }
    o
}

fn toolchains(host: &HostFacts) -> String {
    let mut o = String::new();
    if !host.toolchains.is_empty() {
        o.push_str("\nToolchains\n");
        for t in &host.toolchains {
            let v = match (&t.version, &t.error) {
                (Some(v), _) => v.clone(),
                (None, Some(e)) => format!("— ({e})"),
                (None, None) => "—".into(),
            };
            o.push_str(&format!(
                "  {:<12} {:<14} {}\n",
                t.name,
                v,
                t.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ));
        }
    }
    o
}

fn python_env(env: &PythonEnv) -> String {
    let mut o = String::new();
    let i = &env.interpreter;
    o.push_str("\nPython environment\n");
    o.push_str(&fact(
        "interpreter",
        Some(format!(
            "{} {} at {}",
            i.implementation,
            i.python_version,
            i.executable.as_ref().unwrap_or(&i.prefix).display()
        )),
        Some(&format!("{}, {}", i.source.describe(), i.read_from)),
    ));
    for (k, sp) in i.site_packages.iter().enumerate() {
        o.push_str(&fact(
            if k == 0 { "site-packages" } else { "" },
            Some(sp.display().to_string()),
            None,
        ));
    }
    o.push_str(&fact(
        "distributions",
        Some(env.distributions.len().to_string()),
        None,
    ));
    if let Some(t) = &env.torch {
        o.push_str(&fact(
            "torch build",
            Some(format!(
                "{} · CUDA {} · HIP {}",
                t.version.as_deref().unwrap_or("?"),
                t.cuda.as_deref().unwrap_or("none"),
                t.hip.as_deref().unwrap_or("none")
            )),
            Some("torch/version.py"),
        ));
    }
    if !env.bnb_libraries.is_empty() {
        o.push_str(&fact(
            "bitsandbytes libs",
            Some(env.bnb_libraries.join(", ")),
            Some("bitsandbytes/"),
        ));
    }
    for l in &env.native_libraries {
        let mut code: Vec<&str> = l.sass.iter().map(String::as_str).collect();
        code.extend(l.ptx.iter().map(String::as_str));
        o.push_str(&fact(
            &format!("GPU code ({})", l.package),
            Some(code.join(" ")),
            Some(&l.path.display().to_string()),
        ));
    }
    for f in &env.findings {
        o.push_str(&format!("  finding [{}]: {}\n", f.code, f.message));
    }
    o
}
