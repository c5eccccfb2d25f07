//! Host facts: the NVIDIA driver, GPUs, CUDA and toolchains, each with the source that gave it.
//!
//! Where a fact comes from, in order of precedence:
//! 1. an override variable (`COMPAT_OVERRIDE_*`, see [`OVERRIDES`]); an empty value means the
//!    fact is absent, as with conda's `CONDA_OVERRIDE_CUDA`;
//! 2. a host profile (`--host PATH`, TOML), used *instead of* probing, so CI without a GPU can
//!    reason about the GPU host it builds for;
//! 3. the probe: NVML, then libcuda, then `nvidia-smi` ([`gpu`]), and the toolchains on PATH
//!    ([`toolchains`]).
//!
//! No driver is a fact, not an error: the facts then say why there is none.

pub mod gpu;
pub mod host;
pub mod toolchains;

use serde::{Deserialize, Serialize};

use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::Sourced;
pub use host::{load_profile, to_profile_toml, HostProfileError};
pub use toolchains::Toolchain;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    pub index: u32,
    pub name: String,
    pub uuid: Option<String>,
    pub compute_capability: ComputeCapability,
    pub memory_total_mib: Option<u64>,
    pub memory_free_mib: Option<u64>,
    pub source: String,
}

/// Everything compat knows about the host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostFacts {
    pub hostname: Option<String>,
    pub os: Option<String>,
    pub kernel: Option<String>,
    pub arch: String,
    pub cpus: usize,
    /// The NVIDIA driver version.
    pub driver: Option<Sourced<DriverVersion>>,
    /// The highest CUDA version the driver supports.
    pub driver_cuda: Option<Sourced<CudaVersion>>,
    /// The same, as the CUDA driver API (libcuda) reports it: a cross-check.
    pub libcuda_cuda: Option<Sourced<CudaVersion>>,
    pub gpus: Vec<Gpu>,
    /// The CUDA toolkit (nvcc) release, when one is installed.
    pub toolkit: Option<Sourced<String>>,
    pub toolchains: Vec<Toolchain>,
    /// Why facts are missing, disagreements between sources, overrides in force.
    pub notes: Vec<String>,
    /// The host profile these facts came from, if any.
    pub profile: Option<String>,
}

impl HostFacts {
    /// The lowest compute capability over all GPUs.
    pub fn min_compute_capability(&self) -> Option<ComputeCapability> {
        self.gpus.iter().map(|g| g.compute_capability).min()
    }

    /// The driver's CUDA version, from NVML (or a profile / override), else libcuda.
    pub fn cuda(&self) -> Option<&Sourced<CudaVersion>> {
        self.driver_cuda.as_ref().or(self.libcuda_cuda.as_ref())
    }

    /// One line for report headers.
    pub fn gpu_summary(&self) -> String {
        if self.gpus.is_empty() {
            let why = self.notes.iter().find(|n| n.contains("no NVIDIA driver"));
            return match (&self.driver, why) {
                (None, Some(n)) => n.clone(),
                (None, None) => "no NVIDIA driver, no GPU".into(),
                (Some(d), _) => format!("driver {} but no GPU", d.value),
            };
        }
        let mut groups: Vec<(String, ComputeCapability, usize)> = Vec::new();
        for g in &self.gpus {
            match groups
                .iter_mut()
                .find(|(n, c, _)| *n == g.name && *c == g.compute_capability)
            {
                Some((_, _, k)) => *k += 1,
                None => groups.push((g.name.clone(), g.compute_capability, 1)),
            }
        }
        let gpus: Vec<String> = groups
            .iter()
            .map(|(n, c, k)| format!("{k}× {n} ({})", c.sm()))
            .collect();
        format!(
            "{}{}{}",
            gpus.join(" + "),
            self.driver
                .as_ref()
                .map(|d| format!(", driver {}", d.value))
                .unwrap_or_default(),
            self.cuda()
                .map(|c| format!(" (CUDA {})", c.value))
                .unwrap_or_default()
        )
    }
}

/// The override variables and the fact each replaces.
pub const OVERRIDES: &[(&str, &str)] = &[
    (
        "COMPAT_OVERRIDE_DRIVER_VERSION",
        "the NVIDIA driver version, e.g. 550.54.15",
    ),
    (
        "COMPAT_OVERRIDE_CUDA_DRIVER",
        "the highest CUDA the driver supports, e.g. 12.4",
    ),
    (
        "COMPAT_OVERRIDE_GPU_ARCH",
        "the GPUs' compute capabilities, comma-separated, e.g. 9.0 or sm_80,sm_80",
    ),
    (
        "COMPAT_OVERRIDE_CUDA_TOOLKIT",
        "the CUDA toolkit (nvcc) release, e.g. 12.4.131",
    ),
];

/// Options for [`collect`].
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// A host profile to use instead of probing.
    pub host: Option<std::path::PathBuf>,
    /// Whether to also run the Python-based tools (pip, conda, mamba) for their versions when
    /// their files do not tell (slow: each starts Python).
    pub slow_toolchains: bool,
}

/// Collects the host facts: profile or probe, then overrides from `vars`.
pub fn collect(
    opts: &ProbeOptions,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<HostFacts, HostProfileError> {
    let mut facts = match &opts.host {
        Some(path) => load_profile(path)?,
        None => {
            let slow = opts.slow_toolchains;
            let tools = Some(std::thread::spawn(move || {
                toolchains::probe_with(
                    std::env::var_os("PATH").as_deref(),
                    std::time::Duration::from_secs(5),
                    slow,
                )
            }));
            let g = gpu::probe();
            let mut f = basic_host();
            f.driver = g.driver;
            f.driver_cuda = g.driver_cuda;
            f.libcuda_cuda = g.libcuda_cuda;
            f.gpus = g.gpus;
            f.notes = g.notes;
            if let Some(t) = tools {
                f.toolchains = t.join().unwrap_or_default();
            }
            f.toolkit = f
                .toolchains
                .iter()
                .find(|t| t.name == "nvcc")
                .and_then(|t| t.version.clone())
                .map(|v| Sourced::new(v, "nvcc"));
            if let Some(n) = toolchains::host_compiler_note(&f.toolchains) {
                f.notes.push(n);
            }
            f
        }
    };
    apply_overrides(&mut facts, vars)?;
    Ok(facts)
}

/// The machine's name, OS, kernel, arch and CPU count (Linux files; absent ones stay `None`).
pub fn basic_host() -> HostFacts {
    let read = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let os = read("/etc/os-release").and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
    });
    HostFacts {
        hostname: read("/proc/sys/kernel/hostname").or_else(|| read("/etc/hostname")),
        os: os.or_else(|| Some(std::env::consts::OS.to_string())),
        kernel: read("/proc/sys/kernel/osrelease"),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        ..Default::default()
    }
}

/// Applies `COMPAT_OVERRIDE_*` values. A set-but-empty variable removes the fact.
pub fn apply_overrides(
    facts: &mut HostFacts,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(), HostProfileError> {
    let bad = |var: &str, why: String| HostProfileError::Override {
        var: var.to_string(),
        why,
    };
    if let Some(v) = vars("COMPAT_OVERRIDE_DRIVER_VERSION") {
        let src = "override:COMPAT_OVERRIDE_DRIVER_VERSION";
        facts.driver = if v.trim().is_empty() {
            None
        } else {
            Some(Sourced::new(
                v.parse()
                    .map_err(|e| bad("COMPAT_OVERRIDE_DRIVER_VERSION", e))?,
                src,
            ))
        };
        facts.notes.push(format!(
            "driver version overridden by COMPAT_OVERRIDE_DRIVER_VERSION={v:?}"
        ));
    }
    if let Some(v) = vars("COMPAT_OVERRIDE_CUDA_DRIVER") {
        let src = "override:COMPAT_OVERRIDE_CUDA_DRIVER";
        facts.driver_cuda = if v.trim().is_empty() {
            None
        } else {
            Some(Sourced::new(
                v.parse()
                    .map_err(|e| bad("COMPAT_OVERRIDE_CUDA_DRIVER", e))?,
                src,
            ))
        };
        facts.libcuda_cuda = None;
        facts.notes.push(format!(
            "driver CUDA version overridden by COMPAT_OVERRIDE_CUDA_DRIVER={v:?}"
        ));
    }
    if let Some(v) = vars("COMPAT_OVERRIDE_GPU_ARCH") {
        let mut gpus = Vec::new();
        for (i, part) in v
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let cc: ComputeCapability = part
                .parse()
                .map_err(|e| bad("COMPAT_OVERRIDE_GPU_ARCH", e))?;
            let known = facts.gpus.get(i).filter(|g| g.compute_capability == cc);
            gpus.push(Gpu {
                index: i as u32,
                name: known
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| format!("GPU with compute capability {cc}")),
                uuid: None,
                compute_capability: cc,
                memory_total_mib: known.and_then(|g| g.memory_total_mib),
                memory_free_mib: None,
                source: "override:COMPAT_OVERRIDE_GPU_ARCH".into(),
            });
        }
        facts.gpus = gpus;
        facts
            .notes
            .push(format!("GPUs overridden by COMPAT_OVERRIDE_GPU_ARCH={v:?}"));
    }
    if let Some(v) = vars("COMPAT_OVERRIDE_CUDA_TOOLKIT") {
        facts.toolkit = (!v.trim().is_empty()).then(|| {
            Sourced::new(
                v.trim().to_string(),
                "override:COMPAT_OVERRIDE_CUDA_TOOLKIT",
            )
        });
        facts.notes.push(format!(
            "CUDA toolkit overridden by COMPAT_OVERRIDE_CUDA_TOOLKIT={v:?}"
        ));
    }
    Ok(())
}

/// Reads the override variables from the process environment.
pub fn process_vars(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
