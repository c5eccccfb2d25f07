//! Host facts: the NVIDIA driver, GPUs, CUDA and toolchains, each with the source that gave it.
//!
//! Where a fact comes from, in order of precedence:
//! 1. an override variable (`COMPAT_OVERRIDE_*`, see [`overrides`]); an empty value means the
//!    fact is absent, as with conda's `CONDA_OVERRIDE_CUDA`;
//! 2. a host profile (`--host PATH`, TOML), used *instead of* probing, so CI without a GPU can
//!    reason about the GPU host it builds for;
//! 3. the probe: NVML, then libcuda, then `nvidia-smi` ([`gpu`]), and the toolchains on PATH
//!    ([`toolchains`]).
//!
//! No driver is a fact, not an error: the facts then say why there is none.
//!
//! The process environment comes in as one [`Vars`] (PATH for the toolchains, the override
//! variables), never from `std::env` here, so tests hand in a fake one. Each fact says where it
//! came from ([`Source`]).
//!
//! What lives here: [`HostFacts`] and [`collect`]; [`gpu`] (the driver libraries and
//! `nvidia-smi`), [`toolchains`] (PATH), [`host`] (profiles), [`overrides`] (the variables),
//! [`source`] (the source strings). What does not: any judgement of the facts (`verify`,
//! `install_order`, `risk`) and their presentation (`report::probe`).

pub mod driver_libs;
pub mod gpu;
pub mod host;
pub mod overrides;
pub mod source;
pub mod toolchains;

use serde::{Deserialize, Serialize};

use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::{Sourced, Vars};
pub use host::{load_profile, to_profile_toml, HostProfileError};
pub use overrides::{apply_overrides, Overridable, Override, OVERRIDES};
pub use source::Source;
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
    /// Why the probe or the profile found no NVIDIA driver, as data (its sentence is among
    /// [`HostFacts::notes`] too, which is what reports show). An override may have supplied
    /// driver facts since: this says what the host itself has.
    #[serde(skip)]
    pub no_driver: Option<NoDriver>,
}

/// Why a host has no NVIDIA driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDriver {
    /// `libnvidia-ml.so.1` cannot be loaded: no NVIDIA software at all.
    NoLibrary,
    /// NVML is installed but the kernel driver is not loaded.
    NotLoaded,
    /// The host profile names neither a driver nor a GPU.
    Profile,
}

impl std::fmt::Display for NoDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NoDriver::NoLibrary => "no NVIDIA driver: libnvidia-ml.so.1 not found",
            NoDriver::NotLoaded => {
                "no NVIDIA driver: NVML is installed but the kernel driver is not loaded"
            }
            NoDriver::Profile => "no NVIDIA driver (per the host profile)",
        })
    }
}

/// Identical GPUs (same name, same compute capability), counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuGroup<'a> {
    pub name: &'a str,
    pub compute_capability: ComputeCapability,
    pub count: usize,
}

/// Equal items counted, in the order each first appears: `[a, b, a]` → `[(a, 2), (b, 1)]`.
/// The one grouping of GPUs, for [`HostFacts::gpu_groups`] and for merging reports.
pub fn count_alike<T: PartialEq>(items: impl IntoIterator<Item = T>) -> Vec<(T, usize)> {
    let mut counted: Vec<(T, usize)> = Vec::new();
    for item in items {
        match counted.iter_mut().find(|(seen, _)| *seen == item) {
            Some((_, k)) => *k += 1,
            None => counted.push((item, 1)),
        }
    }
    counted
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

    /// The GPUs, identical ones counted, in the order they first appear.
    pub fn gpu_groups(&self) -> Vec<GpuGroup<'_>> {
        count_alike(
            self.gpus
                .iter()
                .map(|g| (g.name.as_str(), g.compute_capability)),
        )
        .into_iter()
        .map(|((name, compute_capability), count)| GpuGroup {
            name,
            compute_capability,
            count,
        })
        .collect()
    }

    /// One line for report headers.
    pub fn gpu_summary(&self) -> String {
        if self.gpus.is_empty() {
            return match (&self.driver, self.no_driver) {
                (None, Some(why)) => why.to_string(),
                (None, None) => "no NVIDIA driver, no GPU".into(),
                (Some(d), _) => format!("driver {} but no GPU", d.value),
            };
        }
        let gpus: Vec<String> = self
            .gpu_groups()
            .iter()
            .map(|g| format!("{}× {} ({})", g.count, g.name, g.compute_capability.sm()))
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

/// Options for [`collect`].
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// A host profile to use instead of probing.
    pub host: Option<std::path::PathBuf>,
    /// Whether to look for the toolchains on PATH ([`toolchains`]) at all. Only `compat probe`
    /// does: no rule of `check`, `risk`, `install-order` or `smoke` reads them, so those leave
    /// [`HostFacts::toolchains`] empty and [`HostFacts::toolkit`] unset (the GPUs and the driver
    /// are probed either way).
    pub toolchains: bool,
}

/// Collects the host facts: profile or probe (the driver and GPUs; the toolchains on `vars`'
/// PATH when [`ProbeOptions::toolchains`] asks), then the overrides set in `vars`.
pub fn collect(opts: &ProbeOptions, vars: &Vars) -> Result<HostFacts, HostProfileError> {
    let mut facts = match &opts.host {
        Some(path) => load_profile(path)?,
        None => {
            let path = vars.get_os("PATH").map(std::ffi::OsStr::to_os_string);
            let pyenv = toolchains::PyenvVars {
                version: vars.nonempty("PYENV_VERSION"),
                root: vars.nonempty_os("PYENV_ROOT").map(std::path::PathBuf::from),
                cwd: std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("/")),
            };
            let tools = opts.toolchains.then(|| {
                std::thread::spawn(move || {
                    let timeout = std::time::Duration::from_secs(5);
                    toolchains::probe_in(path.as_deref(), &pyenv, timeout, true)
                })
            });
            let g = gpu::probe(vars.get_os("PATH"));
            let mut f = basic_host();
            f.driver = g.driver;
            f.driver_cuda = g.driver_cuda;
            f.libcuda_cuda = g.libcuda_cuda;
            f.gpus = g.gpus;
            f.notes = g.notes;
            f.no_driver = g.no_driver;
            if let Some(t) = tools {
                f.toolchains = t.join().unwrap_or_default();
            }
            f.toolkit = f
                .toolchains
                .iter()
                .find(|t| t.name == "nvcc")
                .and_then(|t| t.version.clone())
                .map(|v| Sourced::new(v, Source::Nvcc));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alike_items_are_counted_in_first_seen_order() {
        assert_eq!(
            count_alike(["b", "a", "b", "c", "a", "b"]),
            [("b", 3), ("a", 2), ("c", 1)]
        );
        assert!(count_alike(Vec::<u8>::new()).is_empty());
    }

    #[test]
    fn summary_groups_gpus_and_says_why_there_is_no_driver() {
        let mixed = host::parse_profile(
            "schema = 1\n[driver]\nversion = \"550.54.15\"\ncuda = \"12.4\"\n\
             [[gpus]]\nname = \"H100\"\ncompute_capability = \"9.0\"\ncount = 2\n\
             [[gpus]]\nname = \"T4\"\ncompute_capability = \"7.5\"\n\
             [[gpus]]\nname = \"H100\"\ncompute_capability = \"9.0\"\n",
            "p",
        )
        .expect("profile");
        assert_eq!(
            mixed.gpu_summary(),
            "3× H100 (sm_90) + 1× T4 (sm_75), driver 550.54.15 (CUDA 12.4)"
        );
        assert_eq!(mixed.no_driver, None);

        let none = host::parse_profile("schema = 1\n", "cpu.toml").expect("profile");
        assert_eq!(none.no_driver, Some(NoDriver::Profile));
        assert_eq!(
            none.gpu_summary(),
            "no NVIDIA driver (per the host profile)"
        );
        assert!(none.notes.contains(&NoDriver::Profile.to_string()));
        assert_eq!(
            HostFacts::default().gpu_summary(),
            "no NVIDIA driver, no GPU"
        );
    }
}
