//! GPU facts from the NVIDIA driver, loaded at run time.
//!
//! Sources, in order: NVML (`libnvidia-ml.so.1`, through nvml-wrapper) for the driver, its CUDA
//! version and every GPU; then the CUDA driver API (`libcuda.so.1`, through cudarc) to
//! cross-check the driver's CUDA version; then, when NVML cannot be loaded, `nvidia-smi` if it
//! is on the PATH handed in. Each library is looked for, and checked for every symbol compat
//! calls in it ([`super::driver_libs`]), before its first call (cudarc panics on a missing
//! library or symbol, nvml-wrapper on a missing `nvmlShutdown`), so a machine with no NVIDIA
//! software at all, or a broken one, gets facts that say so, and no panic: "no driver" comes
//! back as data ([`super::NoDriver`]) with its sentence in the notes, and a library that lacks
//! a symbol is a note naming the library and the symbol. Behind the checks, each crate's calls
//! run under `catch_unwind`: a panic there is a note too.

use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

use super::driver_libs::{
    self, LIBCUDA_PROBE, LIBCUDA_SMOKE, NVML_NAME, NVML_OPTIONAL, NVML_REQUIRED,
};
use super::{Gpu, NoDriver, Source};
use crate::model::units::{ComputeCapability, CudaVersion, DriverVersion};
use crate::model::Sourced;
use crate::process::RunError;

/// What the driver said, or why it said nothing.
#[derive(Debug, Default, Clone)]
pub struct GpuProbe {
    pub driver: Option<Sourced<DriverVersion>>,
    pub driver_cuda: Option<Sourced<CudaVersion>>,
    pub libcuda_cuda: Option<Sourced<CudaVersion>>,
    pub gpus: Vec<Gpu>,
    /// Why a source gave nothing ("no NVIDIA driver: libnvidia-ml.so.1 not found").
    pub notes: Vec<String>,
    /// Why there is no driver, when NVML says there is none.
    pub no_driver: Option<NoDriver>,
}

/// Why NVML gave nothing.
enum NvmlDown {
    /// There is no driver.
    NoDriver(NoDriver),
    /// NVML failed in another way; the sentence says how.
    Failed(String),
}

impl std::fmt::Display for NvmlDown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NvmlDown::NoDriver(why) => why.fmt(f),
            NvmlDown::Failed(why) => f.write_str(why),
        }
    }
}

/// Probes the driver and GPUs of this machine; `path` (the value of PATH) is where
/// `nvidia-smi` is looked for.
pub fn probe(path: Option<&OsStr>) -> GpuProbe {
    // What NVML gave before a panic is lost with it: the probe starts again from nothing.
    let (mut p, nvml_result) = driver_libs::catch("NVML (nvml-wrapper)", || {
        let mut q = GpuProbe::default();
        let r = nvml(&mut q);
        (q, r)
    })
    .unwrap_or_else(|panic| (GpuProbe::default(), Err(NvmlDown::Failed(panic))));
    match nvml_result {
        Ok(()) => {}
        Err(why) => {
            p.notes.push(why.to_string());
            if let NvmlDown::NoDriver(n) = why {
                p.no_driver = Some(n);
            }
            nvidia_smi(&mut p, path);
        }
    }
    let mut notes = Vec::new();
    match driver_libs::catch("the CUDA driver API (cudarc)", || {
        let mut q = GpuProbe::default();
        libcuda(&mut q, p.driver_cuda.as_ref().map(|d| d.value));
        q
    }) {
        Ok(q) => {
            p.libcuda_cuda = q.libcuda_cuda;
            notes = q.notes;
        }
        Err(panic) => notes.push(panic),
    }
    p.notes.extend(notes);
    p
}

fn nvml(p: &mut GpuProbe) -> Result<(), NvmlDown> {
    use nvml_wrapper::error::NvmlError;
    let all: Vec<&'static str> = NVML_REQUIRED.iter().chain(NVML_OPTIONAL).copied().collect();
    let Some(lib) = driver_libs::check_first(&[NVML_NAME], &all) else {
        return Err(NvmlDown::NoDriver(NoDriver::NoLibrary));
    };
    if let Some(lacks) = lib.lacks_of(NVML_REQUIRED) {
        return Err(NvmlDown::Failed(format!("{lacks}: NVML is not used")));
    }
    if let Some(lacks) = lib.lacks_of(NVML_OPTIONAL) {
        p.notes
            .push(format!("{lacks}: the facts they give are unknown"));
    }
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(NvmlError::LibloadingError(_)) => return Err(NvmlDown::NoDriver(NoDriver::NoLibrary)),
        Err(NvmlError::DriverNotLoaded) => return Err(NvmlDown::NoDriver(NoDriver::NotLoaded)),
        Err(e) => return Err(NvmlDown::Failed(format!("NVML could not start: {e}"))),
    };
    match nvml.sys_driver_version() {
        Ok(v) => match v.parse::<DriverVersion>() {
            Ok(d) => p.driver = Some(Sourced::new(d, Source::Nvml)),
            Err(e) => p.notes.push(format!("NVML driver version: {e}")),
        },
        Err(e) => p.notes.push(format!("NVML driver version: {e}")),
    }
    match nvml.sys_cuda_driver_version() {
        Ok(v) => match CudaVersion::from_int(v) {
            Some(c) => p.driver_cuda = Some(Sourced::new(c, Source::Nvml)),
            None => p
                .notes
                .push(format!("NVML CUDA driver version out of range: {v}")),
        },
        Err(e) => p.notes.push(format!("NVML CUDA driver version: {e}")),
    }
    let count = nvml
        .device_count()
        .map_err(|e| NvmlDown::Failed(format!("NVML device count: {e}")))?;
    for index in 0..count {
        let dev = match nvml.device_by_index(index) {
            Ok(d) => d,
            Err(e) => {
                p.notes.push(format!("GPU {index}: {e}"));
                continue;
            }
        };
        let cc = match dev.cuda_compute_capability() {
            Ok(c) if c.major >= 0 && c.minor >= 0 => {
                ComputeCapability::new(c.major as u32, c.minor as u32)
            }
            Ok(c) => {
                p.notes.push(format!(
                    "GPU {index}: compute capability {}.{} out of range",
                    c.major, c.minor
                ));
                continue;
            }
            Err(e) => {
                p.notes
                    .push(format!("GPU {index}: compute capability: {e}"));
                continue;
            }
        };
        let mem = dev.memory_info().ok();
        p.gpus.push(Gpu {
            index,
            name: dev.name().unwrap_or_else(|e| format!("unknown ({e})")),
            uuid: dev.uuid().ok(),
            compute_capability: cc,
            memory_total_mib: mem.as_ref().map(|m| m.total / (1024 * 1024)),
            memory_free_mib: mem.as_ref().map(|m| m.free / (1024 * 1024)),
            source: Source::Nvml.into(),
        });
    }
    Ok(())
}

/// The CUDA driver API's own version, a cross-check of NVML's (`nvml_cuda`). A libcuda that
/// lacks what the GPU smoke test needs is a note too, though the probe itself needs only two
/// symbols.
fn libcuda(p: &mut GpuProbe, nvml_cuda: Option<CudaVersion>) {
    let Some(lib) = driver_libs::check_first(&driver_libs::libcuda_names(), LIBCUDA_SMOKE) else {
        p.notes
            .push("no CUDA driver library: libcuda.so.1 not found".into());
        return;
    };
    if let Some(lacks) = lib.lacks_of(LIBCUDA_PROBE) {
        p.notes
            .push(format!("{lacks}: the CUDA driver API is not used"));
        return;
    }
    if let Some(lacks) = lib.lacks() {
        p.notes.push(format!(
            "{lacks}: `compat smoke --device cuda` cannot use this driver"
        ));
    }
    if let Err(e) = cudarc::driver::result::init() {
        // `e.0`, not `e`: cudarc's `Debug` of the error calls cuGetErrorString, which the
        // probe does not require.
        p.notes.push(format!("libcuda: cuInit failed: {:?}", e.0));
        return;
    }
    let mut v: std::ffi::c_int = 0;
    // SAFETY: libcuda exports cuDriverGetVersion (checked above) and is initialised;
    // cuDriverGetVersion writes one int through the pointer, which points at a live local.
    let r = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    if r != cudarc::driver::sys::CUresult::CUDA_SUCCESS {
        p.notes
            .push(format!("libcuda: cuDriverGetVersion failed: {r:?}"));
        return;
    }
    match CudaVersion::from_int(v) {
        Some(c) => {
            if let Some(n) = nvml_cuda {
                if n != c {
                    p.notes.push(format!(
                        "NVML says the driver supports CUDA {n}, libcuda says {c}"
                    ));
                }
            }
            p.libcuda_cuda = Some(Sourced::new(c, Source::Libcuda));
        }
        None => p
            .notes
            .push(format!("libcuda: driver version out of range: {v}")),
    }
}

/// The fallback when NVML cannot be loaded but `nvidia-smi` is there.
fn nvidia_smi(p: &mut GpuProbe, paths: Option<&OsStr>) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| std::path::PathBuf::from("/"));
    let Ok(path) = which::which_in("nvidia-smi", paths, cwd) else {
        return;
    };
    let out = run_with_timeout(
        Command::new(&path).args([
            "--query-gpu=index,name,uuid,compute_cap,memory.total,memory.free,driver_version",
            "--format=csv,noheader,nounits",
        ]),
        Duration::from_secs(10),
    );
    match out {
        Ok(text) => {
            let (gpus, driver) = parse_nvidia_smi_csv(&text);
            if let Some(d) = driver {
                p.driver = Some(Sourced::new(d, Source::NvidiaSmi));
            }
            p.gpus = gpus;
        }
        Err(e) => p.notes.push(format!("nvidia-smi: {e}")),
    }
}

/// Parses `nvidia-smi --query-gpu=index,name,uuid,compute_cap,memory.total,memory.free,driver_version
/// --format=csv,noheader,nounits`:
///
/// ```text
/// 0, NVIDIA H100 80GB HBM3, GPU-5a0b2c1e-1234-5678-9abc-def012345678, 9.0, 81559, 80988, 550.54.15
/// ```
pub fn parse_nvidia_smi_csv(text: &str) -> (Vec<Gpu>, Option<DriverVersion>) {
    let mut gpus = Vec::new();
    let mut driver = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() < 7 {
            continue;
        }
        let Ok(cc) = f[3].parse::<ComputeCapability>() else {
            continue;
        };
        gpus.push(Gpu {
            index: f[0].parse().unwrap_or(gpus.len() as u32),
            name: f[1].to_string(),
            uuid: Some(f[2].to_string()).filter(|u| !u.is_empty()),
            compute_capability: cc,
            memory_total_mib: f[4].parse().ok(),
            memory_free_mib: f[5].parse().ok(),
            source: Source::NvidiaSmi.into(),
        });
        driver = driver.or_else(|| f[6].parse().ok());
    }
    (gpus, driver)
}

/// Runs a command with a deadline; returns stdout, or why not.
fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Result<String, RunError> {
    Ok(crate::process::run_ok(cmd, timeout, 1 << 20)?.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_csv() {
        let (gpus, driver) = parse_nvidia_smi_csv(
            "0, NVIDIA H100 80GB HBM3, GPU-5a0b2c1e-1234-5678-9abc-def012345678, 9.0, 81559, 80988, 550.54.15\n1, Tesla T4, GPU-1, 7.5, 15360, 15100, 550.54.15\n[N/A]\n",
        );
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].compute_capability, ComputeCapability::new(9, 0));
        assert_eq!(gpus[1].memory_total_mib, Some(15360));
        assert_eq!(driver, Some("550.54.15".parse().expect("v")));
    }

    #[test]
    fn probe_on_this_machine_never_panics() {
        // On a machine without NVIDIA software this says so; with it, it finds a driver.
        let p = probe(std::env::var_os("PATH").as_deref());
        assert!(p.driver.is_some() || !p.notes.is_empty());
        if p.driver.is_none() {
            eprintln!("no NVIDIA driver here: {:?}", p.notes);
        }
    }
}
